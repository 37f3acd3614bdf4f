"""Each request is at most one short transaction; list, get, create and checkout take one
round trip to the database. Counted from libpq's own protocol trace: every simple Query and
every Sync (the end of an extended-protocol exchange) is one round trip."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

import pytest
from psycopg.pq import Trace

from functions.auth import app as auth_app
from functions.checkout import app as checkout_app
from functions.products import app as products_app
from nexus import db
from nexus_local.fake_stripe import FakeStripe, stripe_signature
from tests.support.api import Api, lambda_context
from tests.support.payments import WEBHOOK_SECRET, session_id


def count_round_trips(call: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    call()  # warm: the execution environment's connection exists from now on
    conn = db.get_connection()
    with tempfile.TemporaryFile() as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
        try:
            result = call()
        finally:
            conn.pgconn.untrace()
        os.fsync(trace.fileno())
        trace.seek(0)
        lines = trace.read().decode().splitlines()
    sent = [line.split("\t")[2] for line in lines if line.startswith("F\t")]
    return result, [m for m in sent if m in ("Query", "Sync")]


@pytest.fixture
def seller(api: Api) -> dict[str, Any]:
    token = api.seller("seller@example.com")
    me = api.get("/auth/me", token=token).json()
    product = api.product(token)
    return {"user_id": me["id"], "organization_id": me["organization_id"], "product": product}


def event(
    make_event: Any,
    route: tuple[str, str, str],
    seller: dict[str, Any] | None,
    body: Any = None,
    query: str = "",
) -> dict[str, Any]:
    method, path, route_path = route
    auth = (
        {"user_id": seller["user_id"], "organization_id": seller["organization_id"]}
        if seller
        else None
    )
    ev: dict[str, Any] = make_event(
        method,
        path,
        body=json.dumps(body) if body is not None else None,
        authorizer=auth,
        route_key=f"{method} {route_path}",
    )
    if query:
        ev["rawQueryString"] = query
        ev["queryStringParameters"] = dict(p.split("=") for p in query.split("&"))
    return ev


CASES = {
    "list products": (products_app, "GET", "/products", "/products", True, None, "limit=5"),
    "get product": (
        products_app,
        "GET",
        "/products/{id}",
        "/products/{product_id}",
        True,
        None,
        "",
    ),
    "create product": (
        products_app,
        "POST",
        "/products",
        "/products",
        True,
        {"name": "X", "price": 5},
        "",
    ),
    "store view": (
        checkout_app,
        "GET",
        "/store/products/{id}",
        "/store/products/{product_id}",
        False,
        None,
        "",
    ),
    "me": (auth_app, "GET", "/auth/me", "/auth/me", True, None, ""),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_round_trip(api: Api, seller: dict[str, Any], make_event: Any, case: str) -> None:
    module, method, path, route, authed, body, query = CASES[case]
    pid = seller["product"]["id"]
    path = path.replace("{id}", pid)
    if body is not None:
        body = json.loads(json.dumps(body).replace("{id}", pid))
    ev = event(make_event, (method, path, route), seller if authed else None, body, query)
    result, trips = count_round_trips(lambda: module.lambda_handler(dict(ev), lambda_context()))
    assert result["statusCode"] in (200, 201), result
    assert trips == ["Sync"], trips


def test_checkout_is_two_statements_with_stripe_between_outside_any_transaction(
    api: Api, stripe: FakeStripe, seller: dict[str, Any], make_event: Any
) -> None:
    body = {"product_id": seller["product"]["id"], "email": "b@example.com"}
    ev = event(make_event, ("POST", "/checkout", "/checkout"), None, body)
    result, trips = count_round_trips(
        lambda: checkout_app.lambda_handler(dict(ev), lambda_context())
    )
    assert result["statusCode"] == 201, result
    # The order (one autocommitted statement), then Stripe, then its session (another): no
    # BEGIN/COMMIT, so no transaction is open while Stripe is called.
    assert trips == ["Sync", "Sync"], trips
    assert len(stripe.sessions) == 2  # the warm-up call's and this one's


def test_webhook_is_one_transaction(
    api: Api, stripe: FakeStripe, seller: dict[str, Any], make_event: Any
) -> None:
    body = {"product_id": seller["product"]["id"], "email": "b@example.com"}
    # One order to warm up on, one to measure, each paid at the sandbox.
    for _ in range(2):
        stripe.pay(session_id(api.post("/checkout", json_body=body).json()))
    events = iter(stripe.events)

    def call() -> dict[str, Any]:
        raw = json.dumps(next(events), indent=2)
        ev = make_event("POST", "/webhooks/stripe", body=raw, route_key="POST /webhooks/stripe")
        ev["headers"]["stripe-signature"] = stripe_signature(WEBHOOK_SECRET, raw.encode())
        return dict(checkout_app.lambda_handler(ev, lambda_context()))

    result, trips = count_round_trips(call)
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["outcome"] == "applied"
    # BEGIN, lock the order, record the event, update it, read the sale for its two e-mails,
    # write them to the outbox, COMMIT: one short transaction.
    assert trips == ["Query", "Sync", "Sync", "Sync", "Sync", "Sync", "Sync", "Query"]
