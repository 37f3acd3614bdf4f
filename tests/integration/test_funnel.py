"""The seller's sales funnel (contract §10): store page views counted once per visitor (IP +
User-Agent) per product per UTC day, checkouts started and orders paid per day, and
GET /analytics/funnel with every day of its range and the conversion over views.

Views are made through the store page itself; to spread activity over several days, the
Given steps move today's rows (views, orders) to earlier days with the owner's connection."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from functions.checkout import app as checkout_app
from nexus.settings import get_settings
from nexus_local.fake_stripe import FakeStripe
from tests.integration.test_round_trips import count_round_trips
from tests.support.api import Api, Reply, assert_problem, lambda_context
from tests.support.payments import deliver_new, pay


def today() -> date:
    return datetime.now(UTC).date()


@pytest.fixture
def seller(api: Api) -> str:
    return api.seller("seller@example.com")


@pytest.fixture
def product(api: Api, seller: str) -> dict[str, Any]:
    return api.product(seller, name="Course", price=4900, currency="EUR")


def view(
    api: Api, product_id: str, *, ip: str = "198.51.100.1", agent: str = "Firefox/140"
) -> Reply:
    return api.get(f"/store/products/{product_id}", source_ip=ip, headers={"User-Agent": agent})


def checkout(api: Api, product_id: str) -> dict[str, Any]:
    reply = api.post("/checkout", json_body={"product_id": product_id, "email": "b@example.com"})
    assert reply.status == 201, reply.text
    return dict(reply.json())


def funnel(api: Api, token: str, product_id: str, query: str = "") -> Reply:
    return api.get(f"/analytics/funnel?product_id={product_id}{query}", token=token)


def today_only(api: Api, token: str, product_id: str) -> dict[str, Any]:
    day = today().isoformat()
    reply = funnel(api, token, product_id, f"&from={day}&to={day}")
    assert reply.status == 200, reply.text
    return dict(reply.json())


def views_today(api: Api, token: str, product_id: str) -> int:
    return int(today_only(api, token, product_id)["items"][0]["views"])


class TestViews:
    def test_one_visitor_counts_once_a_day_another_ip_or_agent_is_another(
        self, api: Api, seller: str, product: dict[str, Any]
    ) -> None:
        # Given the same visitor twice
        assert view(api, product["id"]).status == 200
        assert view(api, product["id"]).status == 200
        # Then one view
        assert views_today(api, seller, product["id"]) == 1
        # When another User-Agent, then another IP, looks
        assert view(api, product["id"], agent="Safari/18").status == 200
        assert view(api, product["id"], ip="203.0.113.9").status == 200
        # Then each is one more visitor
        assert views_today(api, seller, product["id"]) == 3

    def test_a_view_without_a_user_agent_is_counted_by_ip(
        self, api: Api, seller: str, product: dict[str, Any]
    ) -> None:
        for _ in range(2):
            assert view(api, product["id"], agent="").status == 200
        assert views_today(api, seller, product["id"]) == 1

    def test_a_page_that_is_not_found_is_not_a_view(
        self, api: Api, seller: str, product: dict[str, Any], conn: Any
    ) -> None:
        # Given an unknown product, a malformed id and a deleted product
        gone = api.product(seller, name="Gone")
        api.delete(f"/products/{gone['id']}", token=seller)
        for product_id in (str(uuid.uuid4()), "nope", gone["id"]):
            # When they are viewed: 404
            assert_problem(view(api, product_id), 404)
        # Then nothing was counted
        assert conn.execute("SELECT count(*) FROM store_views").fetchone()[0] == 0
        assert views_today(api, seller, product["id"]) == 0

    def test_the_viewer_address_cloudfront_vouches_for_is_the_visitor(
        self, api: Api, seller: str, product: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ORIGIN_VERIFY_SECRET", "origin-secret")
        get_settings.cache_clear()
        # Given two viewers behind CloudFront (one edge address), and a forged header
        for viewer in ("192.0.2.1:5000", "192.0.2.2:5000", "192.0.2.2:6000"):
            headers = {"X-Origin-Verify": "origin-secret", "CloudFront-Viewer-Address": viewer}
            assert api.get(f"/store/products/{product['id']}", headers=headers).status == 200
        forged = {"X-Origin-Verify": "wrong", "CloudFront-Viewer-Address": "192.0.2.3:1"}
        assert api.get(f"/store/products/{product['id']}", headers=forged).status == 200
        # Then two viewers, plus the edge address itself for the forged one
        assert views_today(api, seller, product["id"]) == 3

    def test_the_database_holds_neither_the_ip_nor_the_user_agent(
        self, api: Api, product: dict[str, Any], conn: Any
    ) -> None:
        view(api, product["id"], ip="198.51.100.77", agent="Mozilla/5.0 Unique")
        [(product_id, day, visitor)] = conn.execute(
            "SELECT product_id::text, day, visitor FROM store_views"
        ).fetchall()
        assert (product_id, day, len(visitor)) == (product["id"], today(), 32)
        for secret in (b"198.51.100.77", b"Mozilla", "198.51.100.77".encode("utf-16-le")):
            assert secret not in bytes(visitor)


class TestCountingNeverFailsThePage:
    @pytest.fixture
    def no_insert(self, conn: Any) -> Iterator[None]:
        conn.execute("REVOKE INSERT ON store_views FROM nexus_checkout")
        try:
            yield
        finally:
            conn.execute("GRANT INSERT (product_id, day, visitor) ON store_views TO nexus_checkout")

    def test_the_page_answers_200_uncounted_when_the_insert_fails(
        self, api: Api, seller: str, product: dict[str, Any], no_insert: None, conn: Any
    ) -> None:
        reply = view(api, product["id"])
        assert reply.status == 200, reply.text
        assert reply.json()["id"] == product["id"]
        assert conn.execute("SELECT count(*) FROM store_views").fetchone()[0] == 0
        # And an unknown product is still a 404, not a 500
        assert_problem(view(api, str(uuid.uuid4())), 404)

    def test_the_page_answers_200_uncounted_without_a_visitor_key(
        self,
        api: Api,
        seller: str,
        product: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch,
        conn: Any,
    ) -> None:
        monkeypatch.delenv("VISITOR_KEY")
        get_settings.cache_clear()
        assert view(api, product["id"]).status == 200
        assert conn.execute("SELECT count(*) FROM store_views").fetchone()[0] == 0

    def test_the_counted_page_is_still_one_round_trip(
        self, api: Api, product: dict[str, Any], make_event: Any, conn: Any
    ) -> None:
        path = f"/store/products/{product['id']}"
        event = make_event("GET", path, route_key="GET /store/products/{product_id}")

        def call() -> dict[str, Any]:
            return dict(checkout_app.lambda_handler(dict(event), lambda_context()))

        result, trips = count_round_trips(call)
        assert result["statusCode"] == 200
        assert trips == ["Sync"]  # the view and its count: one statement
        assert conn.execute("SELECT count(*) FROM store_views").fetchone()[0] == 1


class TestFunnel:
    def test_views_checkouts_and_paid_per_day_with_every_day_present(
        self, api: Api, stripe: FakeStripe, seller: str, product: dict[str, Any], conn: Any
    ) -> None:
        # Given, three days ago: 4 visitors, 2 checkouts, 1 paid
        for i in range(4):
            view(api, product["id"], ip=f"198.51.100.{i + 1}")
        early = [checkout(api, product["id"]) for _ in range(2)]
        pay(api, stripe, early[0])
        conn.execute("UPDATE store_views SET day = day - 3")
        conn.execute(
            "UPDATE orders SET created_at = created_at - interval '3 days',"
            " paid_at = paid_at - interval '3 days'"
        )
        # And an order started three days ago that was paid today
        late = checkout(api, product["id"])
        conn.execute(
            "UPDATE orders SET created_at = created_at - interval '3 days' WHERE id = %s",
            (late["id"],),
        )
        pay(api, stripe, late)
        # And today: 2 visitors (one of them also three days ago: a new day, a new view)
        view(api, product["id"], ip="198.51.100.1")
        view(api, product["id"], ip="198.51.100.99")
        # When the seller reads the last five days
        start, end = today() - timedelta(days=4), today()
        reply = funnel(api, seller, product["id"], f"&from={start}&to={end}")
        # Then every day is there, oldest first, zeros where nothing happened
        assert reply.status == 200, reply.text
        body = reply.json()
        zero = {"views": 0, "checkouts": 0, "paid": 0}
        expected = {str(start + timedelta(days=n)): zero for n in range(5)}
        expected[str(today() - timedelta(days=3))] = {"views": 4, "checkouts": 3, "paid": 1}
        expected[str(today())] = {"views": 2, "checkouts": 0, "paid": 1}
        assert body["items"] == [{"date": d, **counts} for d, counts in expected.items()]
        # And the conversion is over the range's 6 views: 3 checkouts, 2 paid
        assert body["conversion"] == {"checkout_rate": 0.5, "paid_rate": 0.3333}

    def test_a_refunded_order_stays_paid_on_the_day_it_was_paid(
        self, api: Api, stripe: FakeStripe, seller: str, product: dict[str, Any]
    ) -> None:
        order = checkout(api, product["id"])
        pay(api, stripe, order)
        assert api.post(f"/orders/{order['id']}/refund", token=seller).status == 202
        deliver_new(api, stripe, {e["id"] for e in stripe.events[:-1]})
        assert api.get(f"/orders/{order['id']}", token=seller).json()["status"] == "refunded"
        [day] = today_only(api, seller, product["id"])["items"]
        assert (day["checkouts"], day["paid"]) == (1, 1)

    def test_no_views_means_rates_of_zero(
        self, api: Api, stripe: FakeStripe, seller: str, product: dict[str, Any]
    ) -> None:
        # Given checkouts but no view (an API client, not the store page)
        pay(api, stripe, checkout(api, product["id"]))
        body = today_only(api, seller, product["id"])
        assert body["items"][0]["checkouts"] == 1
        assert body["conversion"] == {"checkout_rate": 0.0, "paid_rate": 0.0}

    def test_the_default_range_is_the_last_28_days(
        self, api: Api, seller: str, product: dict[str, Any]
    ) -> None:
        view(api, product["id"])
        body = funnel(api, seller, product["id"]).json()
        dates = [item["date"] for item in body["items"]]
        assert dates == [str(today() - timedelta(days=27 - n)) for n in range(28)]
        assert body["items"][-1]["views"] == 1
        assert body["conversion"] == {"checkout_rate": 0.0, "paid_rate": 0.0}

    def test_a_range_of_366_days_is_read(
        self, api: Api, seller: str, product: dict[str, Any]
    ) -> None:
        end = today()
        reply = funnel(api, seller, product["id"], f"&from={end - timedelta(days=366)}&to={end}")
        assert reply.status == 200
        assert len(reply.json()["items"]) == 367

    @pytest.mark.parametrize(
        "query",
        [
            "&from=2026-12-02&to=2026-12-01",
            "&from=2025-01-01&to=2026-12-01",
            "&to=0",
            "&from=2026-13-01",
        ],
    )
    def test_a_bad_range_is_422(
        self, api: Api, seller: str, product: dict[str, Any], query: str
    ) -> None:
        assert_problem(funnel(api, seller, product["id"], query), 422)

    @pytest.mark.parametrize("query", ["", "?product_id=nope", "?product_id=%00"])
    def test_a_missing_or_malformed_product_id_is_422(
        self, api: Api, seller: str, query: str
    ) -> None:
        body = assert_problem(api.get(f"/analytics/funnel{query}", token=seller), 422)
        assert body["errors"][0]["loc"] == ["query", "product_id"]

    def test_needs_a_bearer_token(self, api: Api, product: dict[str, Any]) -> None:
        assert api.get(f"/analytics/funnel?product_id={product['id']}").status == 401


class TestTenants:
    def test_another_sellers_product_is_404_and_counts_stay_apart(
        self, api: Api, seller: str, product: dict[str, Any]
    ) -> None:
        other = api.seller("other@example.com")
        theirs = api.product(other, name="Theirs")
        # Given views of both products by the same visitor
        view(api, product["id"])
        view(api, theirs["id"])
        view(api, theirs["id"], agent="Safari/18")
        # Then neither seller reads the other's product: 404, as for an unknown one
        for token, product_id in ((seller, theirs["id"]), (other, product["id"])):
            assert_problem(funnel(api, token, product_id), 404)
        assert_problem(funnel(api, seller, str(uuid.uuid4())), 404)
        # And each sees only their own product's views
        assert views_today(api, seller, product["id"]) == 1
        assert views_today(api, other, theirs["id"]) == 2

    def test_a_deleted_product_is_404(self, api: Api, seller: str, product: dict[str, Any]) -> None:
        view(api, product["id"])
        api.delete(f"/products/{product['id']}", token=seller)
        assert_problem(funnel(api, seller, product["id"]), 404)
