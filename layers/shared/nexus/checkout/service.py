"""Checkout, the buyer's order page, the payment webhook and the seller's order views."""

from __future__ import annotations

import hashlib
import json

from pydantic import ValidationError

from nexus import db, pagination
from nexus.checkout import repository as repo
from nexus.checkout import signature
from nexus.checkout.models import (
    BuyerOrder,
    CheckoutIn,
    Order,
    OrderPage,
    PaymentEvent,
    ProductRef,
    WebhookResult,
)
from nexus.errors import BadRequest, Conflict, NotFound, ValidationFailed
from nexus.identity import Identity
from nexus.observability import logger
from nexus.secrets import resolve_secret
from nexus.settings import get_settings

_NO_ORDER = "No such order."


def _request_hash(body: CheckoutIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def checkout(body: CheckoutIn, idempotency_key: str | None) -> tuple[Order, bool]:
    """The order and whether this call created it."""
    product_id = pagination.require_id(body.product_id, "No such product.")
    digest = _request_hash(body) if idempotency_key is not None else None
    outcome = db.single(
        lambda conn: repo.checkout(
            conn,
            product_id=product_id,
            email=body.email,
            name=body.name,
            idempotency_key=idempotency_key,
            request_hash=digest,
        )
    )
    if outcome.order is None and idempotency_key is not None:
        # Lost a race with a concurrent request holding the same key: its order is committed
        # now, but was not yet visible to the statement above.
        outcome = db.single(lambda conn: repo.by_idempotency_key(conn, idempotency_key))
    if outcome.order is None:
        raise NotFound("No such product.")
    if not outcome.created and outcome.request_hash != digest:
        raise Conflict("This Idempotency-Key was used with a different request body.")
    if outcome.created:
        logger.info("order created", extra={"order_id": outcome.order["id"]})
    return Order(**outcome.order), outcome.created


def buyer_order(raw_id: str) -> BuyerOrder:
    order_id = pagination.require_id(raw_id, _NO_ORDER)
    row = db.single(lambda conn: repo.buyer_view(conn, order_id))
    if row is None:
        raise NotFound(_NO_ORDER)
    return BuyerOrder(
        id=row["id"],
        status=row["status"],
        amount=row["amount"],
        currency=row["currency"],
        product=ProductRef(id=row["product_id"], name=row["product_name"]),
    )


def _webhook_secret() -> str:
    settings = get_settings()
    return resolve_secret(
        settings.payment_webhook_secret,
        settings.payment_webhook_secret_arn,
        name="payment webhook secret",
    )


def payment_webhook(raw_body: bytes, signature_header: str | None) -> WebhookResult:
    # The signature is checked on the raw bytes before anything is parsed.
    signature.verify(signature_header, raw_body, _webhook_secret())
    try:
        event = PaymentEvent.model_validate_json(raw_body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise BadRequest("The request body is not valid JSON.") from exc
        errors = [
            {"loc": ["body", *[str(p) for p in e["loc"]]], "msg": e["msg"]} for e in exc.errors()
        ]
        raise ValidationFailed("The event is not valid.", errors=errors) from exc
    order_id = pagination.require_id(event.order_id, _NO_ORDER)
    new_status = "paid" if event.type == "payment.succeeded" else "failed"

    def apply(conn: db.Conn) -> repo.PaymentOutcome:
        outcome = repo.apply_payment_event(
            conn, event_id=event.event_id, order_id=order_id, new_status=new_status
        )
        if outcome.found and not outcome.duplicate and outcome.status is None:
            # Raised inside the transaction: the refused event is rolled back, not recorded.
            raise Conflict(f"An order that is {outcome.previous} cannot become {new_status}.")
        return outcome

    outcome = db.run(apply)
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


def seller_orders(who: Identity, status: str | None, limit: int, cursor: str | None) -> OrderPage:
    after = pagination.decode(cursor)
    rows = db.single(
        lambda conn: repo.seller_page(
            conn, organization_id=who.organization_id, status=status, limit=limit, after=after
        )
    )
    items, next_cursor = pagination.split([Order(**r) for r in rows], limit)
    return OrderPage(items=items, next_cursor=next_cursor)


def seller_order(who: Identity, raw_id: str) -> Order:
    order_id = pagination.require_id(raw_id, _NO_ORDER)
    row = db.single(
        lambda conn: repo.seller_get(conn, organization_id=who.organization_id, order_id=order_id)
    )
    if row is None:
        raise NotFound(_NO_ORDER)
    return Order(**row)
