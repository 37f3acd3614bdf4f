"""API bench: requests per second per route, through each function's handler in-process
against the embedded PostgreSQL, beside a bare ``SELECT 1`` round trip in the same run.

The gap between a route and SELECT 1 is what the route costs beyond one round trip:
validation, serialisation, the query itself (bcrypt is excluded: login is not timed).
"""

from __future__ import annotations

import functools
import json
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import psycopg

from bench.environment import log_level, scoped_environment
from nexus import db
from nexus.observability import logger
from nexus_local import postgres
from nexus_local.apigw import HttpRequest, build_event
from nexus_local.fake_stripe import FakeStripe
from nexus_local.runtime import LambdaContext, load_module
from nexus_local.template import parse

SECRETS = {
    "JWT_SECRET": "bench-" + "x" * 58,
    "PASSWORD_PEPPER": "bench-pepper",
    "STRIPE_SECRET_KEY": "sk_test_bench",
    "STRIPE_WEBHOOK_SECRET": "whsec_bench",
    "VISITOR_KEY": "bench-visitor-key-" + "v" * 32,
    # registration seals the verification link's token
    "TOKEN_ENCRYPTION_KEY": "bench-token-encryption-key-" + "t" * 32,
    "BCRYPT_ROUNDS": "4",
}


def _context() -> Any:
    return LambdaContext("bench", 512, "arn:aws:lambda:us-east-1:0:function:bench", "r", 1e12)


def _event(
    method: str, path: str, route: str, body: Any = None, auth: Any = None, *, query: str = ""
) -> dict[str, Any]:
    raw = json.dumps(body).encode() if body is not None else b""
    req = HttpRequest(method, path, query, {"content-type": "application/json"}, raw)
    params = dict(p.split("=", 1) for p in query.split("&")) if query else None
    event = build_event(req, f"{method} {route}", None, auth)
    if params:
        event["queryStringParameters"] = params
    return event


def _time(call: Callable[[], Any], seconds: float) -> tuple[int, float]:
    for _ in range(20):  # warm up
        call()
    samples: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    return len(samples), statistics.median(samples) * 1000


def run(seconds: float = 2.0) -> int:
    """The scratch database and the secrets are this bench's alone: ``DATABASE_URL`` and
    the rest are restored afterwards, so a later bench (``make bench`` runs ingest next)
    does not reach this one's dropped database on a stopped server."""
    warnings.filterwarnings("ignore", module="platformdirs")
    stripe = FakeStripe(SECRETS["STRIPE_SECRET_KEY"], SECRETS["STRIPE_WEBHOOK_SECRET"])
    with (
        postgres.scratch_database("nexus_bench") as url,
        stripe,  # checkout creates a Checkout Session: at the sandbox, on this machine
        scoped_environment(
            {**SECRETS, "DATABASE_URL": url, "STRIPE_API_BASE_URL": stripe.base_url}
        ),
        log_level(logger, "WARNING"),
    ):
        try:
            return _run(url, seconds)
        finally:
            db.close()


def _run(url: str, seconds: float) -> int:
    app = parse()
    handlers = {fid: load_module(fn).lambda_handler for fid, fn in app.functions.items()}
    ctx = _context()

    def call(fid: str, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = handlers[fid](dict(event), ctx)
        assert result["statusCode"] < 400, result
        return result

    reg = call(
        "AuthFunction",
        _event(
            "POST",
            "/auth/register",
            "/auth/register",
            {"email": "bench@example.com", "password": "bench pass 123"},
        ),
    )
    user = json.loads(reg["body"])["user"]
    auth = {"user_id": user["id"], "organization_id": user["organization_id"]}
    for i in range(100):
        call(
            "ProductsFunction",
            _event("POST", "/products", "/products", {"name": f"P{i}", "price": 100 + i}, auth),
        )
    product = json.loads(
        call(
            "ProductsFunction",
            _event("POST", "/products", "/products", {"name": "Bench", "price": 999}, auth),
        )["body"]
    )
    pid = product["id"]
    order = json.loads(
        call(
            "CheckoutFunction",
            _event("POST", "/checkout", "/checkout", {"product_id": pid, "email": "b@example.com"}),
        )["body"]
    )

    cases: list[tuple[str, str, dict[str, Any]]] = [
        (
            "GET /products?limit=20",
            "ProductsFunction",
            _event("GET", "/products", "/products", None, auth, query="limit=20"),
        ),
        (
            "GET /products/{id}",
            "ProductsFunction",
            _event("GET", f"/products/{pid}", "/products/{product_id}", None, auth),
        ),
        (
            "POST /products",
            "ProductsFunction",
            _event("POST", "/products", "/products", {"name": "N", "price": 1}, auth),
        ),
        (
            "PATCH /products/{id}",
            "ProductsFunction",
            _event("PATCH", f"/products/{pid}", "/products/{product_id}", {"price": 995}, auth),
        ),
        (
            "GET /store/products/{id}",
            "CheckoutFunction",
            _event("GET", f"/store/products/{pid}", "/store/products/{product_id}"),
        ),
        (
            "POST /checkout",
            "CheckoutFunction",
            _event("POST", "/checkout", "/checkout", {"product_id": pid, "email": "b@example.com"}),
        ),
        (
            "GET /checkout/orders/{id}",
            "CheckoutFunction",
            _event("GET", f"/checkout/orders/{order['id']}", "/checkout/orders/{order_id}"),
        ),
        (
            "GET /orders?limit=20",
            "CheckoutFunction",
            _event("GET", "/orders", "/orders", None, auth, query="limit=20"),
        ),
        ("GET /auth/me", "AuthFunction", _event("GET", "/auth/me", "/auth/me", None, auth)),
    ]

    conn = psycopg.connect(url, autocommit=True, prepare_threshold=None)
    n, base_ms = _time(lambda: conn.execute("SELECT 1").fetchone(), seconds)
    conn.close()
    print(
        f"API bench: each route through its handler in-process, {seconds:.0f} s each,"
        " embedded PostgreSQL over a Unix socket\n"
    )
    header = f"{'route':<28}{'requests':>9}{'req/s':>9}{'median ms':>11}{'x SELECT 1':>12}"
    print(header)
    print("-" * len(header))
    print(f"{'SELECT 1 (baseline)':<28}{n:>9}{n / seconds:>9.0f}{base_ms:>11.3f}{1.0:>12.1f}")
    for name, fid, event in cases:
        # Statistics as autovacuum keeps them: earlier cases inserted thousands of rows.
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("ANALYZE")
        n, ms = _time(functools.partial(call, fid, event), seconds)
        print(f"{name:<28}{n:>9}{n / seconds:>9.0f}{ms:>11.3f}{ms / base_ms:>12.1f}", flush=True)
    return 0
