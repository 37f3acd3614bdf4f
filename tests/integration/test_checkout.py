"""Store, checkout with idempotency, the buyer's page, the payment webhook, seller views."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from nexus.checkout.signature import sign
from nexus_local.apigw import Gateway
from nexus_local.runtime import Runtime
from nexus_local.template import parse
from tests.support.api import TEST_SECRETS, Api, Reply, assert_problem

SECRET = TEST_SECRETS["PAYMENT_WEBHOOK_SECRET"]


@pytest.fixture
def seller(api: Api) -> str:
    return api.seller("seller@example.com")


@pytest.fixture
def product(api: Api, seller: str) -> dict[str, Any]:
    return api.product(seller, name="Course", price=4900, currency="EUR")


def checkout(api: Api, product_id: str, key: str | None = None, **extra: Any) -> Reply:
    headers = {"Idempotency-Key": key} if key is not None else None
    body = {"product_id": product_id, "email": "buyer@example.com", **extra}
    return api.post("/checkout", json_body=body, headers=headers)


def webhook(
    api: Api,
    order_id: str,
    kind: str = "payment.succeeded",
    event_id: str | None = None,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    raw: bytes | None = None,
) -> Reply:
    body = (
        raw
        or json.dumps(
            {"event_id": event_id or f"evt_{uuid.uuid4().hex}", "type": kind, "order_id": order_id}
        ).encode()
    )
    headers = {"X-Signature": sign(secret, body, timestamp), "content-type": "application/json"}
    return api.post("/webhooks/payments", body=body, headers=headers)


class TestStore:
    def test_public_view_shows_only_what_a_buyer_needs(
        self, api: Api, product: dict[str, Any]
    ) -> None:
        reply = api.get(f"/store/products/{product['id']}")
        assert reply.status == 200
        assert reply.json() == {
            k: product[k] for k in ("id", "name", "description", "price", "currency")
        }

    def test_unknown_product_is_404(self, api: Api) -> None:
        assert_problem(api.get(f"/store/products/{uuid.uuid4()}"), 404)


class TestCheckout:
    def test_creates_a_pending_order_at_the_database_price(
        self, api: Api, product: dict[str, Any]
    ) -> None:
        reply = checkout(api, product["id"], name="Bea")
        assert reply.status == 201
        order = reply.json()
        assert set(order) == {
            "id",
            "product_id",
            "email",
            "name",
            "status",
            "amount",
            "currency",
            "created_at",
        }
        assert (order["status"], order["amount"], order["currency"]) == ("pending", 4900, "EUR")
        assert uuid.UUID(order["id"])

    def test_a_client_supplied_price_is_refused(self, api: Api, product: dict[str, Any]) -> None:
        assert_problem(checkout(api, product["id"], amount=1), 422)

    @pytest.mark.parametrize("product_id", ["nope", str(uuid.uuid4())])
    def test_unknown_product_is_404(self, api: Api, product_id: str) -> None:
        assert_problem(checkout(api, product_id), 404)

    def test_deleted_product_is_404_and_past_orders_keep_their_data(
        self, api: Api, seller: str, product: dict[str, Any]
    ) -> None:
        order = checkout(api, product["id"]).json()
        api.delete(f"/products/{product['id']}", token=seller)
        assert_problem(checkout(api, product["id"]), 404)
        page = api.get(f"/checkout/orders/{order['id']}").json()
        assert page["product"] == {"id": product["id"], "name": "Course"}
        assert api.get(f"/orders/{order['id']}", token=seller).json() == order

    def test_same_key_same_body_returns_the_same_order_with_200(
        self, api: Api, product: dict[str, Any]
    ) -> None:
        first = checkout(api, product["id"], key="key-1")
        again = checkout(api, product["id"], key="key-1")
        assert (first.status, again.status) == (201, 200)
        assert again.json() == first.json()

    def test_same_key_different_body_is_409(self, api: Api, product: dict[str, Any]) -> None:
        checkout(api, product["id"], key="key-1")
        assert_problem(checkout(api, product["id"], key="key-1", name="Other"), 409)

    def test_without_a_key_each_call_is_a_new_order(
        self, api: Api, product: dict[str, Any]
    ) -> None:
        assert (
            checkout(api, product["id"]).json()["id"] != checkout(api, product["id"]).json()["id"]
        )

    @pytest.mark.parametrize("key", ["", "k" * 256])
    def test_key_outside_1_to_255_characters_is_422(
        self, api: Api, product: dict[str, Any], key: str
    ) -> None:
        assert_problem(checkout(api, product["id"], key=key), 422)


@pytest.fixture
def wide_api(database_url: str) -> Iterator[Api]:
    """Twenty execution environments, so twenty requests really run at once."""
    runtime = Runtime(parse(), concurrency=20)
    yield Api(Gateway(runtime.app, runtime))
    runtime.shutdown()


class TestConcurrency:
    def test_twenty_concurrent_requests_with_one_key_create_one_order(
        self, wide_api: Api, product: dict[str, Any], conn: Any
    ) -> None:
        start = threading.Barrier(20)

        def go(_: int) -> Reply:
            start.wait()
            return checkout(wide_api, product["id"], key="same-key")

        with ThreadPoolExecutor(20) as pool:
            replies = list(pool.map(go, range(20)))
        statuses = sorted(r.status for r in replies)
        assert statuses == [200] * 19 + [201]
        assert len({r.json()["id"] for r in replies}) == 1
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (1,)

    def test_product_deleted_during_checkout_never_gives_a_server_error(
        self, wide_api: Api, seller: str, product: dict[str, Any], conn: Any
    ) -> None:
        start = threading.Barrier(11)

        def buy(_: int) -> Reply:
            start.wait()
            return checkout(wide_api, product["id"])

        def remove() -> Reply:
            start.wait()
            return wide_api.delete(f"/products/{product['id']}", token=seller)

        with ThreadPoolExecutor(11) as pool:
            buys = [pool.submit(buy, i) for i in range(10)]
            deletion = pool.submit(remove)
            replies = [f.result() for f in buys]
        assert deletion.result().status == 204
        assert {r.status for r in replies} <= {201, 404}
        made = [r.json() for r in replies if r.status == 201]
        assert all(o["amount"] == 4900 for o in made)
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (len(made),)


class TestWebhook:
    def test_succeeded_event_marks_the_order_paid(self, api: Api, product: dict[str, Any]) -> None:
        order = checkout(api, product["id"]).json()
        reply = webhook(api, order["id"])
        assert reply.status == 200
        assert reply.json()["status"] == "paid"
        assert api.get(f"/checkout/orders/{order['id']}").json()["status"] == "paid"

    def test_failed_event_marks_the_order_failed(self, api: Api, product: dict[str, Any]) -> None:
        order = checkout(api, product["id"]).json()
        assert webhook(api, order["id"], "payment.failed").status == 200
        assert api.get(f"/checkout/orders/{order['id']}").json()["status"] == "failed"

    def test_replayed_event_is_a_200_no_op(self, api: Api, product: dict[str, Any]) -> None:
        order = checkout(api, product["id"]).json()
        assert webhook(api, order["id"], event_id="evt_1").status == 200
        again = webhook(api, order["id"], event_id="evt_1")
        assert again.status == 200
        assert again.json()["duplicate"] is True

    def test_illegal_transition_is_409_and_not_recorded(
        self, api: Api, product: dict[str, Any], conn: Any
    ) -> None:
        order = checkout(api, product["id"]).json()
        webhook(api, order["id"], "payment.succeeded")
        assert_problem(webhook(api, order["id"], "payment.failed", event_id="evt_late"), 409)
        assert conn.execute(
            "SELECT count(*) FROM payment_events WHERE event_id = 'evt_late'"
        ).fetchone() == (0,)
        assert api.get(f"/checkout/orders/{order['id']}").json()["status"] == "paid"

    def test_unknown_order_is_404(self, api: Api) -> None:
        assert_problem(webhook(api, str(uuid.uuid4())), 404)

    @pytest.mark.parametrize(
        "case", ["wrong secret", "old", "future", "tampered body", "missing", "garbage header"]
    )
    def test_bad_or_old_signature_is_401(
        self, api: Api, product: dict[str, Any], case: str
    ) -> None:
        order = checkout(api, product["id"]).json()
        body = json.dumps(
            {"event_id": "evt_x", "type": "payment.succeeded", "order_id": order["id"]}
        ).encode()
        now = int(time.time())
        headers = {"content-type": "application/json"}
        if case == "wrong secret":
            headers["X-Signature"] = sign("not-the-secret", body)
        elif case == "old":
            headers["X-Signature"] = sign(SECRET, body, now - 301)
        elif case == "future":
            headers["X-Signature"] = sign(SECRET, body, now + 301)
        elif case == "tampered body":
            headers["X-Signature"] = sign(SECRET, body)
            body = body.replace(b"succeeded", b"failed")
        elif case == "garbage header":
            headers["X-Signature"] = "t=abc,v1=zz"
        reply = api.post("/webhooks/payments", body=body, headers=headers)
        assert_problem(reply, 401)
        assert api.get(f"/checkout/orders/{order['id']}").json()["status"] == "pending"

    def test_signed_but_invalid_event_is_422(self, api: Api) -> None:
        assert_problem(webhook(api, "x", raw=b'{"event_id": "e", "type": "refund"}'), 422)


class TestSellerOrders:
    def test_lists_the_callers_orders_newest_first_with_status_filter(
        self, api: Api, seller: str, product: dict[str, Any]
    ) -> None:
        orders = [checkout(api, product["id"]).json() for _ in range(3)]
        webhook(api, orders[0]["id"])
        listed = api.get("/orders", token=seller).json()
        assert [o["id"] for o in listed["items"]] == [o["id"] for o in reversed(orders)]
        paid = api.get("/orders?status=paid", token=seller).json()["items"]
        assert [o["id"] for o in paid] == [orders[0]["id"]]
        assert_problem(api.get("/orders?status=refunded", token=seller), 422)

    def test_pages_without_gaps_or_repeats(
        self, api: Api, seller: str, product: dict[str, Any]
    ) -> None:
        made = [checkout(api, product["id"]).json()["id"] for _ in range(7)]
        seen, cursor = [], None
        while True:
            body = api.get(
                "/orders?limit=3" + (f"&cursor={cursor}" if cursor else ""), token=seller
            ).json()
            seen += [o["id"] for o in body["items"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
        assert seen == list(reversed(made))

    def test_another_sellers_orders_are_invisible(self, api: Api, product: dict[str, Any]) -> None:
        order = checkout(api, product["id"]).json()
        other = api.seller("other@example.com")
        assert api.get("/orders", token=other).json()["items"] == []
        assert_problem(api.get(f"/orders/{order['id']}", token=other), 404)

    def test_buyer_page_of_unknown_order_is_404(self, api: Api) -> None:
        assert_problem(api.get(f"/checkout/orders/{uuid.uuid4()}"), 404)
        assert_problem(api.get("/checkout/orders/not-an-id"), 404)
