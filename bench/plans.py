"""`make bench ARGS=plans`: the query plan of every analytics read (issue 15: "all reads
served by index range scans, show the plans"), on a scratch database with a seller's
year of data among many others'.

Each read is the repository's own statement: the bench calls the repository method and
captures what it sends (``nexus.db.fetch_all``), then runs ``EXPLAIN (ANALYZE, BUFFERS)`` of
that statement with its parameters and prints the plan tree's scan nodes, the rows they read
and the time. A ``Seq Scan`` on a table that grows with the data is flagged (the run fails).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from bench.environment import log_level, scoped_environment
from nexus import db
from nexus.identity import Identity
from nexus.integrations import service
from nexus.integrations.models import (
    AnalyticsQuery,
    AnalyticsSummaryQuery,
    ContentQuery,
    MetricsQuery,
)
from nexus.observability import logger
from nexus_local import postgres

TODAY = dt.datetime.now(dt.UTC).date()
# Tables whose size grows with sellers and time: a sequential scan of one is a finding.
GROWING = (
    "analytics_daily_metrics",
    "analytics_content",
    "analytics_rollup_daily",
    "analytics_account_daily",
    "ingestion_runs",
)


def seed(conn: psycopg.Connection[Any], *, sellers: int, days: int, posts: int) -> str:
    """``sellers`` organizations with one Page each: ``posts`` posts, each observed daily for
    28 days after it was made, over ``days`` days; plus rollups, account days and runs.
    Returns the first organization's id (the one whose reads are explained)."""
    first = TODAY - dt.timedelta(days=days - 1)
    conn.execute(
        "INSERT INTO organizations (id, name) SELECT gen_random_uuid(), 'o' || n"
        " FROM generate_series(1, %s) AS n",
        (sellers,),
    )
    conn.execute(
        "INSERT INTO integrations (id, organization_id, provider, external_id, name,"
        " access_token_ciphertext) SELECT gen_random_uuid(), id, 'facebook', id::text, 'P',"
        " '\\x00' FROM organizations"
    )
    conn.execute(
        "INSERT INTO analytics_content (organization_id, integration_id, content_id,"
        " created_time, message) SELECT i.organization_id, i.id, 'post-' || p,"
        " %s::timestamptz + (p * %s / %s) * interval '1 day', 'post ' || p"
        " FROM integrations i, generate_series(1, %s) AS p",
        (first, days, posts, posts),
    )
    conn.execute(
        "INSERT INTO analytics_daily_metrics (organization_id, integration_id, content_id, date,"
        " impressions, reach, reactions, comments, shares, clicks)"
        " SELECT c.organization_id, c.integration_id, c.content_id, d::date, 10 * k, 8 * k, k,"
        " k / 3, k / 5, k / 2"
        " FROM analytics_content c,"
        " generate_series(c.created_time::date, least(c.created_time::date + 27, %s), '1 day') d,"
        " LATERAL (SELECT (d::date - c.created_time::date + 1) AS k) kk",
        (TODAY,),
    )
    # The seeded views grow by 10 a day per content (a first observation is 10 too), so the
    # day's rollup is 10 per content observed: what rollup_day() would write, without its
    # per-content probes (the ingest write's cost, not this bench's subject).
    conn.execute(
        "INSERT INTO analytics_rollup_daily (organization_id, integration_id, date, views)"
        " SELECT organization_id, integration_id, date, 10 * count(*)"
        " FROM analytics_daily_metrics GROUP BY organization_id, integration_id, date"
    )
    conn.execute(
        "INSERT INTO analytics_account_daily (organization_id, integration_id, date, followers,"
        " reach) SELECT organization_id, id, d::date, 100, 50 FROM integrations,"
        " generate_series(%s::date, %s::date, '1 day') d",
        (first, TODAY),
    )
    conn.execute(
        "INSERT INTO ingestion_runs (organization_id, integration_id, date, status, finished_at)"
        " SELECT organization_id, id, d::date, 'ok', d FROM integrations,"
        " generate_series(%s::date, %s::date, '1 day') d",
        (first, TODAY),
    )
    conn.execute("ANALYZE")
    row = conn.execute("SELECT id::text FROM organizations ORDER BY id LIMIT 1").fetchone()
    assert row is not None
    return str(row[0])


@contextmanager
def captured() -> Iterator[list[tuple[Any, Any]]]:
    """The statements nexus.db.fetch_all sends while the block runs (still sent)."""
    seen: list[tuple[Any, Any]] = []
    real = db.fetch_all

    def fetch_all(row: Any, query: Any, params: Any = None) -> Any:
        seen.append((query, params))
        return real(row, query, params)

    db.fetch_all = fetch_all
    try:
        yield seen
    finally:
        db.fetch_all = real


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


# A sequential scan reading more rows than this is a finding (the planner rightly scans a
# month partition holding nothing, or a table of a few rows, in full).
SCAN_ROWS_LIMIT = 2000


def explain(url: str, query: Any, params: Any) -> tuple[list[str], float, list[str]]:
    """The scan nodes (type, table, rows read over all loops) grouped, the execution time and
    findings. Month partitions are shown as their table with the number of partitions."""
    with psycopg.connect(url, autocommit=True) as conn:
        text = query.as_string(conn) if hasattr(query, "as_string") else str(query)
        (raw,) = conn.execute(  # type: ignore[misc]
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + text, params
        ).fetchone()
    plan = (raw if isinstance(raw, list) else json.loads(raw))[0]
    grouped: dict[tuple[str, str], list[float]] = {}
    findings = []
    for node in _nodes(plan["Plan"]):
        kind = node["Node Type"]
        relation = str(node.get("Relation Name", ""))
        if "Scan" not in kind or not relation:
            continue
        loops = node.get("Actual Loops", 1)
        read = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
        table = relation.split("_y20", 1)[0]
        entry = grouped.setdefault((kind, table), [0, 0.0])
        entry[0] += 1
        entry[1] += read
        if kind == "Seq Scan" and table in GROWING and read > SCAN_ROWS_LIMIT:
            findings.append(f"sequential scan of {relation} reading {read:,.0f} rows")
    lines = [
        f"{kind} {table}" + (f" x{n}" if n > 1 else "") + f" ({read:,.0f} rows)"
        for (kind, table), (n, read) in grouped.items()
    ]
    return lines, float(plan["Execution Time"]), findings


def reads(who: Identity) -> dict[str, Callable[[], Any]]:
    month = {"from": (TODAY - dt.timedelta(days=29)).isoformat(), "to": TODAY.isoformat()}
    year = {"from": (TODAY - dt.timedelta(days=365)).isoformat(), "to": TODAY.isoformat()}
    return {
        "metrics, a month, first page": lambda: service.metrics(
            who, MetricsQuery.model_validate(month)
        ),
        "content, first page": lambda: service.content(who, ContentQuery()),
        "accounts, a year": lambda: service.accounts(who, AnalyticsQuery.model_validate(year)),
        "runs, a month": lambda: service.runs(who, AnalyticsQuery.model_validate(month)),
        "summary, a year by week": lambda: service.summary(
            who, AnalyticsSummaryQuery.model_validate({**year, "granularity": "week"})
        ),
    }


def run(*, sellers: int = 1500, days: int = 120, posts: int = 20) -> int:
    warnings.filterwarnings("ignore", module="platformdirs")
    print(
        f"Query plans of the analytics reads ({sellers} sellers, {days} days, {posts} posts each)"
    )
    with (
        postgres.scratch_database("nexus_bench_plans") as url,
        scoped_environment({"DATABASE_URL": url}),
        log_level(logger, "WARNING"),
    ):
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                t0 = time.perf_counter()
                org = seed(conn, sellers=sellers, days=days, posts=posts)
                (rows,) = conn.execute(  # type: ignore[misc]
                    "SELECT count(*) FROM analytics_daily_metrics"
                ).fetchone()
                print(f"  seeded {rows:,} metric rows in {time.perf_counter() - t0:.1f} s")
            who = Identity(user_id=str(uuid.uuid4()), organization_id=org)
            failures = []
            for name, call in reads(who).items():
                with captured() as seen:
                    call()
                print(f"- {name}")
                for query, params in seen:
                    lines, ms, findings = explain(url, query, params)
                    print(f"    {ms:.2f} ms: " + "; ".join(lines))
                    failures += [f"{name}: {f}" for f in findings]
        finally:
            db.close()
    for failure in failures:
        print(f"FINDING {failure}")
    return 1 if failures else 0
