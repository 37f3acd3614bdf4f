"""Checkout, the buyer's order page, the payment webhook and the seller's order views."""

from __future__ import annotations

import hashlib
import json

from nexus import pagination
from nexus.checkout import signature
from nexus.checkout.models import (
    BuyerOrder,
    CheckoutIn,
    Order,
    OrderPage,
    OrderStatus,
    PaymentEvent,
    ProductRef,
    WebhookResult,
)
from nexus.checkout.repository import CheckoutRepository, IllegalTransition
from nexus.errors import Conflict, NotFound, found
from nexus.identity import Identity
from nexus.models.common import parse
from nexus.observability import logger
from nexus.pagination import Cursor
from nexus.secrets import resolve_secret
from nexus.settings import get_settings

_NO_ORDER = "No such order."
_NO_PRODUCT = "No such product."
REPOSITORY = CheckoutRepository()


def _request_hash(body: CheckoutIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def checkout(
    body: CheckoutIn, idempotency_key: str | None, *, repo: CheckoutRepository = REPOSITORY
) -> tuple[Order, bool]:
    """The order and whether this call created it."""
    product_id = pagination.require_id(body.product_id, _NO_PRODUCT)
    digest = _request_hash(body) if idempotency_key is not None else None
    stored = repo.checkout(
        product_id=product_id,
        email=body.email,
        name=body.name,
        idempotency_key=idempotency_key,
        request_hash=digest,
    )
    if stored is None and idempotency_key is not None:
        # Lost a race with a concurrent request holding the same key: its order is committed
        # now, but was not yet visible to the statement above.
        stored = repo.by_idempotency_key(idempotency_key)
    stored = found(stored, _NO_PRODUCT)
    if not stored.created and stored.request_hash != digest:
        raise Conflict("This Idempotency-Key was used with a different request body.")
    if stored.created:
        logger.info("order created", extra={"order_id": stored.order.id})
    return stored.order, stored.created


def buyer_order(raw_id: str, *, repo: CheckoutRepository = REPOSITORY) -> BuyerOrder:
    order_id = pagination.require_id(raw_id, _NO_ORDER)
    row = found(repo.buyer_view(order_id), _NO_ORDER)
    return BuyerOrder(
        id=row.id,
        status=row.status,
        amount=row.amount,
        currency=row.currency,
        product=ProductRef(id=row.product_id, name=row.product_name),
    )


def _webhook_secret() -> str:
    settings = get_settings()
    return resolve_secret(
        settings.payment_webhook_secret,
        settings.payment_webhook_secret_arn,
        name="payment webhook secret",
    )


def payment_webhook(
    raw_body: bytes, signature_header: str | None, *, repo: CheckoutRepository = REPOSITORY
) -> WebhookResult:
    # The signature is checked on the raw bytes before anything is parsed.
    signature.verify(signature_header, raw_body, _webhook_secret())
    event = parse(PaymentEvent, raw_body, loc=("body",), detail="The event is not valid.")
    order_id = pagination.require_id(event.order_id, _NO_ORDER)
    new_status: OrderStatus = "paid" if event.type == "payment.succeeded" else "failed"
    try:
        outcome = repo.apply_payment_event(
            event_id=event.event_id, event_type=event.type, order_id=order_id, new_status=new_status
        )
    except IllegalTransition as exc:
        raise Conflict(f"An order that is {exc.previous} cannot become {new_status}.") from exc
    if not outcome.found:
        raise NotFound(_NO_ORDER)
    logger.info(
        "payment event applied",
        extra={"order_id": order_id, "duplicate": outcome.duplicate, "status": outcome.status},
    )
    return WebhookResult(
        event_id=event.event_id,
        order_id=order_id,
        status=outcome.status or "pending",
        duplicate=outcome.duplicate,
    )


def seller_orders(
    who: Identity,
    status: OrderStatus | None,
    limit: int,
    after: Cursor | None,
    *,
    repo: CheckoutRepository = REPOSITORY,
) -> OrderPage:
    rows = repo.seller_page(
        organization_id=who.organization_id, status=status, limit=limit, after=after
    )
    return pagination.page(OrderPage, rows, limit)


def seller_order(who: Identity, raw_id: str, *, repo: CheckoutRepository = REPOSITORY) -> Order:
    order_id = pagination.require_id(raw_id, _NO_ORDER)
    return found(repo.seller_get(organization_id=who.organization_id, order_id=order_id), _NO_ORDER)
