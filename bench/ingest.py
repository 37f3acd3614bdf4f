"""Ingestion benchmarks, each beside the seed's approach in the same run.

1. One integration with 1,000 posts from the fake Graph server at 50 ms per request: our
   client (field expansion, one request per 100 posts) and one-statement store, versus one
   insights request per post and one upsert per row.
2. Upserting 10,000 metric rows: one unnest statement versus a per-row loop and versus
   psycopg's executemany (pipelined).
3. Fan-out of 10,000 integrations: SendMessageBatch calls and SQL statements.
"""

from __future__ import annotations

import time
import uuid
import warnings
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from bench.environment import log_level, scoped_environment
from nexus import db
from nexus.graph.catalogue import METRICS
from nexus.graph.client import GraphClient, Post, make_session
from nexus.ingest import fanout
from nexus.ingest.repository import IngestRepository
from nexus.observability import logger
from nexus_local import postgres
from nexus_local.fake_graph import FakeGraph, FakePage, make_posts

LATENCY = 0.05
SNAPSHOT = datetime.now(UTC).date()

_NAMES = [sql.Identifier(m) for m in METRICS]
# The seed's way, one row per statement: composed like the repository's, never an f-string.
_ROW_UPSERT = (
    sql.SQL(
        "INSERT INTO analytics_daily_metrics AS t (organization_id, integration_id, content_id,"
        " date, {columns}) VALUES (%s, %s, %s, %s, {values})"
        " ON CONFLICT (organization_id, integration_id, content_id, date) WHERE deleted_at IS NULL"
        " DO UPDATE SET {coalesce}"
    )
    .format(
        columns=sql.SQL(", ").join(_NAMES),
        values=sql.SQL(", ").join(sql.Placeholder() for _ in METRICS),
        coalesce=sql.SQL(", ").join(
            sql.SQL("{m} = COALESCE(EXCLUDED.{m}, t.{m})").format(m=m) for m in _NAMES
        ),
    )
    .as_bytes()
)  # rendered once, so the per-row loop is not charged for composing it


_CONTENT_UPSERT = (
    "INSERT INTO analytics_content AS t (organization_id, integration_id, content_id,"
    " created_time, message) VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (organization_id, integration_id, content_id) DO UPDATE"
    " SET created_time = EXCLUDED.created_time, message = EXCLUDED.message"
)


def _content(org: str, integration: str, post: Post) -> tuple[Any, ...]:
    return (org, integration, post.content_id, post.created_time, post.message)


def _tenant(conn: psycopg.Connection[Any]) -> tuple[str, str]:
    (org,) = conn.execute(
        "INSERT INTO organizations (name) VALUES ('b') RETURNING id::text"
    ).fetchone()  # type: ignore[misc]
    (integration,) = conn.execute(  # type: ignore[misc]
        "INSERT INTO integrations (organization_id, provider, external_id, name,"
        " access_token_ciphertext) VALUES (%s, 'facebook', %s, 'P', '\\x00') RETURNING id::text",
        (org, uuid.uuid4().hex),
    ).fetchone()
    return org, integration


def _row(org: str, integration: str, post: Post) -> tuple[Any, ...]:
    return (org, integration, post.content_id, SNAPSHOT, *[post.metrics[m] for m in METRICS])


def bench_ingest(url: str, posts: int = 1000, latency: float = LATENCY) -> None:
    graph = FakeGraph(
        [FakePage(id="777", token="bench-token", posts=make_posts("777", posts))], latency=latency
    )
    base = graph.start()
    since = int((datetime.now(UTC) - timedelta(days=28)).timestamp())
    until = int((datetime.now(UTC) + timedelta(days=1)).timestamp())
    conn = psycopg.connect(url, autocommit=True, prepare_threshold=None)
    try:
        # Ours
        org, integration = _tenant(conn)
        t0 = time.perf_counter()
        client = GraphClient("bench-token", base_url=base, version="v23.0", session=make_session())
        result = client.page_posts("777", since, until)
        IngestRepository().save_snapshot(
            organization_id=org,
            integration_id=integration,
            snapshot=SNAPSHOT,
            posts=result.posts,
            status="ok",
            error_code=None,
        )
        ours = time.perf_counter() - t0
        ours_requests = result.requests

        # The seed's way: list the posts, then one request per post, one upsert per row.
        org, integration = _tenant(conn)
        session = make_session()
        headers = {"Authorization": "Bearer bench-token"}
        metric_names = ",".join(
            [
                "post_media_view",
                "post_total_media_view_unique",
                "post_reactions_by_type_total",
                "post_video_views",
                "post_clicks",
            ]
        )
        t0 = time.perf_counter()
        requests_made = 0
        ids: list[str] = []
        after = None
        while True:
            params: dict[str, Any] = {"fields": "id", "since": since, "until": until, "limit": 100}
            if after:
                params["after"] = after
            body = session.get(
                f"{base}/v23.0/777/posts", params=params, headers=headers, timeout=10
            ).json()
            requests_made += 1
            ids += [p["id"] for p in body["data"]]
            after = body.get("paging", {}).get("cursors", {}).get("after")
            if not body.get("paging", {}).get("next"):
                break
        for post_id in ids:
            data = session.get(
                f"{base}/v23.0/{post_id}/insights",
                params={"metric": metric_names},
                headers=headers,
                timeout=10,
            ).json()["data"]
            requests_made += 1
            values = {d["name"]: d["values"][-1]["value"] for d in data}
            post = Post(post_id, None, None, {m: None for m in METRICS})
            post.metrics["impressions"] = values.get("post_media_view")
            conn.execute(_CONTENT_UPSERT, _content(org, integration, post))
            conn.execute(_ROW_UPSERT, _row(org, integration, post))
        seed = time.perf_counter() - t0
    finally:
        conn.close()
        graph.stop()
    print(
        f"1. Ingest one integration, {posts:,} posts, fake Graph at {latency * 1000:.0f} ms/request"
    )
    print(f"   {'':<34}{'HTTP requests':>14}{'wall s':>9}")
    print(f"   {'ours (field expansion + unnest)':<34}{ours_requests:>14}{ours:>9.2f}")
    print(f"   {'seed (request + upsert per post)':<34}{requests_made:>14}{seed:>9.2f}")
    print(
        f"   → {requests_made / ours_requests:.0f}x fewer requests, {seed / ours:.1f}x faster"
        f" (targets: ≤ 20 requests, ≥ 20x)\n"
    )


def bench_upsert(url: str, rows: int = 10_000) -> None:
    posts = [
        Post(f"p_{i}", datetime.now(UTC), None, {m: i + j for j, m in enumerate(METRICS)})
        for i in range(rows)
    ]
    conn = psycopg.connect(url, autocommit=True, prepare_threshold=None)
    timings: dict[str, float] = {}
    try:
        org, integration = _tenant(conn)
        t0 = time.perf_counter()
        IngestRepository().save_snapshot(
            organization_id=org,
            integration_id=integration,
            snapshot=SNAPSHOT,
            posts=posts,
            status="ok",
            error_code=None,
        )
        timings["one unnest statement"] = time.perf_counter() - t0

        org, integration = _tenant(conn)
        t0 = time.perf_counter()
        with conn.transaction():
            for post in posts:
                conn.execute(_CONTENT_UPSERT, _content(org, integration, post))
                conn.execute(_ROW_UPSERT, _row(org, integration, post))
        timings["per-row loop"] = time.perf_counter() - t0

        org, integration = _tenant(conn)
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(_CONTENT_UPSERT, [_content(org, integration, p) for p in posts])
            cur.executemany(_ROW_UPSERT, [_row(org, integration, p) for p in posts])
        timings["executemany (pipelined)"] = time.perf_counter() - t0
    finally:
        conn.close()
    ours = timings["one unnest statement"]
    print(f"2. Upsert {rows:,} metric rows and their content rows")
    for name, seconds in timings.items():
        print(
            f"   {name:<26}{seconds * 1000:>9.0f} ms{rows / seconds:>10.0f} rows/s"
            f"{seconds / ours:>7.1f}x ours"
        )
    print("   (targets: ≥ 10x the loop, ≥ 2x executemany; a Unix socket here, so every round")
    print("   trip the loop makes costs far more across a network to RDS Proxy)\n")


class _CountingSqs:
    def __init__(self) -> None:
        self.calls = 0
        self.messages = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        self.calls += 1
        self.messages += len(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def bench_fanout(url: str, count: int = 10_000) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        (org,) = conn.execute(
            "INSERT INTO organizations (name) VALUES ('f') RETURNING id"
        ).fetchone()  # type: ignore[misc]
        conn.execute(
            "INSERT INTO integrations (organization_id, provider, external_id, name,"
            " access_token_ciphertext) SELECT %s, 'facebook', 'f-' || g, 'P', '\\x01'"
            " FROM generate_series(1, %s) g",
            (org, count),
        )
    sqs = _CountingSqs()
    with scoped_environment({"INGEST_QUEUE_URL": "https://sqs.example/queue"}):
        t0 = time.perf_counter()
        result = fanout.run(date(2026, 11, 21), sqs=sqs)
        elapsed = time.perf_counter() - t0
    print(f"3. Fan-out of {count:,} integrations (SQS answered in-process)")
    print(
        f"   messages {sqs.messages:,}, SendMessageBatch calls {sqs.calls:,},"
        f" SQL statements {result.statements}, {elapsed * 1000:.0f} ms"
    )


def run(
    *, posts: int = 1000, rows: int = 10_000, integrations: int = 10_000, latency: float = LATENCY
) -> int:
    """Everything this bench sets (``DATABASE_URL``, the queue URL, the log level) is
    restored afterwards. The sizes are parameters so a test can run it small."""
    warnings.filterwarnings("ignore", module="platformdirs")
    with (
        postgres.scratch_database("nexus_bench_ingest") as url,
        scoped_environment({"DATABASE_URL": url}),
        log_level(logger, "WARNING"),
    ):
        try:
            bench_fanout(url, integrations)
            bench_upsert(url, rows)
            bench_ingest(url, posts, latency)
        finally:
            db.close()
    return 0
