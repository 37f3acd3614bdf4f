"""Payments through the sandbox Stripe (contract §8): Stripe's webhook (signatures, every
event case, duplicates, out-of-order and unknown events), Stripe failing or refusing at
checkout, refunds, the expiry sweep without a webhook, and the seller's ledger.

The sandbox records the events it would send; the tests post them to the API in-process,
pretty-printed and signed as Stripe does (tests.support.payments)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.maintenance import app as maintenance_app
from nexus_local.fake_stripe import FakeStripe, stripe_signature
from tests.support.api import Api, Reply, assert_problem, lambda_context
from tests.support.payments import (
    WEBHOOK_SECRET,
    deliver_new,
    pay,
    post_event,
    session_id,
)


@pytest.fixture
def seller(api: Api) -> str:
    return api.seller("seller@example.com")


@pytest.fixture
def product(api: Api, seller: str) -> dict[str, Any]:
    return api.product(seller, name="Course", price=4900, currency="EUR")


def checkout(api: Api, product_id: str, key: str | None = None) -> Reply:
    headers = {"Idempotency-Key": key} if key is not None else None
    body = {"product_id": product_id, "email": "buyer@example.com", "name": "Bea"}
    return api.post("/checkout", json_body=body, headers=headers)


def status(api: Api, order: dict[str, Any]) -> str:
    return str(api.get(f"/checkout/orders/{order['id']}").json()["status"])


def last_event(stripe: FakeStripe, event_type: str) -> dict[str, Any]:
    return [e for e in stripe.events if e["type"] == event_type][-1]


def outbox_kinds(conn: Any) -> list[str]:
    query = "SELECT kind FROM outbox WHERE kind <> 'verify_email' ORDER BY kind"
    return [r[0] for r in conn.execute(query).fetchall()]


class TestWebhookEvents:
    def test_a_paid_session_makes_the_order_paid_and_mails_once(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any], conn: Any
    ) -> None:
        order = checkout(api, product["id"]).json()
        [reply] = pay(api, stripe, order)
        assert reply.status == 200
        assert reply.json() == {
            "received": True,
            "event_id": stripe.events[-1]["id"],
            "type": "checkout.session.completed",
            "outcome": "applied",
            "order_id": order["id"],
            "status": "paid",
        }
        assert status(api, order) == "paid"
        intent = stripe.session(session_id(order))["payment_intent"]
        row = conn.execute(
            "SELECT payment_intent, fee, paid_at IS NOT NULL FROM orders WHERE id = %s",
            (order["id"],),
        ).fetchone()
        assert row == (intent, 245, True)  # 5 % of 49.00, the default PLATFORM_FEE_BPS
        assert outbox_kinds(conn) == ["new_sale", "order_confirmation"]

    def test_the_same_event_again_is_a_duplicate_and_changes_nothing(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any], conn: Any
    ) -> None:
        order = checkout(api, product["id"]).json()
        pay(api, stripe, order)
        again = post_event(api, stripe.events[-1])
        assert (again.status, again.json()["outcome"]) == (200, "duplicate")
        assert outbox_kinds(conn) == ["new_sale", "order_confirmation"]

    def test_an_asynchronous_payment_waits_for_its_outcome(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any]
    ) -> None:
        paid, failed = (checkout(api, product["id"]).json() for _ in range(2))
        stripe.pay_async(session_id(paid), succeed=True)
        stripe.pay_async(session_id(failed), succeed=False)
        completed, succeeded, completed_2, failure = stripe.events
        # Completed but unpaid: no change yet (Stripe says fulfil only when paid)
        first = post_event(api, completed)
        assert (first.json()["outcome"], first.json()["status"]) == ("unchanged", "pending")
        assert post_event(api, completed_2).json()["outcome"] == "unchanged"
        assert status(api, paid) == status(api, failed) == "pending"
        assert post_event(api, succeeded).json()["status"] == "paid"
        assert post_event(api, failure).json()["status"] == "failed"
        assert (status(api, paid), status(api, failed)) == ("paid", "failed")

    def test_an_expired_session_expires_its_order(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any]
    ) -> None:
        order = checkout(api, product["id"]).json()
        stripe.advance_time(3601)  # the sandbox expires the session and records the event
        [reply] = deliver_new(api, stripe)
        assert (reply.json()["type"], reply.json()["status"]) == (
            "checkout.session.expired",
            "expired",
        )
        assert status(api, order) == "expired"
        assert api.get(f"/checkout/orders/{order['id']}").json()["download_url"] is None

    def test_out_of_order_events_answer_200_and_change_nothing(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any]
    ) -> None:
        order = checkout(api, product["id"]).json()
        pay(api, stripe, order)
        session = stripe.session(session_id(order))
        late = stripe.emit("checkout.session.expired", {**session, "status": "expired"})
        failed = stripe.emit("checkout.session.async_payment_failed", session)
        for event in (late, failed):
            reply = post_event(api, event)
            assert reply.status == 200
            assert (reply.json()["outcome"], reply.json()["status"]) == ("unchanged", "paid")
        assert status(api, order) == "paid"

    def test_unknown_event_types_and_unknown_orders_are_ignored_with_200(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any], conn: Any
    ) -> None:
        order = checkout(api, product["id"]).json()
        session = stripe.session(session_id(order))
        unknown_type = stripe.emit("customer.created", {"id": "cus_1", "object": "customer"})
        stranger = {**session, "client_reference_id": str(uuid.uuid4()), "metadata": {}}
        unknown_order = stripe.emit("checkout.session.expired", stranger)
        not_ours = stripe.emit("checkout.session.expired", {**session, "client_reference_id": "x"})
        for event in (unknown_type, unknown_order, not_ours):
            reply = post_event(api, event)
            assert (reply.status, reply.json()["outcome"]) == (200, "ignored"), event["type"]
        assert status(api, order) == "pending"
        assert conn.execute("SELECT count(*) FROM payment_events").fetchone() == (0,)

    def test_an_event_for_another_session_of_the_order_changes_nothing(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any]
    ) -> None:
        order = checkout(api, product["id"]).json()
        session = stripe.session(session_id(order))
        other = {**session, "id": "cs_test_other", "status": "expired"}
        reply = post_event(api, stripe.emit("checkout.session.expired", other))
        assert reply.json()["outcome"] == "unchanged"
        assert status(api, order) == "pending"


def _signed(body: bytes, stamp: int | None = None, secret: str = WEBHOOK_SECRET) -> str:
    return stripe_signature(secret, body, stamp)


# Each bad delivery: (the body as sent, its Stripe-Signature or None) from the event's
# pretty-printed body and the event itself.
BAD_DELIVERIES: dict[str, Any] = {
    "wrong secret": lambda b, e: (b, _signed(b, secret="whsec_not_it")),
    "301 s old": lambda b, e: (b, _signed(b, int(time.time()) - 301)),
    "301 s ahead": lambda b, e: (b, _signed(b, int(time.time()) + 301)),
    "tampered body": lambda b, e: (b.replace(b'"paid"', b'"unpaid"', 1), _signed(b)),
    # A receiver must verify the bytes it was sent, not a re-serialisation of them
    "re-serialised body": lambda b, e: (json.dumps(e, separators=(",", ":")).encode(), _signed(b)),
    "missing": lambda b, e: (b, None),
    "garbage": lambda b, e: (b, "t=abc,v1=zz"),
    "no v1 (v0 only)": lambda b, e: (b, _signed(b).replace("v1=", "v0=")),
    "non-ASCII v1": lambda b, e: (b, f"t={int(time.time())},v1=\u00e9\u00e9"),
}


class TestSignatures:
    @pytest.mark.parametrize("case", sorted(BAD_DELIVERIES))
    def test_a_bad_or_old_signature_is_401_and_changes_nothing(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any], case: str
    ) -> None:
        order = checkout(api, product["id"]).json()
        stripe.pay(session_id(order))
        event = stripe.events[-1]
        body, header = BAD_DELIVERIES[case](json.dumps(event, indent=2).encode(), event)
        headers = {"content-type": "application/json"}
        if header is not None:
            headers["Stripe-Signature"] = header
        assert_problem(api.post("/webhooks/stripe", body=body, headers=headers), 401)
        assert status(api, order) == "pending"

    def test_any_of_several_v1_values_may_match_within_300_s(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any]
    ) -> None:
        order = checkout(api, product["id"]).json()
        stripe.pay(session_id(order))
        body = json.dumps(stripe.events[-1], indent=2).encode()
        stamp = int(time.time()) - 290
        good = stripe_signature(WEBHOOK_SECRET, body, stamp).split("v1=")[1]
        old = stripe_signature("whsec_rolled_away", body, stamp).split("v1=")[1]
        header = f"t={stamp},v1={old},v1={good},v0=ignored"
        reply = api.post("/webhooks/stripe", body=body, headers={"Stripe-Signature": header})
        assert (reply.status, reply.json()["status"]) == (200, "paid")

    def test_a_signed_body_that_is_not_an_event_is_refused(self, api: Api) -> None:
        for body, code in ((b"{not json", 400), (b'{"id": "evt_1", "type": "x"}', 422)):
            header = stripe_signature(WEBHOOK_SECRET, body)
            reply = api.post("/webhooks/stripe", body=body, headers={"Stripe-Signature": header})
            assert_problem(reply, code)


class TestStripeFailures:
    def test_stripe_down_is_503_with_retry_after_and_the_same_key_completes_it(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any], conn: Any
    ) -> None:
        stripe.fail_next(500, count=2)  # the client's own retry fails too
        failed = checkout(api, product["id"], key="k-1")
        assert_problem(failed, 503)
        assert int(failed.header("Retry-After") or 0) >= 1
        assert stripe.sessions == []
        # The order waits, pending, for the retry
        assert conn.execute("SELECT status, checkout_url FROM orders").fetchall() == [
            ("pending", None)
        ]
        retry = checkout(api, product["id"], key="k-1")
        assert retry.status == 200
        assert retry.json()["checkout_url"] == stripe.sessions[0]["url"]
        assert len(stripe.sessions) == 1
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (1,)

    def test_a_lost_answer_is_replayed_by_the_retry_not_made_twice(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any], monkeypatch: Any
    ) -> None:
        monkeypatch.setenv("STRIPE_READ_TIMEOUT_SECONDS", "0.5")
        from nexus.settings import get_settings

        get_settings.cache_clear()
        stripe.fail_next("timeout", applied=True, hang_for=2)
        reply = checkout(api, product["id"], key="k-1")
        assert reply.status == 201
        assert len(stripe.sessions) == 1
        assert reply.json()["checkout_url"] == stripe.sessions[0]["url"]
        replays = [c for c in stripe.log if c["path"] == "/v1/checkout/sessions"]
        assert len({c["idempotency_key"] for c in replays}) == 1

    def test_a_checkout_stripe_refuses_is_422_saying_why_and_the_order_fails(
        self, api: Api, seller: str, stripe: FakeStripe
    ) -> None:
        cheap = api.product(seller, name="Sticker", price=10, currency="USD")
        reply = checkout(api, cheap["id"])
        problem = assert_problem(reply, 422)
        assert "refused" in problem["detail"] and "at least 0.50 USD" in problem["detail"]
        assert [e["loc"] for e in problem["errors"]] == [["body", "product_id"]]
        orders = api.get("/orders", token=seller).json()["items"]
        assert [o["status"] for o in orders] == ["failed"]

    def test_a_retry_too_late_for_a_new_session_expires_the_order_with_409(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any], conn: Any
    ) -> None:
        stripe.fail_next(503, count=2)
        assert_problem(checkout(api, product["id"], key="k-1"), 503)
        conn.execute("UPDATE orders SET expires_at = now() + interval '20 minutes'")
        assert_problem(checkout(api, product["id"], key="k-1"), 409)
        assert conn.execute("SELECT status FROM orders").fetchone() == ("expired",)
        assert stripe.sessions == []


class TestRefunds:
    def test_a_seller_refunds_a_paid_order(
        self, api: Api, stripe: FakeStripe, seller: str, product: dict[str, Any], conn: Any
    ) -> None:
        order = checkout(api, product["id"]).json()
        pay(api, stripe, order)
        reply = api.post(f"/orders/{order['id']}/refund", token=seller)
        assert (reply.status, reply.json()["status"]) == (202, "paid")
        refunded = last_event(stripe, "charge.refunded")
        assert refunded["data"]["object"]["amount_refunded"] == 4900
        assert post_event(api, refunded).json()["status"] == "refunded"
        assert api.get(f"/orders/{order['id']}", token=seller).json()["status"] == "refunded"
        # Asking again: 409, and Stripe is not asked twice
        assert_problem(api.post(f"/orders/{order['id']}/refund", token=seller), 409)
        assert len([c for c in stripe.log if c["path"] == "/v1/refunds"]) == 1
        assert conn.execute(
            "SELECT refund_requested_at IS NOT NULL, refunded_at IS NOT NULL FROM orders"
        ).fetchone() == (True, True)

    def test_only_a_paid_order_of_ones_own_can_be_refunded(
        self, api: Api, stripe: FakeStripe, seller: str, product: dict[str, Any]
    ) -> None:
        order = checkout(api, product["id"]).json()
        problem = assert_problem(api.post(f"/orders/{order['id']}/refund", token=seller), 409)
        assert "pending" in problem["detail"]
        pay(api, stripe, order)
        other = api.seller("other@example.com")
        assert_problem(api.post(f"/orders/{order['id']}/refund", token=other), 404)
        assert_problem(api.post(f"/orders/{uuid.uuid4()}/refund", token=seller), 404)
        assert api.post(f"/orders/{order['id']}/refund").status == 401  # the authorizer

    def test_stripe_down_at_refund_is_503_and_a_retry_refunds_once(
        self, api: Api, stripe: FakeStripe, seller: str, product: dict[str, Any]
    ) -> None:
        order = checkout(api, product["id"]).json()
        pay(api, stripe, order)
        stripe.fail_next(500, count=2)
        assert_problem(api.post(f"/orders/{order['id']}/refund", token=seller), 503)
        assert api.post(f"/orders/{order['id']}/refund", token=seller).status == 202
        assert api.post(f"/orders/{order['id']}/refund", token=seller).status == 202
        assert len([e for e in stripe.events if e["type"] == "charge.refunded"]) == 1

    def test_a_partial_refund_made_at_stripe_leaves_the_order_paid(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any]
    ) -> None:
        order = checkout(api, product["id"]).json()
        pay(api, stripe, order)
        intent = stripe.session(session_id(order))["payment_intent"]
        charge = {"id": "ch_1", "object": "charge", "payment_intent": intent, "refunded": False}
        reply = post_event(api, stripe.emit("charge.refunded", {**charge, "amount_refunded": 100}))
        assert (reply.json()["outcome"], reply.json()["status"]) == ("unchanged", "paid")


def sweep(as_role: Any) -> dict[str, Any]:
    as_role("nexus_maintenance")
    result = maintenance_app.lambda_handler(
        {"source": "nexus.maintenance"}, lambda_context("MaintenanceFunction")
    )
    as_role(None)
    return dict(result["expire_orders"])


class TestExpirySweep:
    def test_expires_pending_orders_without_a_webhook_after_asking_stripe(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any], conn: Any, as_role: Any
    ) -> None:
        # Given orders past their expiry: one whose session Stripe expired (its webhook never
        # came), one Stripe still shows open, one paid (webhook lost), one never given a session
        expired, still_open, paid = (checkout(api, product["id"]).json() for _ in range(3))
        stripe.fail_next(500, count=2)
        assert_problem(checkout(api, product["id"]), 503)
        stripe.expire_due()
        stripe.pay(session_id(paid))
        stripe.advance_time(3601)  # the sandbox expires the first two sessions
        conn.execute("UPDATE orders SET expires_at = now() - interval '2 minutes'")
        conn.execute(
            "UPDATE orders SET expires_at = now() - interval '3 minutes' WHERE id = %s",
            (still_open["id"],),
        )
        # When the maintenance job runs (no webhook has been delivered)
        result = sweep(as_role)
        # Then each is as Stripe says: the paid one paid, never expired
        assert (result["checked"], result["outcomes"]) == (4, {"expired": 3, "paid": 1})
        assert [status(api, o) for o in (expired, still_open, paid)] == [
            "expired",
            "expired",
            "paid",
        ]
        assert conn.execute("SELECT count(*) FROM orders WHERE status = 'pending'").fetchone() == (
            0,
        )
        assert "order_confirmation" in outbox_kinds(conn)
        # And the late webhooks change nothing
        for reply in deliver_new(api, stripe):
            assert (reply.status, reply.json()["outcome"]) == (200, "unchanged")

    def test_an_open_session_is_expired_at_stripe_first(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any], conn: Any, as_role: Any
    ) -> None:
        order = checkout(api, product["id"]).json()
        conn.execute("UPDATE orders SET expires_at = now() - interval '2 minutes'")
        assert sweep(as_role)["outcomes"] == {"expired": 1}
        assert stripe.session(session_id(order))["status"] == "expired"
        assert any(c["path"].endswith("/expire") for c in stripe.log)

    def test_orders_not_yet_due_stay_pending(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any], conn: Any, as_role: Any
    ) -> None:
        fresh, in_grace = (checkout(api, product["id"]).json() for _ in range(2))
        # Expired 30 s ago: within the 60 s Stripe's own expiry and webhook are given
        conn.execute(
            "UPDATE orders SET expires_at = now() - interval '30 seconds' WHERE id = %s",
            (in_grace["id"],),
        )
        assert sweep(as_role)["checked"] == 0
        assert [status(api, o) for o in (fresh, in_grace)] == ["pending", "pending"]
        assert not [c for c in stripe.log if c["method"] == "GET"]

    def test_stripe_down_stops_the_sweep_and_the_next_run_carries_on(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any], conn: Any, as_role: Any
    ) -> None:
        orders = [checkout(api, product["id"]).json() for _ in range(2)]
        conn.execute("UPDATE orders SET expires_at = now() - interval '2 minutes'")
        stripe.fail_next(500, count=2)
        first = sweep(as_role)
        assert (first["checked"], first["stripe_failures"]) == (0, 1)
        assert [status(api, o) for o in orders] == ["pending", "pending"]
        assert sweep(as_role)["outcomes"] == {"expired": 2}


class TestLedger:
    def test_summary_per_currency_gross_fees_refunds_net(
        self, api: Api, stripe: FakeStripe, seller: str, product: dict[str, Any]
    ) -> None:
        usd = api.product(seller, name="Guide", price=1000, currency="USD")
        euros = [checkout(api, product["id"]).json() for _ in range(3)]
        dollars = checkout(api, usd["id"]).json()
        for order in [*euros[:2], dollars]:
            pay(api, stripe, order)
        api.post(f"/orders/{euros[1]['id']}/refund", token=seller)
        deliver_new(api, stripe, {e["id"] for e in stripe.events[:-1]})
        summary = api.get("/orders/summary", token=seller)
        assert summary.status == 200
        assert summary.json() == {
            "items": [
                {
                    "currency": "EUR",
                    "paid_orders": 2,
                    "gross": 9800,
                    "refunded": 4900,
                    "fees": 490,
                    "net": 4410,
                },
                {
                    "currency": "USD",
                    "paid_orders": 1,
                    "gross": 1000,
                    "refunded": 0,
                    "fees": 50,
                    "net": 950,
                },
            ]
        }
        # Another seller sees none of it; a range before today is empty
        assert api.get("/orders/summary", token=api.seller("o@example.com")).json() == {"items": []}
        yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
        past = api.get(f"/orders/summary?from=2026-01-01&to={yesterday}", token=seller)
        assert past.json() == {"items": []}

    @pytest.mark.parametrize(
        "query", ["from=2026-12-02&to=2026-12-01", "from=2025-01-01&to=2026-12-01", "to=x"]
    )
    def test_a_bad_range_is_422(self, api: Api, seller: str, query: str) -> None:
        assert_problem(api.get(f"/orders/summary?{query}", token=seller), 422)
