from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import StringConstraints

from nexus.models.common import ApiModel, Email, Name, OutModel, Text

OrderStatus = Literal["pending", "paid", "failed"]


class CheckoutIn(ApiModel):
    product_id: Annotated[Text, StringConstraints(max_length=64)]
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
    event_id: Annotated[Text, StringConstraints(min_length=1, max_length=255)]
    type: Literal["payment.succeeded", "payment.failed"]
    order_id: Annotated[Text, StringConstraints(max_length=64)]


class WebhookResult(OutModel):
    event_id: str
    order_id: str
    status: OrderStatus
    duplicate: bool
