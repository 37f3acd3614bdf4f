"""Store, checkout with idempotency (one Stripe Checkout Session per order), the buyer's page
and the seller's views. Stripe's webhook, refunds, expiry and the ledger: test_payments.py."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nexus_local.apigw import Gateway
from nexus_local.fake_stripe import FakeStripe
from nexus_local.runtime import Runtime
from nexus_local.template import parse
from tests.support.api import Api, Reply, assert_problem
from tests.support.payments import pay, session_id


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
            "checkout_url",
            "expires_at",
        }
        assert (order["status"], order["amount"], order["currency"]) == ("pending", 4900, "EUR")
        assert uuid.UUID(order["id"])

    def test_the_checkout_session_is_made_from_the_order(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any]
    ) -> None:
        order = checkout(api, product["id"], name="Bea").json()
        [session] = stripe.sessions
        assert order["checkout_url"] == session["url"]
        assert session_id(order) == session["id"]
        assert session["mode"] == "payment"
        assert session["customer_email"] == "buyer@example.com"
        assert session["client_reference_id"] == order["id"]
        assert session["metadata"] == {"order_id": order["id"], "product_id": product["id"]}
        assert (session["amount_total"], session["currency"]) == (4900, "eur")
        assert session["success_url"].endswith(f"/success?order={order['id']}")
        assert session["cancel_url"].endswith(f"/checkout/{product['id']}")
        # The order expires with its session: an hour from now by default.
        expires = datetime.fromisoformat(order["expires_at"])
        assert int(expires.timestamp()) == session["expires_at"]
        assert abs(expires - datetime.now(UTC) - timedelta(minutes=60)) < timedelta(minutes=1)
        [call] = [c for c in stripe.log if c["path"] == "/v1/checkout/sessions"]
        assert call["idempotency_key"] == f"nexus-checkout-{order['id']}"

    def test_the_price_sent_to_stripe_is_the_database_price_at_checkout(
        self, api: Api, stripe: FakeStripe, seller: str, product: dict[str, Any]
    ) -> None:
        first = checkout(api, product["id"]).json()
        api.patch(f"/products/{product['id']}", json_body={"price": 1999}, token=seller)
        second = checkout(api, product["id"]).json()
        assert (first["amount"], second["amount"]) == (4900, 1999)
        assert [s["amount_total"] for s in stripe.sessions] == [4900, 1999]

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

    def test_a_retried_checkout_makes_one_session(
        self, api: Api, stripe: FakeStripe, product: dict[str, Any]
    ) -> None:
        orders = [checkout(api, product["id"], key="key-1").json() for _ in range(3)]
        assert len({o["checkout_url"] for o in orders}) == 1
        assert len(stripe.sessions) == 1

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
        assert len({r.json()["checkout_url"] for r in replies}) == 1
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (1,)

    def test_product_deleted_during_checkout_never_gives_a_server_error(
        self, wide_api: Api, stripe: FakeStripe, seller: str, product: dict[str, Any], conn: Any
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


class TestSellerOrders:
    def test_lists_the_callers_orders_newest_first_with_status_filter(
        self, api: Api, stripe: FakeStripe, seller: str, product: dict[str, Any]
    ) -> None:
        orders = [checkout(api, product["id"]).json() for _ in range(3)]
        pay(api, stripe, orders[0])
        listed = api.get("/orders", token=seller).json()
        assert [o["id"] for o in listed["items"]] == [o["id"] for o in reversed(orders)]
        paid = api.get("/orders?status=paid", token=seller).json()["items"]
        assert [o["id"] for o in paid] == [orders[0]["id"]]
        assert paid[0]["checkout_url"] is None  # nothing left to pay
        assert api.get("/orders?status=refunded", token=seller).json()["items"] == []
        assert_problem(api.get("/orders?status=cancelled", token=seller), 422)

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
