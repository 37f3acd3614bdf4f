"""`make bench ARGS=scale`: how reads, writes, exports and the daily run behave as the data
and the number of sellers grow (issue 15, item 6), each figure beside its baseline and goal.

Two data sets, identical for the seller whose reads are timed, different in everyone else:

- ``100k``: about 100,000 metric rows; ``10m``: about 10,000,000.
- Every integration has 36 posts, one every 10 days over the last 360 days, each observed on
  28 consecutive days (as the daily job does), its content row and its daily rollups, spread
  over the month partitions of a year.
- The timed seller has one integration. A "big" seller owns about 1 million rows of the 10M
  set (100,000 of the small one): the export's subject.

They are built with ``COPY`` (the rows are generated once per integration and copied as text)
into databases of an embedded PostgreSQL kept under ``.local/bench/pgdata`` (or
``$DATABASE_URL``'s server), and reused by the next run while the migrations and this
generator are unchanged: the first run on a fresh clone builds them (a few minutes for 10M
rows on 2 cores), later runs start at once.

Figures:

1. Read p50/p95 of one integration-month of metrics (``GET /analytics/metrics``'s first page)
   and of a month's summary by day, at 100k and at 10M rows, through the service the API
   calls; the two data sets are read in alternating rounds so the machine's noise falls on
   both. Goal: 10M/100k ≤ 1.5.
2. Upsert throughput (the ingest write of 1,000 posts: content, metrics, rollups, the run, in
   one statement) at 10M rows vs an empty database. Goal: at least 0.8.
3. Export of the big seller's year: rows/s and the worker's peak resident memory, in a process
   of its own (what Lambda's "Max Memory Used" reports), at 100k and at 1M rows, through moto's
   S3 over HTTP. Goal: ≤ 256 MB, and no growth with the rows.
4. Fan-out of 100,000 integrations through moto's SQS over HTTP: SendMessageBatch calls, wall
   time; then one ingest job's time against the sandbox Graph, and the capacity table of the
   template's ingest settings against the daily window, with the RDS Proxy budget.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.environment import log_level, scoped_environment
from nexus import crypto, db
from nexus.exports.models import ExportJob
from nexus.exports.repository import ExportRepository
from nexus.graph.catalogue import METRICS
from nexus.graph.client import GraphClient, Post, make_session
from nexus.identity import Identity
from nexus.ingest import consumer, fanout
from nexus.ingest.job import IngestJob
from nexus.ingest.repository import IngestRepository
from nexus.integrations import service
from nexus.integrations.models import AnalyticsSummaryQuery, MetricsQuery
from nexus.observability import logger
from nexus_local import postgres
from nexus_local.aws import LocalAws, use_local_endpoint
from nexus_local.fake_graph import FakeGraph, FakePage, make_posts
from nexus_local.fake_meta import FakeMeta, FakeUser
from nexus_local.template import load, parse

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / ".local" / "bench" / "pgdata"
MIGRATIONS = ROOT / "layers" / "shared" / "nexus" / "db" / "migrations"
# Bump when the generated data changes: a cached data set of another version is rebuilt.
GENERATOR = "7"
TODAY = datetime.now(UTC).date()
FIRST = TODAY - timedelta(days=359)
POSTS, EVERY, OBSERVED = 36, 10, 28


@dataclass(frozen=True)
class Sizes:
    """What the bench builds and runs; the defaults are the issue's, a test runs it small."""

    small: tuple[int, int] = (100_000, 100_000)  # (metric rows, the big seller's rows)
    large: tuple[int, int] = (10_000_000, 1_000_000)
    read_rounds: int = 10
    reads_per_round: int = 30
    upsert_posts: int = 1000
    upsert_rounds: int = 5
    fanout: int = 100_000
    jobs: int = 20


SECRETS = {"TOKEN_ENCRYPTION_KEY": "bench-token-encryption-key-0123456789abcdef"}


def rows_per_integration() -> int:
    return sum(
        min(OBSERVED, (TODAY - (FIRST + timedelta(days=p * EVERY))).days + 1) for p in range(POSTS)
    )


@dataclass(frozen=True)
class DataSet:
    name: str
    url: str
    target_org: str
    target_integration: str
    big_org: str
    rows: int
    built: date  # the day its data ends: its reads are timed on its own days


def fingerprint(rows: int, big: int) -> str:
    """What a cached data set must match: the schema, this generator, its size and month
    (the migrations made its partitions from then to three months ahead; its reads are
    timed on its own days, so a set built earlier in the month serves as well)."""
    digest = hashlib.sha256(f"{GENERATOR} {rows} {big} {TODAY:%Y-%m}".encode())
    for path in sorted(MIGRATIONS.glob("*.sql")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _copy(conn: psycopg.Connection[Any], table: str, columns: str, chunks: Iterator[str]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for chunk in chunks:
            copy.write(chunk)


def _metric_block() -> str:
    """One integration's metric rows as COPY text, with ``@O``/``@I`` for its ids: every
    integration's rows are the same but for them (replaced per integration, not per row)."""
    out = io.StringIO()
    for p in range(POSTS):
        created = FIRST + timedelta(days=p * EVERY)
        for d in range(OBSERVED):
            day = created + timedelta(days=d)
            if day > TODAY:
                break
            k = d + 1
            out.write(
                f"@O\t@I\tpost-{p}\t{day.isoformat()}\t{10 * k + p}\t{8 * k}\t{k}\t{k // 3}"
                f"\t{k // 5}\t{k // 2}\t{k // 4}\n"
            )
    return out.getvalue()


def _rollup_block() -> str:
    """One integration's daily rollups as COPY text (``@O``/``@I`` as above). The seeded
    views grow by 10 a day per content (a first observation counts 10 too), reactions by 1:
    each day's rollup is that times the contents observed, what rollup_day() would write
    (the ingest write's own cost is figure 2)."""
    observed: dict[date, int] = {}
    for p in range(POSTS):
        created = FIRST + timedelta(days=p * EVERY)
        for d in range(OBSERVED):
            day = created + timedelta(days=d)
            if day <= TODAY:
                observed[day] = observed.get(day, 0) + 1
    return "".join(
        f"@O\t@I\t{day.isoformat()}\t{10 * n}\t{n}\t0\t0\t0\t0\n"
        for day, n in sorted(observed.items())
    )


def _content_block() -> str:
    return "".join(
        f"@O\t@I\tpost-{p}\t{(FIRST + timedelta(days=p * EVERY)).isoformat()}T12:00:00Z"
        f"\tpost {p}: what the seller wrote\n"
        for p in range(POSTS)
    )


@contextmanager
def reindexed(conn: psycopg.Connection[Any], table: str, steps: list[str]) -> Iterator[None]:
    """``table``'s unique constraints and indexes dropped for the block and made again as
    they were afterwards: one sort each instead of millions of insertions into them."""
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype IN ('p', 'u')",
        (table,),
    ).fetchall()
    for constraint, _definition in constraints:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"')
    # A partitioned table's index definition says ON ONLY it: made without ONLY, each index
    # is built on every partition too.
    indexes = conn.execute(
        "SELECT indexname, replace(indexdef, ' ON ONLY ', ' ON ') FROM pg_indexes"
        " WHERE tablename = %s",
        (table,),
    ).fetchall()
    for index, _definition in indexes:
        conn.execute(f'DROP INDEX "{index}"')
    yield
    t0 = time.perf_counter()
    for _index, definition in indexes:
        conn.execute(definition)
    for constraint, definition in constraints:
        conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {definition}')
    steps.append(f"{table} indexes {time.perf_counter() - t0:.0f} s")


def build(url: str, name: str, rows: int, big_rows: int) -> None:
    """The data set ``name`` into the (migrated, empty) database at ``url``."""
    per = rows_per_integration()
    count = math.ceil(rows / per)
    big = max(1, min(count - 2, math.ceil(big_rows / per)))
    # Integration 0 is the timed seller's; 1..big the big seller's; the rest one seller each.
    orgs = [str(uuid.uuid4()) for _ in range(count - big + 1)]
    owners = [orgs[0]] + [orgs[1]] * big + orgs[2:]
    integrations = [str(uuid.uuid4()) for _ in range(count)]
    pairs = list(zip(integrations, owners, strict=True))
    steps: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET work_mem = '256MB'")
        # The rows reference their integration by construction: the foreign keys' per-row
        # checks are skipped for the load (a superuser's setting; without it, only slower).
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET session_replication_role = replica")
        t0 = time.perf_counter()
        _copy(conn, "organizations", "id, name", iter(["".join(f"{o}\tseller\n" for o in orgs)]))
        _copy(
            conn,
            "integrations",
            "id, organization_id, provider, external_id, name, access_token_ciphertext",
            iter(
                [
                    "".join(
                        f"{i}\t{o}\tfacebook\tpage-{n}\tPage {n}\t\\\\x00\n"
                        for n, (i, o) in enumerate(pairs)
                    )
                ]
            ),
        )
        _copy(
            conn,
            "analytics_content",
            "organization_id, integration_id, content_id, created_time, message",
            (_content_block().replace("@O", o).replace("@I", i) for i, o in pairs),
        )
        with reindexed(conn, "analytics_daily_metrics", steps):
            _copy(
                conn,
                "analytics_daily_metrics",
                "organization_id, integration_id, content_id, date, impressions, reach,"
                " reactions, comments, shares, clicks, saves",
                (_metric_block().replace("@O", o).replace("@I", i) for i, o in pairs),
            )
            steps.append(f"COPY {time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        with reindexed(conn, "analytics_rollup_daily", steps):
            _copy(
                conn,
                "analytics_rollup_daily",
                "organization_id, integration_id, date, views, reactions, comments, shares,"
                " saves, clicks",
                (_rollup_block().replace("@O", o).replace("@I", i) for i, o in pairs),
            )
            steps.append(f"rollups {time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
        steps.append(f"vacuum {time.perf_counter() - t0:.0f} s")
        conn.execute(
            "CREATE TABLE bench_data_set AS SELECT %s::text AS fingerprint, %s::uuid AS"
            " target_org, %s::uuid AS target_integration, %s::uuid AS big_org, %s::date AS built",
            (fingerprint(rows, big_rows), orgs[0], integrations[0], orgs[1], TODAY),
        )
    print(f"  {name}: " + ", ".join(steps))


def label(rows: int) -> str:
    return f"{rows // 1_000_000}m" if rows >= 1_000_000 else f"{rows // 1000}k"


def data_set(admin: str, rows: int, big_rows: int) -> DataSet:
    """The cached data set of ``rows`` metric rows, (re)built when missing or stale."""
    name = label(rows)
    url = postgres.replace_database(admin, f"nexus_bench_scale_{name}")
    found = None
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            found = conn.execute(
                "SELECT fingerprint, target_org::text, target_integration::text, big_org::text,"
                " built, (SELECT sum(reltuples)::bigint FROM pg_class WHERE relkind = 'r'"
                " AND relname LIKE 'analytics_daily_metrics_y%%') FROM bench_data_set"
            ).fetchone()
    except psycopg.Error:
        found = None
    if found is None or found[0] != fingerprint(rows, big_rows):
        t0 = time.perf_counter()
        postgres.ensure_database(admin, f"nexus_bench_scale_{name}", recreate=True)
        postgres.migrate_url(url)
        build(url, name, rows, big_rows)
        print(f"  built the {name} data set with COPY in {time.perf_counter() - t0:.0f} s")
        return data_set(admin, rows, big_rows)
    return DataSet(name, url, found[1], found[2], found[3], int(found[5]), found[4])


@contextmanager
def on(url: str) -> Iterator[None]:
    """The layer's connection (nexus.db) on ``url`` for the block."""
    db.close()
    with scoped_environment({"DATABASE_URL": url}):
        try:
            yield
        finally:
            db.close()


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[math.ceil(0.95 * len(ordered)) - 1] * 1000


def reads(small: DataSet, large: DataSet, sizes: Sizes) -> list[tuple[str, float]]:
    def calls(s: DataSet) -> dict[str, Callable[[], Any]]:
        who = Identity(user_id=str(uuid.uuid4()), organization_id=s.target_org)
        scope = {
            "from": (s.built - timedelta(days=29)).isoformat(),
            "to": s.built.isoformat(),
            "integration_id": s.target_integration,
        }
        return {
            "metrics, one integration-month": lambda: service.metrics(
                who, MetricsQuery.model_validate(scope)
            ),
            "summary, a month by day": lambda: service.summary(
                who, AnalyticsSummaryQuery.model_validate(scope)
            ),
        }

    samples: dict[tuple[str, str], list[float]] = {}
    answers: dict[tuple[str, str], int] = {}  # rows or buckets answered
    for _round in range(sizes.read_rounds):
        for s in (small, large):
            with on(s.url):
                for what, call in calls(s).items():
                    call()  # warm: this round's connection and plans
                    for _ in range(sizes.reads_per_round):
                        t0 = time.perf_counter()
                        answer = call()
                        samples.setdefault((what, s.name), []).append(time.perf_counter() - t0)
                    shape = answer.model_dump()
                    answers[(what, s.name)] = len(shape.get("items") or shape.get("buckets"))
    print(
        f"1. Reads of the timed seller ({sizes.read_rounds * sizes.reads_per_round} each,"
        f" alternating rounds): {small.rows:,} vs {large.rows:,} metric rows"
    )
    print(f"   {'':<34}{'p50 ms':>9}{'p95 ms':>9}{'p50 ms':>9}{'p95 ms':>9}{'p95 ratio':>11}")
    figures = []
    for what in calls(small):
        a, b = _ms(samples[(what, small.name)]), _ms(samples[(what, large.name)])
        # Same seller, same rows: the answers must be the same in both data sets.
        same = answers[(what, small.name)] == answers[(what, large.name)]
        ratio = b[1] / a[1]
        figures.append((what, ratio))
        print(
            f"   {what:<34}{a[0]:>9.2f}{a[1]:>9.2f}{b[0]:>9.2f}{b[1]:>9.2f}{ratio:>10.2f}x"
            + ("" if same else "  (answers differ!)")
        )
    print("   (columns: 100k p50, p95; 10M p50, p95. Goal: p95 ratio ≤ 1.5)\n")
    return figures


def _posts(n: int) -> list[Post]:
    return [
        Post(
            f"bench-{i}", datetime.now(UTC), f"post {i}", {m: i + j for j, m in enumerate(METRICS)}
        )
        for i in range(n)
    ]


def _new_integration(conn: psycopg.Connection[Any], token: bytes | None = None) -> tuple[str, str]:
    org = str(uuid.uuid4())
    integration = str(uuid.uuid4())
    conn.execute("INSERT INTO organizations (id, name) VALUES (%s, 'bench')", (org,))
    conn.execute(
        "INSERT INTO integrations (id, organization_id, provider, external_id, name,"
        " access_token_ciphertext) VALUES (%s, %s, 'facebook', %s, 'Bench', %s)",
        (integration, org, f"bench-{integration}", token or b"\x00"),
    )
    return org, integration


def _forget(conn: psycopg.Connection[Any], orgs: list[str]) -> None:
    """Remove what a figure wrote into a cached data set, so the next run finds it as built."""
    for table in (
        "analytics_daily_metrics",
        "analytics_rollup_daily",
        "analytics_content",
        "analytics_account_daily",
        "ingestion_runs",
        "analytics_exports",
        "integrations",
    ):
        conn.execute(f"DELETE FROM {table} WHERE organization_id = ANY(%s::uuid[])", (orgs,))  # noqa: S608 - names from the list above
    conn.execute("DELETE FROM organizations WHERE id = ANY(%s::uuid[])", (orgs,))


def upserts(empty_url: str, large: DataSet, *, posts: int = 1000, rounds: int = 5) -> float:
    batch = _posts(posts)
    rates: dict[str, list[float]] = {"empty": [], "10m": []}
    made: list[str] = []
    for _round in range(rounds):
        for name, url in (("empty", empty_url), ("10m", large.url)):
            with psycopg.connect(url, autocommit=True) as conn, on(url):
                org, integration = _new_integration(conn)
                if name == "10m":
                    made.append(org)
                t0 = time.perf_counter()
                IngestRepository().save_snapshot(
                    organization_id=org,
                    integration_id=integration,
                    snapshot=TODAY,
                    posts=batch,
                    status="ok",
                    error_code=None,
                )
                rates[name].append(posts / (time.perf_counter() - t0))
    with psycopg.connect(large.url, autocommit=True) as conn:
        _forget(conn, made)
    empty, large_rate = statistics.median(rates["empty"]), statistics.median(rates["10m"])
    ratio = large_rate / empty
    print(f"2. Upsert of {posts:,} posts (content, metrics, rollups, run: one statement)")
    print(f"   empty database  {empty:>9,.0f} rows/s   (median of {rounds})")
    print(f"   {large.rows:>10,} rows {large_rate:>8,.0f} rows/s   → {ratio:.2f}x (goal ≥ 0.8x)\n")
    return ratio


def export_child() -> None:
    """Run in a process of its own (``python -c``): one export through the worker's message
    path, then print its figures as JSON. Peak memory is the process's high-water mark."""
    warnings.filterwarnings("ignore", module="platformdirs")
    from nexus.exports import worker

    def status(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) // 1024
        return 0

    before = status("VmRSS:")
    t0 = time.perf_counter()
    with log_level(logger, "WARNING"):
        outcome = worker.handle_message(os.environ["BENCH_EXPORT_JOB"], receipt_handle="bench")
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "status": outcome.status,
                "rows": outcome.rows,
                "parts": outcome.parts,
                "seconds": seconds,
                "rss_before_mb": before,
                "peak_mb": status("VmHWM:"),
            }
        )
    )


def exports(local: LocalAws, endpoint: str, small: DataSet, large: DataSet) -> dict[str, Any]:
    local.create_buckets(["ExportsBucket"])
    results = {}
    for s in (small, large):
        export_id, user = str(uuid.uuid4()), str(uuid.uuid4())
        with psycopg.connect(s.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO users (id, organization_id, email, password_hash)"
                " VALUES (%s, %s, %s, 'x')",
                (user, s.big_org, f"{user}@bench.invalid"),
            )
        with on(s.url):
            ExportRepository().create(
                export_id=export_id,
                organization_id=s.big_org,
                user_id=user,
                start=s.built - timedelta(days=359),
                end=s.built,
                integration_id=None,
                object_key=f"bench/{export_id}.csv",
                expiry_hours=1,
            )
        env = {
            **os.environ,
            "DATABASE_URL": s.url,
            "EXPORTS_BUCKET": "exportsbucket",
            "AWS_ENDPOINT_URL": endpoint,
            "BENCH_EXPORT_JOB": ExportJob(export_id=export_id, organization_id=s.big_org).body(),
            "POWERTOOLS_METRICS_NAMESPACE": "bench",
            "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/shared", "tools", ".")),
        }
        done = subprocess.run(
            [sys.executable, "-c", "from bench.scale import export_child; export_child()"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"export child failed: {done.stderr[-2000:]}")
        results[s.name] = json.loads(done.stdout.strip().splitlines()[-1])
        with psycopg.connect(s.url, autocommit=True) as conn:
            conn.execute("DELETE FROM analytics_exports WHERE id = %s", (export_id,))
            conn.execute("DELETE FROM users WHERE id = %s", (user,))
    print("3. Export of the big seller's year (ExportFunction's path, moto's S3 over HTTP)")
    print(f"   {'rows':>12}{'parts':>7}{'s':>8}{'rows/s':>10}{'start MB':>10}{'peak MB':>9}")
    for r in results.values():
        print(
            f"   {r['rows']:>12,}{r['parts']:>7}{r['seconds']:>8.1f}"
            f"{r['rows'] / r['seconds']:>10,.0f}{r['rss_before_mb']:>10}{r['peak_mb']:>9}"
        )
    growth = results[large.name]["peak_mb"] / results[small.name]["peak_mb"]
    print(f"   peak memory at 10x the rows: {growth:.2f}x (goal: ≤ 256 MB, flat with the rows)\n")
    return results


def job_seconds(admin: str, *, posts: int = 30, jobs: int = 20) -> tuple[float, int]:
    """One ingest job (a Page with ``posts`` posts in the window) against the sandbox Graph
    with no latency: our own time per job (Graph's is added by the capacity table), and the
    HTTP requests a refresh job makes."""
    graph = FakeGraph([FakePage(id="777", token="bench-token", posts=make_posts("777", posts))])
    # Meta's side of the sandbox serves the Page's account insights (the job's second call).
    graph.meta = FakeMeta("bench-app", "bench-secret", [FakeUser("1", "Bench", ["777"])])
    base = graph.start()
    name = "nexus_bench_scale_job"
    url = postgres.ensure_database(admin, name, recreate=True)
    postgres.migrate_url(url)
    try:
        with scoped_environment(SECRETS), on(url), psycopg.connect(url, autocommit=True) as conn:
            org, integration = _new_integration(conn)
            token = crypto.encrypt("bench-token", integration)
            conn.execute(
                "UPDATE integrations SET access_token_ciphertext = %s, external_id = '777'"
                " WHERE id = %s",
                (token, integration),
            )

            def client(t: str) -> GraphClient:
                return GraphClient(t, base_url=base, version="v23.0", session=make_session())

            job = IngestJob(integration_id=integration, organization_id=org, snapshot_date=TODAY)
            consumer.process(job, body=job.model_dump_json(), client_factory=client)  # backfill
            graph.log.clear()
            t0 = time.perf_counter()
            for _ in range(jobs):
                outcome = consumer.process(job, body=job.model_dump_json(), client_factory=client)
                assert outcome.status == "ok", outcome
            seconds = (time.perf_counter() - t0) / jobs
            requests = sum(1 for e in graph.log if e["method"] != "GET(batch)") // jobs
    finally:
        graph.stop()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return seconds, requests


def max_connections(acu: float) -> int:
    """Aurora PostgreSQL's default max_connections, LEAST(DBInstanceClassMemory/9531392, 5000):
    Serverless v2 sizes it from the maximum ACUs (2 GiB each), and AWS reports 189 at 1 ACU,
    i.e. about 1.8 GB of usable memory per ACU."""
    return min(5000, int(acu * 189))


class _Sqs:
    """SendMessageBatch answered in-process, checked as SQS checks it (at most 10 entries,
    unique ids, 256 KiB); the jobs it received are kept, to count them and their duplicates."""

    def __init__(self) -> None:
        self.calls = 0
        self.jobs: set[str] = set()
        self.received = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        del QueueUrl
        self.calls += 1
        assert 1 <= len(Entries) <= 10 and len({e["Id"] for e in Entries}) == len(Entries)
        for entry in Entries:
            assert len(entry["MessageBody"].encode()) <= 256 * 1024
            self.jobs.add(json.loads(entry["MessageBody"])["integration_id"])
        self.received += len(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


# What one SendMessageBatch costs in the region (AWS's, not measured here): the fan-out's
# time on AWS is about its own time plus the calls times this.
SQS_CALL_SECONDS = 0.015


def fanout_and_capacity(admin: str, *, integrations: int, jobs: int) -> None:
    app, raw = parse(), load()
    sqs = _Sqs()
    name = "nexus_bench_scale_fanout"
    url = postgres.ensure_database(admin, name, recreate=True)
    postgres.migrate_url(url)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO organizations (id, name) SELECT gen_random_uuid(), 'f' || g"
                " FROM generate_series(1, %s) g",
                (integrations // 10,),
            )
            conn.execute(
                "INSERT INTO integrations (organization_id, provider, external_id, name,"
                " access_token_ciphertext) SELECT o.id, 'facebook', o.id || '-' || g, 'P',"
                " '\\x01' FROM organizations o, generate_series(1, 10) g"
            )
        with on(url), scoped_environment({"INGEST_QUEUE_URL": "https://sqs.bench/ingest"}):
            t0 = time.perf_counter()
            result = fanout.run(TODAY, sqs=sqs)
            wall = time.perf_counter() - t0
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    fan_timeout = app.functions["IngestFanoutFunction"].timeout
    on_aws = wall + result.batch_calls * SQS_CALL_SECONDS
    print(f"4. Fan-out of {integrations:,} integrations of {integrations // 10:,} sellers")
    print(
        f"   {result.jobs:,} jobs ({len(sqs.jobs):,} distinct integrations, {sqs.received:,}"
        f" messages), {result.batch_calls:,} SendMessageBatch calls (the floor: "
        f"{math.ceil(integrations / 10):,}), {result.statements} SQL statements,"
        f" {wall:.1f} s of its own"
    )
    print(
        f"   on AWS ≈ {on_aws:.0f} s at {SQS_CALL_SECONDS * 1000:.0f} ms a call (sequential),"
        f" against the function's {fan_timeout} s timeout"
    )
    own, requests = job_seconds(admin, jobs=jobs)
    (source,) = [s for s in app.sqs_sources if s.function_id == "IngestMetricsFunction"]
    concurrency, batch = source.max_concurrency, source.batch_size
    acu = float(app.parameters["DatabaseMaxCapacity"])
    percent = int(
        raw["Resources"]["DbProxyTargetGroup"]["Properties"]["ConnectionPoolConfigurationInfo"][
            "MaxConnectionsPercent"
        ]
    )
    pool = max_connections(acu) * percent // 100
    budget = pool // 10
    print(
        f"   one refresh job (30 posts): {own * 1000:.0f} ms of our own time, {requests} Graph"
        f" requests; template: MaximumConcurrency {concurrency}, BatchSize {batch}"
    )
    print(
        f"   RDS Proxy budget: max_connections ≈ {max_connections(acu)} at {acu:g} ACU,"
        f" the proxy's pool {percent}% = {pool}; ingest's share (10%, the rest for the API"
        f" and the other functions): {budget} connections, one per concurrent invocation"
    )
    print(
        f"   {'Graph latency':<15}{'concurrency':>12}{'job s':>7}{'jobs/hour':>11}"
        f"{'hours for 100k':>16}{'connections':>13}"
    )
    for latency in (0.3, 0.6, 1.0):
        per_job = own + requests * latency
        settings = sorted({concurrency, 5, 10, 20, 40})
        for c in settings:
            per_hour = c * 3600 / per_job
            hours = integrations / per_hour
            mark = " ← template" if c == concurrency else ""
            fits = "" if hours <= 6 and c <= budget else "  ✗"
            print(
                f"   {latency:<15.1f}{c:>12}{per_job:>7.2f}{per_hour:>11,.0f}{hours:>16.1f}"
                f"{c:>13}{fits}{mark}"
            )
    print(
        "   ✗: over the 6-hour window or the ingest's connection budget. Jobs are sequential"
        " within a batch, so BatchSize changes invocations, not throughput.\n"
    )


@contextmanager
def admin_url() -> Iterator[str]:
    """The server the data sets live on: $DATABASE_URL's, else an embedded one under
    .local/bench/ that keeps its databases between runs."""
    given = os.environ.get("DATABASE_URL")
    if given:
        yield given
        return
    server = postgres.EmbeddedPostgres(DATA_DIR)
    try:
        yield server.url()
    finally:
        server.stop()


def run(sizes: Sizes = Sizes()) -> int:
    warnings.filterwarnings("ignore", module="platformdirs")
    print("Scale (issue 15): the same seller's reads and writes as the table grows")
    t0 = time.perf_counter()
    with admin_url() as admin, log_level(logger, "WARNING"), scoped_environment(SECRETS):
        small, large = data_set(admin, *sizes.small), data_set(admin, *sizes.large)
        empty_name = "nexus_bench_scale_empty"
        empty = postgres.ensure_database(admin, empty_name, recreate=True)
        postgres.migrate_url(empty)
        try:
            reads(small, large, sizes)
            upserts(empty, large, posts=sizes.upsert_posts, rounds=sizes.upsert_rounds)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {empty_name} WITH (FORCE)")
        port = _free_port()
        local = LocalAws("127.0.0.1", port)
        local.start()
        endpoint = f"http://127.0.0.1:{port}"
        saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")}
        use_local_endpoint(endpoint)
        try:
            exports(local, endpoint, small, large)
        finally:
            local.stop()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        fanout_and_capacity(admin, integrations=sizes.fanout, jobs=sizes.jobs)
    print(f"   (scale bench: {time.perf_counter() - t0:.0f} s)")
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
