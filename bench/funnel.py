"""Funnel bench: what counting store page views costs the public page under load.

``GET /store/products/{id}`` is sent by 32 concurrent clients, each a visitor of its own (a
source IP per client) with an execution environment of its own (CheckoutFunction in-process
through the local runtime's thread environments, each with its own database connection, as
32 Lambda environments would have), against the embedded PostgreSQL. In one run, interleaved
in rounds so machine drift hits every mode alike:

- without counting (the baseline): the page's one SELECT;
- counting in one statement (the shipped CTE) by returning visitors: after each client's
  first view, every insert conflicts and writes nothing;
- counting in one statement, a new visitor every request (a User-Agent per request): every
  view is a new row, a commit with its WAL flush;
- counting in two statements, the read then an autocommitted INSERT, new visitors as above:
  the alternative the CTE was chosen over.

p50 and p95 latency per mode, and each over the baseline, are printed; the store_views rows
written are checked against the visitors that were sent.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import psycopg

from bench.api import SECRETS, _event
from bench.environment import log_level, scoped_environment
from nexus import db
from nexus.identity import Visitor
from nexus.observability import logger
from nexus.products import service as products
from nexus.products.models import StoreProductOut
from nexus.products.repository import ProductRepository
from nexus_local import postgres
from nexus_local.runtime import Runtime
from nexus_local.template import parse

CLIENTS = 32
ROUTE = "/store/products/{product_id}"
FUNCTION = "CheckoutFunction"


@contextmanager
def _uncounted() -> Iterator[None]:
    """The page as it was before the funnel: no visitor, so no key and no insert."""
    shipped = products.store_view

    def store_view(raw_id: str, visitor: Visitor | None = None, **kw: Any) -> StoreProductOut:
        return shipped(raw_id, **kw)

    products.store_view = store_view
    try:
        yield
    finally:
        products.store_view = shipped


def _two_statements(
    self: ProductRepository, *, product_id: str, day: date, visitor: bytes
) -> tuple[StoreProductOut | None, str | None]:
    product = self.get_public(product_id=product_id)
    if product is not None:
        db.execute(
            "INSERT INTO store_views (product_id, day, visitor) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (product_id, day, visitor),
        )
    return product, None


@contextmanager
def _separate_insert() -> Iterator[None]:
    shipped = ProductRepository.get_public_counted
    ProductRepository.get_public_counted = _two_statements  # type: ignore[method-assign]
    try:
        yield
    finally:
        ProductRepository.get_public_counted = shipped  # type: ignore[method-assign]


@contextmanager
def _shipped() -> Iterator[None]:
    yield


# name, how the page runs, whether each request is a new visitor
MODES: tuple[tuple[str, Callable[[], Any], bool], ...] = (
    ("without counting (baseline)", _uncounted, False),
    ("1 statement, returning visitors", _shipped, False),
    ("1 statement, a new visitor each", _shipped, True),
    ("2 statements, a new visitor each", _separate_insert, True),
)


def _load(
    runtime: Runtime, product_id: str, seconds: float, *, new_visitors: bool, tag: str
) -> tuple[list[float], int]:
    """Latencies (ms) from CLIENTS concurrent clients for ``seconds`` after a warm-up, and
    how many visitors they were (warm-up calls included)."""
    path = f"/store/products/{product_id}"
    base = _event("GET", path, ROUTE)
    base["pathParameters"] = {"product_id": product_id}
    latencies: list[float] = []
    calls: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def client(n: int) -> None:
        mine: list[float] = []
        event = {**base, "requestContext": {**base["requestContext"]}}
        event["requestContext"]["http"] = {
            **base["requestContext"]["http"],
            "sourceIp": f"10.0.{n // 250}.{n % 250 + 1}",
        }
        count = 0

        def call() -> None:
            nonlocal count
            count += 1
            agent = f"bench/{tag}/{count}" if new_visitors else f"bench/{tag}"
            result = runtime.invoke(FUNCTION, {**event, "headers": {"user-agent": agent}})
            assert result["statusCode"] == 200, result

        for _ in range(5):  # its environment started, the connection open
            call()
        start.wait(timeout=120)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            call()
            mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(mine)
            calls.append(count)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, sum(calls) if new_visitors else CLIENTS


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49], cuts[94]


def _seed(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        org = conn.execute("INSERT INTO organizations (name) VALUES ('bench') RETURNING id")
        org_id = org.fetchone()[0]  # type: ignore[index]
        user = conn.execute(
            "INSERT INTO users (organization_id, email, password_hash)"
            " VALUES (%s, 'funnel@example.com', 'x') RETURNING id",
            (org_id,),
        ).fetchone()[0]  # type: ignore[index]
        product = conn.execute(
            "INSERT INTO products (organization_id, created_by, name, price)"
            " VALUES (%s, %s, 'Bench', 999) RETURNING id::text",
            (org_id, user),
        ).fetchone()[0]  # type: ignore[index]
    return str(product)


def run(seconds: float = 2.0, rounds: int = 3) -> int:
    with (
        postgres.scratch_database("nexus_bench_funnel") as url,
        scoped_environment({**SECRETS, "DATABASE_URL": url}),
        log_level(logger, "WARNING"),
    ):
        runtime = Runtime(parse(), concurrency=CLIENTS)
        try:
            return _run(url, runtime, seconds, rounds)
        finally:
            runtime.shutdown()
            db.close()


def _run(url: str, runtime: Runtime, seconds: float, rounds: int) -> int:
    product_id = _seed(url)
    samples: dict[str, list[float]] = {name: [] for name, _, _ in MODES}
    expected = 0  # rows: one per visitor of a counting mode
    for r in range(rounds):
        for name, patch, new_visitors in MODES:
            with patch():
                latencies, visitors = _load(
                    runtime, product_id, seconds, new_visitors=new_visitors, tag=f"{r}-{name}"
                )
            samples[name] += latencies
            expected += 0 if patch is _uncounted else visitors
    with psycopg.connect(url, autocommit=True) as conn:
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings"
                " WHERE name IN ('fsync', 'synchronous_commit')"
            ).fetchall()
        )
        rows = conn.execute("SELECT count(*) FROM store_views").fetchone()[0]  # type: ignore[index]
    print(
        f"Funnel bench: GET /store/products/{{id}}, {CLIENTS} concurrent clients (each its own"
        " visitor and CheckoutFunction environment, in-process), embedded PostgreSQL"
        f" (fsync={settings.get('fsync')},"
        f" synchronous_commit={settings.get('synchronous_commit')}),"
        f" {rounds} rounds x {seconds:g} s per mode, interleaved\n"
    )
    header = f"{'mode':<34}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p50 x':>8}{'p95 x':>8}"
    print(header)
    print("-" * len(header))
    base50, base95 = _percentiles(samples[MODES[0][0]])
    for name, _, _ in MODES:
        p50, p95 = _percentiles(samples[name])
        print(
            f"{name:<34}{len(samples[name]):>9}{p50:>9.2f}{p95:>9.2f}"
            f"{p50 / base50:>8.2f}{p95 / base95:>8.2f}"
        )
    print(f"\nstore_views rows: {rows}, one per visitor sent ({expected})")
    if rows != expected:
        print("error: the views counted are not the visitors sent")
        return 1
    return 0
