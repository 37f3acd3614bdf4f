"""Products: the seller's own, integer cents, keyset pages, soft delete, tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, assert_problem


@pytest.fixture
def token(api: Api) -> str:
    return api.seller("seller@example.com")


class TestCreate:
    def test_returns_the_product_with_defaults(self, api: Api, token: str) -> None:
        reply = api.post("/products", json_body={"name": "Ebook", "price": 1999}, token=token)
        assert reply.status == 201
        product = reply.json()
        assert set(product) == {
            "id",
            "name",
            "description",
            "price",
            "currency",
            "created_at",
            "updated_at",
            "file",
        }
        assert (product["name"], product["price"], product["currency"]) == ("Ebook", 1999, "USD")
        assert product["description"] is None

    @pytest.mark.parametrize("price", [19.99, 10.0, "1999", -5, 0, 100_000_001, True, None, [1]])
    def test_price_must_be_integer_cents_in_range_never_rounded(
        self, api: Api, token: str, price: Any
    ) -> None:
        reply = api.post("/products", json_body={"name": "Ebook", "price": price}, token=token)
        body = assert_problem(reply, 422)
        assert body["errors"][0]["loc"] == ["body", "price"]

    @pytest.mark.parametrize("price", [1, 100_000_000])
    def test_price_limits_are_inclusive(self, api: Api, token: str, price: int) -> None:
        reply = api.post("/products", json_body={"name": "E", "price": price}, token=token)
        assert reply.status == 201

    @pytest.mark.parametrize(
        "fields",
        [
            {"name": ""},
            {"name": "   "},
            {"name": "n" * 201},
            {"description": "d" * 5001},
            {"currency": "XYZ"},
            {"currency": "US"},
            {"currency": 840},
        ],
    )
    def test_invalid_fields_are_422(self, api: Api, token: str, fields: dict[str, Any]) -> None:
        body = {"name": "Ebook", "price": 100, **fields}
        assert_problem(api.post("/products", json_body=body, token=token), 422)

    def test_currency_code_is_normalised_to_upper_case(self, api: Api, token: str) -> None:
        product = api.product(token, currency="eur")
        assert product["currency"] == "EUR"


class TestReadUpdateDelete:
    def test_get_patch_and_delete(self, api: Api, token: str) -> None:
        product = api.product(token, description="A book")
        path = f"/products/{product['id']}"
        assert api.get(path, token=token).json() == product
        patched = api.patch(path, json_body={"price": 2999, "description": None}, token=token)
        assert patched.status == 200
        after = patched.json()
        assert (after["price"], after["description"], after["name"]) == (2999, None, "Ebook")
        assert after["updated_at"] > product["updated_at"]
        deleted = api.delete(path, token=token)
        assert deleted.status == 204
        assert deleted.text == ""
        # Afterwards 404 everywhere.
        assert_problem(api.get(path, token=token), 404)
        assert_problem(api.patch(path, json_body={"price": 1}, token=token), 404)
        assert_problem(api.delete(path, token=token), 404)
        assert_problem(api.get(f"/store/products/{product['id']}"), 404)
        assert api.get("/products", token=token).json()["items"] == []

    @pytest.mark.parametrize("field", ["name", "price", "currency"])
    def test_patch_cannot_null_a_required_field(self, api: Api, token: str, field: str) -> None:
        product = api.product(token)
        reply = api.patch(f"/products/{product['id']}", json_body={field: None}, token=token)
        assert_problem(reply, 422)

    def test_patch_with_fractional_price_is_422(self, api: Api, token: str) -> None:
        product = api.product(token)
        reply = api.patch(f"/products/{product['id']}", json_body={"price": 9.5}, token=token)
        assert_problem(reply, 422)

    @pytest.mark.parametrize("bad_id", ["not-a-uuid", "..%2F..%2Fetc", "1", "%00"])
    def test_ids_that_cannot_exist_are_404(self, api: Api, token: str, bad_id: str) -> None:
        assert_problem(api.get(f"/products/{bad_id}", token=token), 404)


class TestTenantIsolation:
    def test_another_sellers_product_is_404_on_every_verb(self, api: Api) -> None:
        ann, bob = api.seller("ann@example.com"), api.seller("bob@example.com")
        product = api.product(ann)
        path = f"/products/{product['id']}"
        assert_problem(api.get(path, token=bob), 404)
        assert_problem(api.patch(path, json_body={"price": 1}, token=bob), 404)
        assert_problem(api.delete(path, token=bob), 404)
        assert api.get("/products", token=bob).json()["items"] == []
        # Untouched for its owner.
        assert api.get(path, token=ann).json()["price"] == 1999


class TestPagination:
    def test_45_items_page_newest_first_without_gaps_or_repeats(self, api: Api, token: str) -> None:
        created = [api.product(token, name=f"P{i}")["id"] for i in range(45)]
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            query = "/products?limit=10" + (f"&cursor={cursor}" if cursor else "")
            body = api.get(query, token=token).json()
            seen += [p["id"] for p in body["items"]]
            pages += 1
            # A product created between pages must not disturb the walk.
            if pages == 2:
                api.product(token, name="late")
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert pages == 5
        assert seen == list(reversed(created))

    def test_exact_multiple_has_no_empty_last_page(self, api: Api, token: str) -> None:
        for i in range(4):
            api.product(token, name=f"P{i}")
        first = api.get("/products?limit=2", token=token).json()
        second = api.get(f"/products?limit=2&cursor={first['next_cursor']}", token=token).json()
        assert len(second["items"]) == 2
        assert second["next_cursor"] is None

    @pytest.mark.parametrize(
        "query", ["limit=0", "limit=101", "limit=-1", "limit=abc", "limit=1.5"]
    )
    def test_bad_limit_is_422(self, api: Api, token: str, query: str) -> None:
        assert_problem(api.get(f"/products?{query}", token=token), 422)

    @pytest.mark.parametrize(
        "cursor", ["bogus", "eyJ0IjoxfQ", "!!!", "eyJ0IjoiMjAyNi0xMS0wMVQwMDowMDowMCIsImkiOiJ4In0"]
    )
    def test_bogus_cursor_is_422(self, api: Api, token: str, cursor: str) -> None:
        body = assert_problem(api.get(f"/products?cursor={cursor}", token=token), 422)
        assert body["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize(
    "content_type",
    ["APPLICATION/JSON", "Application/Json; charset=UTF-8", "application/merge-patch+json"],
)
def test_json_media_types_compare_case_insensitively(
    api: Api, token: str, content_type: str
) -> None:
    """Contract §6: `APPLICATION/JSON; charset=UTF-8` is JSON."""
    reply = api.post(
        "/products",
        body='{"name": "Case", "price": 100}',
        headers={"Content-Type": content_type},
        token=token,
    )
    assert reply.status == 201, reply.text
    assert reply.json()["name"] == "Case"
