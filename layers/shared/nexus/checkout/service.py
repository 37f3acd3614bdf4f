"""Checkout through Stripe Checkout, the buyer's order page (with the download), Stripe's
webhook, refunds, the expiry sweep, and the seller's order views and ledger (contract §8).

Stripe is called outside any database transaction: the order is committed first (pending,
its session's expiry fixed), then its Checkout Session is created under an Idempotency-Key
derived from the order, then recorded. A failure in between leaves a pending order that a
retry (same Idempotency-Key, so the same order and the same Stripe key) completes, or that
the sweep expires.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from nexus import files, pagination
from nexus.checkout.models import (
    BuyerOrder,
    BuyerOrderRow,
    CheckoutIn,
    Conversion,
    Funnel,
    FunnelQuery,
    Order,
    OrderPage,
    OrderSummary,
    ProductRef,
    StoredOrder,
    StripeEvent,
    SummaryQuery,
    WebhookResult,
)
from nexus.checkout.repository import CheckoutRepository
from nexus.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed, found
from nexus.identity import Identity
from nexus.models.common import parse
from nexus.observability import logger
from nexus.pagination import Cursor
from nexus.payments import signature, state
from nexus.payments.repository import PaymentsRepository
from nexus.payments.state import OrderStatus
from nexus.payments.stripe import StripeClient, StripeRefused, StripeUnavailable
from nexus.secrets import resolve_secret
from nexus.settings import get_settings

_NO_ORDER = "No such order."
_NO_PRODUCT = "No such product."
# Stripe refuses a Checkout Session that expires sooner than 30 minutes after it is made.
STRIPE_MIN_SESSION = timedelta(minutes=30)
STRIPE_REFUSED = "cannot be paid for: the payment provider refused it"
REPOSITORY = CheckoutRepository()
PAYMENTS = PaymentsRepository()


def _request_hash(body: CheckoutIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "Payments are unavailable right now; retry the request (with the same"
        " Idempotency-Key, if it had one).",
        retry_after=get_settings().stripe_retry_after_seconds,
    )


def checkout(
    body: CheckoutIn,
    idempotency_key: str | None,
    *,
    repo: CheckoutRepository = REPOSITORY,
    payments: PaymentsRepository = PAYMENTS,
    stripe: StripeClient | None = None,
) -> tuple[Order, bool]:
    """The order and whether this call created it; a pending order comes back with the
    Stripe Checkout page to pay on."""
    settings = get_settings()
    product_id = pagination.require_id(body.product_id, _NO_PRODUCT)
    digest = _request_hash(body) if idempotency_key is not None else None
    stored = repo.checkout(
        product_id=product_id,
        email=body.email,
        name=body.name,
        idempotency_key=idempotency_key,
        request_hash=digest,
        session_minutes=settings.checkout_session_minutes,
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
    order = stored.order
    if order.status == "pending" and order.checkout_url is None:
        order = _start_payment(stored, repo, payments, stripe or StripeClient(settings))
    return order, stored.created


def session_params(stored: StoredOrder) -> dict[str, Any]:
    """The Checkout Session for an order: everything from the order row (so a retry sends
    the same parameters under the same Idempotency-Key), the price as the database has it."""
    order, web = stored.order, get_settings().web_base_url.rstrip("/")
    return {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": order.currency.lower(),
                    "unit_amount": order.amount,
                    "product_data": {"name": stored.product_name},
                },
            }
        ],
        "customer_email": order.email,
        "client_reference_id": order.id,
        "metadata": {"order_id": order.id, "product_id": order.product_id},
        "payment_intent_data": {"metadata": {"order_id": order.id}},
        "success_url": f"{web}/success?order={order.id}",
        "cancel_url": f"{web}/checkout/{order.product_id}",
        "expires_at": int(order.expires_at.timestamp()),
    }


def _start_payment(
    stored: StoredOrder,
    repo: CheckoutRepository,
    payments: PaymentsRepository,
    stripe: StripeClient,
) -> Order:
    order = stored.order
    fee_bps = get_settings().platform_fee_bps
    left = order.expires_at - datetime.now(UTC)
    if not stored.created and left < STRIPE_MIN_SESSION + timedelta(minutes=1):
        # A retry of a checkout whose session was never made, too late for Stripe to make one.
        payments.apply(state.Change("expired", order_id=order.id), fee_bps=fee_bps)
        raise Conflict("This checkout expired before the payment could start; start a new one.")
    try:
        session = stripe.create_checkout_session(
            session_params(stored), idempotency_key=f"nexus-checkout-{order.id}"
        )
    except StripeUnavailable as exc:
        raise _unavailable() from exc
    except StripeRefused as exc:
        payments.apply(state.Change("failed", order_id=order.id), fee_bps=fee_bps)
        raise ValidationFailed(
            f"The payment provider refused this checkout: {exc.message}",
            errors=[{"loc": ["body", "product_id"], "msg": STRIPE_REFUSED}],
        ) from exc
    session_id, url = session.get("id"), session.get("url")
    if not isinstance(session_id, str) or not isinstance(url, str):
        logger.error("stripe session without id or url", extra={"order_id": order.id})
        raise _unavailable()
    if not payments.save_session(order_id=order.id, session_id=session_id, url=url):
        # The order left pending meanwhile (the sweep expired it): show it as it is now.
        return found(repo.order(order.id), _NO_ORDER)
    return order.model_copy(update={"checkout_url": url})


def buyer_order(raw_id: str, *, repo: CheckoutRepository = REPOSITORY) -> BuyerOrder:
    order_id = pagination.require_id(raw_id, _NO_ORDER)
    row = found(repo.buyer_view(order_id), _NO_ORDER)
    download_url = None
    if row.status == "paid" and get_settings().files_bucket:
        download_url = _download_url(row)
    return BuyerOrder(
        id=row.id,
        status=row.status,
        amount=row.amount,
        currency=row.currency,
        product=ProductRef(id=row.product_id, name=row.product_name),
        download_url=download_url,
    )


def _download_url(row: BuyerOrderRow) -> str | None:
    """The product's file; or its latest upload, once it is in the bucket at its declared
    size, when no product read has made it the file yet (a seller who uploads and never
    looks again still delivers)."""
    key, name = row.file_key, row.file_name
    if row.upload_key and row.upload_name and row.upload_size is not None:
        try:
            if files.size_of(row.upload_key) == row.upload_size:
                key, name = row.upload_key, row.upload_name
        except files.CheckFailed:
            logger.warning("could not check a pending upload", extra={"order_id": row.id})
    return files.download_url(key, name) if key and name else None


def _webhook_secret() -> str:
    settings = get_settings()
    return resolve_secret(
        settings.stripe_webhook_secret,
        settings.stripe_webhook_secret_arn,
        name="Stripe webhook secret",
    )


def stripe_webhook(
    raw_body: bytes, signature_header: str | None, *, payments: PaymentsRepository = PAYMENTS
) -> WebhookResult:
    # The signature is checked on the raw bytes before anything is parsed.
    signature.verify(signature_header, raw_body, _webhook_secret())
    event = parse(StripeEvent, raw_body, loc=("body",), detail="The event is not valid.")
    change = state.change_for_event(event.type, event.data.object)
    result = {"event_id": event.id, "type": event.type}
    if change is None:
        logger.info("stripe event ignored", extra=result)
        return WebhookResult(**result, outcome="ignored", order_id=None, status=None)
    applied = payments.apply(
        change, fee_bps=get_settings().platform_fee_bps, event_id=event.id, event_type=event.type
    )
    outcome = "ignored" if applied.outcome == "not_found" else applied.outcome
    logger.info(
        "stripe event taken",
        extra={
            **result,
            "order_id": applied.order_id,
            "outcome": outcome,
            "status": applied.status,
        },
    )
    return WebhookResult(
        **result, outcome=outcome, order_id=applied.order_id, status=applied.status
    )


def refund(
    who: Identity,
    raw_id: str,
    *,
    repo: CheckoutRepository = REPOSITORY,
    payments: PaymentsRepository = PAYMENTS,
    stripe: StripeClient | None = None,
) -> Order:
    """Ask Stripe to refund a paid order in full; the order becomes refunded when Stripe
    reports the refund (charge.refunded)."""
    order_id = pagination.require_id(raw_id, _NO_ORDER)
    target = found(
        payments.refund_target(organization_id=who.organization_id, order_id=order_id), _NO_ORDER
    )
    if target.status != "paid":
        raise Conflict(f"Only a paid order can be refunded; this one is {target.status}.")
    if target.payment_intent is None:
        raise Conflict("This order was not paid through Stripe, so it cannot be refunded here.")
    client = stripe or StripeClient()
    try:
        client.create_refund(
            {
                "payment_intent": target.payment_intent,
                "reason": "requested_by_customer",
                "metadata": {"order_id": order_id},
            },
            idempotency_key=f"nexus-refund-{order_id}",
        )
    except StripeUnavailable as exc:
        raise _unavailable() from exc
    except StripeRefused as exc:
        if exc.code != "charge_already_refunded":  # already done: its event is on its way
            raise ValidationFailed(
                f"The payment provider refused the refund: {exc.message}"
            ) from exc
    payments.refund_requested(order_id)
    logger.info("refund requested", extra={"order_id": order_id})
    return found(repo.seller_get(organization_id=who.organization_id, order_id=order_id), _NO_ORDER)


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


def summary(
    who: Identity, query: SummaryQuery, *, repo: CheckoutRepository = REPOSITORY
) -> OrderSummary:
    items = repo.summary(organization_id=who.organization_id, start=query.start, end=query.end)
    return OrderSummary(items=items)


def funnel(who: Identity, query: FunnelQuery, *, repo: CheckoutRepository = REPOSITORY) -> Funnel:
    """The product's store page views, checkouts started and orders paid per UTC day, every
    day of the range present; 404 unless it is the caller's product."""
    days = repo.funnel(
        organization_id=who.organization_id,
        product_id=query.product_id,
        start=query.start,
        end=query.end,
    )
    if not days:  # the range is never empty: no row means not the caller's product
        raise NotFound(_NO_PRODUCT)
    views = sum(d.views for d in days)
    return Funnel(
        items=days,
        conversion=Conversion(
            checkout_rate=rate(sum(d.checkouts for d in days), views),
            paid_rate=rate(sum(d.paid for d in days), views),
        ),
    )


def rate(count: int, views: int) -> float:
    """``count`` per view, to 4 decimals; 0.0 without views (nothing to convert from)."""
    return round(count / views, 4) if views else 0.0
