from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from nexus.models.common import (
    NO_NUL,
    NOT_NULL,
    ApiModel,
    Currency,
    OutModel,
    RequiredName,
    plain_text,
    text_schema,
)

Description = Annotated[
    str,
    StringConstraints(max_length=5000),
    AfterValidator(plain_text),
    text_schema(maxLength=5000, pattern=NO_NUL),
]
# Integer cents; strict mode refuses 10.0, "10" and true rather than coercing or rounding.
Price = Annotated[int, Field(ge=1, le=100_000_000)]


class ProductIn(ApiModel):
    name: RequiredName
    description: Description | None = None
    price: Price
    currency: Currency = "USD"


class ProductPatch(ApiModel):
    """Any subset of the create fields; only description may be set to null."""

    name: Annotated[RequiredName | None, NOT_NULL] = None
    description: Description | None = None
    price: Annotated[Price | None, NOT_NULL] = None
    currency: Annotated[Currency | None, NOT_NULL] = None

    def changes(self) -> dict[str, object]:
        """The fields the request set, by name (description may be None: cleared)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class ProductOut(OutModel):
    id: str
    name: str
    description: str | None
    price: int
    currency: str
    created_at: datetime
    updated_at: datetime


class ProductPage(OutModel):
    items: list[ProductOut]
    next_cursor: str | None


class StoreProductOut(OutModel):
    id: str
    name: str
    description: str | None
    price: int
    currency: str
