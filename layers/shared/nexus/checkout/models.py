from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, StringConstraints

from nexus.models.common import NO_NUL, ApiModel, Email, Name, OutModel, plain_text, text_schema
from nexus.pagination import PageQuery

OrderStatus = Literal["pending", "paid", "failed"]


class CheckoutIn(ApiModel):
    product_id: Annotated[
        str,
        StringConstraints(max_length=64),
        AfterValidator(plain_text),
        text_schema(maxLength=64, pattern=NO_NUL),
    ]
    email: Email
    name: Name | None = None


class Order(OutModel):
    id: str
    product_id: str
    email: str
    name: str | None
    status: OrderStatus
    amount: int
    currency: str
    created_at: datetime


class OrderQuery(PageQuery):
    """``GET /orders``: a page, optionally of one status."""

    status: OrderStatus | None = None


class OrderPage(OutModel):
    items: list[Order]
    next_cursor: str | None


class ProductRef(OutModel):
    id: str
    name: str


class BuyerOrder(OutModel):
    """What the buyer's status page shows."""

    id: str
    status: OrderStatus
    amount: int
    currency: str
    product: ProductRef


class PaymentEvent(ApiModel):
    event_id: Annotated[
        str, StringConstraints(min_length=1, max_length=255), AfterValidator(plain_text)
    ]
    type: Literal["payment.succeeded", "payment.failed"]
    order_id: Annotated[str, StringConstraints(max_length=64), AfterValidator(plain_text)]


class WebhookResult(OutModel):
    event_id: str
    order_id: str
    status: OrderStatus
    duplicate: bool


# -- rows ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredOrder:
    """An order with the request hash its Idempotency-Key was first used with."""

    created: bool
    order: Order
    request_hash: str | None


@dataclass(frozen=True, slots=True)
class BuyerOrderRow:
    id: str
    status: OrderStatus
    amount: int
    currency: str
    product_id: str
    product_name: str


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    found: bool
    duplicate: bool
    status: OrderStatus | None
    previous: OrderStatus | None
