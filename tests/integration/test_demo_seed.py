"""`make local ARGS=--seed-demo`: the demo seller with the fixed ids events/ names, put back in
its known state on every seeded start."""

from __future__ import annotations

from typing import Any

import psycopg

from nexus import crypto
from nexus_local import demo
from tests.support.api import Api


def _login(api: Api) -> str:
    reply = api.post(
        "/auth/login", json_body={"email": demo.DEMO_EMAIL, "password": demo.DEMO_PASSWORD}
    )
    assert reply.status == 200, reply.text
    return str(reply.json()["access_token"])


def test_the_demo_seller_has_the_fixed_ids(
    api: Api, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    demo.seed(database_url)
    token = _login(api)
    me = api.get("/auth/me", token=token).json()
    assert (me["id"], me["organization_id"]) == (demo.USER_ID, demo.ORGANIZATION_ID)
    products = api.get("/products", token=token).json()["items"]
    assert {p["id"] for p in products} == {p.id for p in demo.PRODUCTS}
    order = api.get(f"/orders/{demo.ORDER_ID}", token=token).json()
    assert (order["status"], order["amount"]) == ("pending", demo.PRODUCTS[0].price)
    integrations = api.get("/integrations", token=token).json()["items"]
    by_page = {i["external_id"]: i for i in integrations}
    assert {by_page[i.external_id]["id"] for i in demo.INTEGRATIONS} == {
        i.id for i in demo.INTEGRATIONS
    }
    assert by_page["9090"]["status"] == "disabled"


def test_a_seeded_start_puts_the_demo_back(
    api: Api, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    demo.seed(database_url)
    token = _login(api)
    retired = demo.PRODUCTS[2].id
    archive = demo.INTEGRATIONS[2].id
    # Given the events have run: a product and a page deleted, the order paid
    assert api.delete(f"/products/{retired}", token=token).status == 204
    assert api.delete(f"/integrations/{archive}", token=token).status == 204
    conn.execute("UPDATE orders SET status = 'paid' WHERE id = %s", (demo.ORDER_ID,))
    # And the seller reconnected page 1010 by hand after deleting the demo's integration
    bakery = demo.INTEGRATIONS[0]
    assert api.delete(f"/integrations/{bakery.id}", token=token).status == 204
    again = api.post(
        "/integrations",
        json_body={
            "provider": "facebook",
            "external_id": "1010",
            "name": "Mine",
            "access_token": "demo-token-bakery",
        },
        token=token,
    )
    assert again.status == 201
    # When the stack starts with --seed-demo again
    demo.seed(database_url)
    # Then the demo is as listed in demo.py
    assert api.get(f"/products/{retired}", token=token).status == 200
    assert api.get(f"/orders/{demo.ORDER_ID}", token=token).json()["status"] == "pending"
    live = {i["id"] for i in api.get("/integrations", token=token).json()["items"]}
    assert live == {i.id for i in demo.INTEGRATIONS}
    # and its page tokens open with the current key, as the consumer opens them
    for integration in demo.INTEGRATIONS:
        row = conn.execute(
            "SELECT access_token_ciphertext FROM integrations WHERE id = %s", (integration.id,)
        ).fetchone()
        assert row is not None
        assert crypto.decrypt(bytes(row[0]), integration.id) == integration.token


def test_an_earlier_demo_seller_with_random_ids_keeps_its_data_under_another_address(
    api: Api, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    # Given a demo seller registered through the API (as --seed-demo used to)
    reply = api.post(
        "/auth/register", json_body={"email": demo.DEMO_EMAIL, "password": demo.DEMO_PASSWORD}
    )
    assert reply.status == 201
    old_id = reply.json()["user"]["id"]
    demo.seed(database_url)
    # Then the demo address is the fixed-id seller's, and the old account is still there
    assert api.get("/auth/me", token=_login(api)).json()["id"] == demo.USER_ID
    row = conn.execute("SELECT email FROM users WHERE id = %s", (old_id,)).fetchone()
    assert row is not None
    assert row[0] == f"demo+{old_id[:8]}@nexus.local"
