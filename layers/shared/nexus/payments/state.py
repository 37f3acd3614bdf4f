"""The order state machine: the one place that says which status an order may move to, and
what a Stripe event or a Checkout Session says about an order (contract §8).

    pending → paid | failed | expired        paid → refunded

Everything else is no change: a duplicate, an event for a state already left (``expired``
after ``paid``), a completed session still waiting for an asynchronous payment, a partial
refund. Webhooks answer those 200 (Stripe retries anything else for days); the expiry sweep
and checkout use the same rules through :func:`change_for_session`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

OrderStatus = Literal["pending", "paid", "failed", "expired", "refunded"]
ORDER_STATUSES: tuple[OrderStatus, ...] = ("pending", "paid", "failed", "expired", "refunded")

TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    "pending": frozenset({"paid", "failed", "expired"}),
    "paid": frozenset({"refunded"}),
}


def allowed(current: OrderStatus, target: OrderStatus) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


@dataclass(frozen=True, slots=True)
class Change:
    """What Stripe says about one order. ``order_id`` (a Checkout Session's
    ``client_reference_id``) or ``payment_intent`` (a charge's) finds the order;
    ``target`` None means the order stays as it is."""

    target: OrderStatus | None
    order_id: str | None = None
    session_id: str | None = None
    payment_intent: str | None = None


def _text(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def _order_id(session: Mapping[str, Any]) -> str | None:
    metadata = session.get("metadata")
    from_metadata = _text(metadata, "order_id") if isinstance(metadata, Mapping) else None
    return _text(session, "client_reference_id") or from_metadata


def change_for_session(session: Mapping[str, Any]) -> Change:
    """A Checkout Session as Stripe reports it (retrieved, or in an event): a completed,
    paid one makes its order paid; an expired one, expired; anything else (open; complete
    but its payment still processing) changes nothing."""
    status, payment = session.get("status"), session.get("payment_status")
    target: OrderStatus | None = None
    if status == "complete" and payment in ("paid", "no_payment_required"):
        target = "paid"
    elif status == "expired":
        target = "expired"
    return Change(
        target=target,
        order_id=_order_id(session),
        session_id=_text(session, "id"),
        payment_intent=_text(session, "payment_intent"),
    )


_SESSION_EVENTS: Mapping[str, OrderStatus | None] = {
    # Fulfil on completion only when paid; a delayed method completes unpaid first and then
    # sends async_payment_succeeded or async_payment_failed.
    "checkout.session.completed": None,
    "checkout.session.async_payment_succeeded": "paid",
    "checkout.session.async_payment_failed": "failed",
    "checkout.session.expired": "expired",
}
HANDLED_EVENTS = frozenset({*_SESSION_EVENTS, "charge.refunded"})


def change_for_event(event_type: str, obj: Mapping[str, Any]) -> Change | None:
    """The change an event asks for, or None for an event type the product does not handle
    (answered 200 and ignored)."""
    if event_type in _SESSION_EVENTS:
        fixed = _SESSION_EVENTS[event_type]
        seen = change_for_session(obj)
        if fixed is None:  # completed: paid only when the session says it is paid
            return seen if seen.target == "paid" else Change(None, seen.order_id, seen.session_id)
        return Change(fixed, seen.order_id, seen.session_id, seen.payment_intent)
    if event_type == "charge.refunded":
        # Fully refunded only: a partial refund leaves the order paid.
        target: OrderStatus | None = "refunded" if obj.get("refunded") is True else None
        return Change(target, payment_intent=_text(obj, "payment_intent"))
    return None
