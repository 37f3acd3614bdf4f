from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, PrivateAttr, StringConstraints
from pydantic_core import PydanticCustomError

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


# -- product files --------------------------------------------------------------------------
# At most 2 GiB (one presigned PUT; S3 takes up to 5 GB in one request).
MAX_FILE_SIZE = 2 * 1024**3
FileSize = Annotated[int, Field(ge=1, le=MAX_FILE_SIZE)]
# A file name, not a path: no separators, no control characters (C0, DEL, C1), NUL included.
_NOT_IN_FILE_NAME = r"/\\\x00-\x1f\x7f-\x9f"
_FILE_NAME_RE = re.compile(f"[{_NOT_IN_FILE_NAME}]")


def _file_name(value: str) -> str:
    if _FILE_NAME_RE.search(plain_text(value)):
        raise PydanticCustomError(
            "file_name", "must be a file name: no path separators or control characters"
        )
    return value


FileName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255),
    AfterValidator(_file_name),
    text_schema(minLength=1, maxLength=255, pattern=f"^[^{_NOT_IN_FILE_NAME}]*$"),
]
# A media type as RFC 6838 names them (type/subtype, restricted-name characters), without
# parameters: S3 stores it and serves the download with it.
_MEDIA_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
ContentType = Annotated[
    str, StringConstraints(max_length=255, pattern=f"^{_MEDIA_NAME}/{_MEDIA_NAME}$")
]


class FileUploadIn(ApiModel):
    filename: FileName
    content_type: ContentType
    size: FileSize


class FileUploadOut(OutModel):
    """Where and how to send the file: a PUT of the body to ``upload_url`` with exactly
    ``headers`` (both are signed), within ``expires_in`` seconds."""

    upload_url: str
    method: Literal["PUT"]
    headers: dict[str, str]
    expires_in: int


class ProductFile(OutModel):
    filename: str
    size: int


@dataclass(frozen=True)
class PendingUpload:
    """An upload handed out (PUT /products/{id}/file) but not yet seen in the bucket."""

    key: str
    size: int
    started_at: datetime


class ProductOut(OutModel):
    id: str
    name: str
    description: str | None
    price: int
    currency: str
    created_at: datetime
    updated_at: datetime
    # The file buyers get, once its upload is in the bucket; null before.
    file: ProductFile | None = None
    # Never part of the answer: what the service checks the bucket for.
    _upload: PendingUpload | None = PrivateAttr(default=None)

    def pending_upload(self) -> PendingUpload | None:
        return self._upload


@dataclass(frozen=True)
class ProductRecord:
    """A product row as the repository reads it: the answer plus the pending upload."""

    id: str
    name: str
    description: str | None
    price: int
    currency: str
    created_at: datetime
    updated_at: datetime
    file_name: str | None
    file_size: int | None
    upload_key: str | None
    upload_size: int | None
    upload_started_at: datetime | None

    def out(self) -> ProductOut:
        stored = (
            ProductFile(filename=self.file_name, size=self.file_size)
            if self.file_name is not None and self.file_size is not None
            else None
        )
        product = ProductOut(
            id=self.id,
            name=self.name,
            description=self.description,
            price=self.price,
            currency=self.currency,
            created_at=self.created_at,
            updated_at=self.updated_at,
            file=stored,
        )
        if self.upload_key and self.upload_size is not None and self.upload_started_at:
            product._upload = PendingUpload(
                key=self.upload_key, size=self.upload_size, started_at=self.upload_started_at
            )
        return product


class ProductPage(OutModel):
    items: list[ProductOut]
    next_cursor: str | None


class StoreProductOut(OutModel):
    id: str
    name: str
    description: str | None
    price: int
    currency: str
