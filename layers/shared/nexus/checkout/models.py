from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from pydantic_core import PydanticCustomError

from nexus.identity import UUID, parse_id
from nexus.models.common import NO_NUL, ApiModel, Email, Name, OutModel, plain_text, text_schema
from nexus.models.dates import DateRange
from nexus.pagination import PageQuery
from nexus.payments.state import OrderStatus


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
    # Where the buyer pays (the Stripe Checkout page), while the order is pending.
    checkout_url: str | None
    expires_at: datetime


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
    # A paid order whose product has a file: a presigned link, valid for minutes.
    download_url: str | None = None


class StripeEventData(BaseModel):
    model_config = ConfigDict(defer_build=True)  # only the webhook uses these two

    object: dict[str, Any]


class StripeEvent(BaseModel):
    """The part of a Stripe event the product reads; Stripe adds fields freely."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    id: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    type: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    data: StripeEventData


class WebhookResult(OutModel):
    """How an event was taken: applied, a duplicate of one already applied, unchanged (the
    order had moved on, or the event asks for nothing), or ignored (an event type, or an
    order, that is not the product's)."""

    received: Literal[True] = True
    event_id: str
    type: str
    outcome: Literal["applied", "duplicate", "unchanged", "ignored"]
    order_id: str | None
    status: OrderStatus | None


class SummaryQuery(DateRange):
    """``GET /orders/summary?from&to``: payments dated when paid, refunds when refunded
    (UTC days, inclusive)."""


class SummaryItem(OutModel):
    currency: str
    paid_orders: int
    gross: int
    refunded: int
    fees: int
    net: int


class OrderSummary(OutModel):
    items: list[SummaryItem]


def _product_id(value: str) -> str:
    parsed = parse_id(value)
    if parsed is None:
        raise PydanticCustomError("product_id", "is not a product id")
    return parsed


def _product_id_required(schema: dict[str, Any]) -> None:
    # DateRange drops "required" (from and to have defaults); product_id has none.
    schema["required"] = ["product_id"]


class FunnelQuery(DateRange):
    """``GET /analytics/funnel?product_id&from&to``: one of the seller's products, UTC days
    (inclusive; the defaults and bounds of every date-ranged read)."""

    model_config = ConfigDict(json_schema_extra=_product_id_required)

    product_id: Annotated[
        str,
        StringConstraints(max_length=64),
        text_schema(format="uuid", pattern=UUID),
        AfterValidator(_product_id),
    ]


class FunnelDay(OutModel):
    date: dt.date
    views: int  # store page views, each visitor (IP + User-Agent) once that day
    checkouts: int  # orders created
    paid: int  # orders paid (dated when paid, refunded later or not)


class Conversion(OutModel):
    """Checkouts and paid orders of the range over its views; 0.0 when it had no views. Not
    capped at 1: a checkout needs no counted view (a buyer's second order, an API client)."""

    checkout_rate: float
    paid_rate: float


class Funnel(OutModel):
    items: list[FunnelDay]
    conversion: Conversion


# -- rows ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredOrder:
    """An order with the request hash its Idempotency-Key was first used with, and what its
    Checkout Session needs that the order does not show."""

    created: bool
    order: Order
    request_hash: str | None
    product_name: str


@dataclass(frozen=True, slots=True)
class BuyerOrderRow:
    id: str
    status: OrderStatus
    amount: int
    currency: str
    product_id: str
    product_name: str
    file_key: str | None
    file_name: str | None
    # An upload handed out and perhaps finished, that no product read has seen yet.
    upload_key: str | None = None
    upload_name: str | None = None
    upload_size: int | None = None
