"""nexus.payments.state: the order state machine, and what a Checkout Session or a Stripe
event says about an order. The expected table is written out here, not read from
TRANSITIONS, so a changed rule fails a test."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from nexus.payments import state
from nexus.payments.state import Change, OrderStatus, allowed, change_for_event, change_for_session

ORDER = "7d7c4c1e-8c53-4b8e-9a57-0c2f3e5b1a10"
SESSION = "cs_test_a1b2c3"
INTENT = "pi_3Nabc"

# pending → paid | failed | expired; paid → refunded; nothing else.
MOVES: set[tuple[OrderStatus, OrderStatus]] = {
    ("pending", "paid"),
    ("pending", "failed"),
    ("pending", "expired"),
    ("paid", "refunded"),
}
STATUSES: tuple[OrderStatus, ...] = ("pending", "paid", "failed", "expired", "refunded")


def test_the_statuses_are_the_five_of_the_contract() -> None:
    assert state.ORDER_STATUSES == STATUSES


@pytest.mark.parametrize("current,target", list(itertools.product(STATUSES, STATUSES)))
def test_every_pair_of_statuses(current: OrderStatus, target: OrderStatus) -> None:
    assert allowed(current, target) is ((current, target) in MOVES)


@pytest.mark.parametrize("final", ["failed", "expired", "refunded"])
def test_final_statuses_go_nowhere(final: OrderStatus) -> None:
    assert [t for t in STATUSES if allowed(final, t)] == []


def _session(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": SESSION,
        "object": "checkout.session",
        "client_reference_id": ORDER,
        "metadata": {"order_id": ORDER},
        "payment_intent": INTENT,
        "status": "complete",
        "payment_status": "paid",
    }
    return {**base, **fields}


@pytest.mark.parametrize(
    "status,payment_status,target",
    [
        ("complete", "paid", "paid"),
        ("complete", "no_payment_required", "paid"),
        ("complete", "unpaid", None),  # a delayed method: the async events finish it
        ("open", "unpaid", None),
        ("open", "paid", None),
        ("expired", "unpaid", "expired"),
        ("expired", None, "expired"),
        (None, "paid", None),
        ("complete", None, None),
        ("Complete", "paid", None),
    ],
)
def test_change_for_session(
    status: str | None, payment_status: str | None, target: OrderStatus | None
) -> None:
    change = change_for_session(_session(status=status, payment_status=payment_status))
    assert change == Change(target, order_id=ORDER, session_id=SESSION, payment_intent=INTENT)


@pytest.mark.parametrize(
    "fields,order_id",
    [
        ({"client_reference_id": ORDER, "metadata": {"order_id": "other"}}, ORDER),
        ({"client_reference_id": None, "metadata": {"order_id": ORDER}}, ORDER),
        ({"client_reference_id": "", "metadata": {"order_id": ORDER}}, ORDER),
        ({"client_reference_id": 42, "metadata": {"order_id": ORDER}}, ORDER),
        ({"client_reference_id": None, "metadata": {}}, None),
        ({"client_reference_id": None, "metadata": None}, None),
        ({"client_reference_id": None, "metadata": ["order_id"]}, None),
        ({"client_reference_id": None, "metadata": {"order_id": ""}}, None),
        ({"client_reference_id": None, "metadata": {"order_id": 7}}, None),
    ],
    ids=[
        "reference-first",
        "metadata-when-no-reference",
        "metadata-when-empty-reference",
        "metadata-when-reference-not-text",
        "neither",
        "metadata-null",
        "metadata-not-an-object",
        "metadata-empty-id",
        "metadata-id-not-text",
    ],
)
def test_the_order_id_comes_from_the_reference_or_the_metadata(
    fields: dict[str, Any], order_id: str | None
) -> None:
    assert change_for_session(_session(**fields)).order_id == order_id


def test_a_session_without_ids_changes_by_status_alone() -> None:
    bare = {"status": "expired", "payment_intent": {"id": INTENT}}  # an expanded intent
    assert change_for_session(bare) == Change("expired")


@pytest.mark.parametrize(
    "event_type,session_fields,expected",
    [
        (
            "checkout.session.completed",
            {},
            Change("paid", order_id=ORDER, session_id=SESSION, payment_intent=INTENT),
        ),
        (
            "checkout.session.completed",
            {"payment_status": "no_payment_required"},
            Change("paid", order_id=ORDER, session_id=SESSION, payment_intent=INTENT),
        ),
        (
            "checkout.session.completed",
            {"payment_status": "unpaid", "payment_intent": None},
            Change(None, order_id=ORDER, session_id=SESSION),
        ),
        (
            "checkout.session.async_payment_succeeded",
            {},
            Change("paid", order_id=ORDER, session_id=SESSION, payment_intent=INTENT),
        ),
        (
            "checkout.session.async_payment_failed",
            {"payment_status": "unpaid", "payment_intent": None},
            Change("failed", order_id=ORDER, session_id=SESSION),
        ),
        (
            "checkout.session.expired",
            {"status": "expired", "payment_status": "unpaid", "payment_intent": None},
            Change("expired", order_id=ORDER, session_id=SESSION),
        ),
    ],
    ids=["completed-paid", "completed-free", "completed-unpaid", "async-ok", "async-failed", "exp"],
)
def test_change_for_a_session_event(
    event_type: str, session_fields: dict[str, Any], expected: Change
) -> None:
    assert change_for_event(event_type, _session(**session_fields)) == expected


def test_a_completed_unpaid_session_keeps_no_intent() -> None:
    # A completed-but-unpaid session asks for nothing, whatever intent it shows
    change = change_for_event("checkout.session.completed", _session(payment_status="unpaid"))
    assert change == Change(None, order_id=ORDER, session_id=SESSION)


def test_the_async_and_expired_events_decide_whatever_the_session_says() -> None:
    # The event type is what Stripe says happened; the object is a snapshot
    open_session = _session(status="open", payment_status="unpaid")
    assert change_for_event("checkout.session.expired", open_session) == Change(
        "expired", order_id=ORDER, session_id=SESSION, payment_intent=INTENT
    )
    assert change_for_event("checkout.session.async_payment_succeeded", open_session) == Change(
        "paid", order_id=ORDER, session_id=SESSION, payment_intent=INTENT
    )


def _charge(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "ch_1",
        "object": "charge",
        "amount": 2500,
        "amount_refunded": 2500,
        "refunded": True,
        "payment_intent": INTENT,
        "metadata": {"order_id": ORDER},
    }
    return {**base, **fields}


def test_a_full_refund_refunds_the_order_found_by_its_intent() -> None:
    # The charge's metadata is not read: the intent finds the order
    assert change_for_event("charge.refunded", _charge()) == Change(
        "refunded", payment_intent=INTENT
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"amount_refunded": 1000, "refunded": False},
        {"refunded": "true"},
        {"refunded": None},
        {"refunded": 1},
    ],
    ids=["partial", "text-true", "null", "one"],
)
def test_anything_but_a_full_refund_changes_nothing(fields: dict[str, Any]) -> None:
    assert change_for_event("charge.refunded", _charge(**fields)) == Change(
        None, payment_intent=INTENT
    )


def test_a_refund_without_an_intent_finds_no_order() -> None:
    assert change_for_event("charge.refunded", _charge(payment_intent=None)) == Change("refunded")


@pytest.mark.parametrize(
    "event_type",
    [
        "checkout.session.created",
        "payment_intent.succeeded",
        "charge.succeeded",
        "charge.refund.updated",
        "charge.dispute.created",
        "CHECKOUT.SESSION.COMPLETED",
        "checkout.session.completed ",
        "",
    ],
)
def test_event_types_not_handled_are_none(event_type: str) -> None:
    assert change_for_event(event_type, _session()) is None
    assert event_type not in state.HANDLED_EVENTS


def test_the_handled_events() -> None:
    handled = {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
        "charge.refunded",
    }
    assert handled == state.HANDLED_EVENTS
    for event_type in state.HANDLED_EVENTS:
        assert change_for_event(event_type, _session()) is not None
