"""`make bench` runs its benches one after another in one process: none may leave its
scratch database (or anything else it set) behind in the environment for the next."""

from __future__ import annotations

import os

import psycopg
import pytest

from bench import api, funnel, ingest, plans, scale
from nexus.observability import logger
from nexus_local import postgres
from tests.support.api import TEST_SECRETS


def test_api_bench_then_ingest_bench_without_database_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no DATABASE_URL and no secrets, as on a fresh clone: each bench starts an
    # embedded server of its own and sets the secrets it needs
    assert "DATABASE_URL" not in os.environ
    for name in TEST_SECRETS:
        monkeypatch.delenv(name, raising=False)
    level = logger.log_level
    # When the API bench has run
    assert api.run(seconds=0.01) == 0
    # Then its database URL and secrets are gone again, and the log level is back
    assert "DATABASE_URL" not in os.environ
    assert not set(TEST_SECRETS) & set(os.environ)
    assert logger.log_level == level
    # And the ingest bench, next in `make bench`, gets a server of its own and completes
    assert ingest.run(posts=30, rows=50, integrations=25, latency=0) == 0
    assert "DATABASE_URL" not in os.environ
    assert "INGEST_QUEUE_URL" not in os.environ
    out = capsys.readouterr().out
    assert "GET /auth/me" in out
    assert "Fan-out of 25 integrations" in out
    assert "Ingest one integration, 30 posts" in out


def test_api_bench_restores_a_database_url_that_was_set(database_url: str) -> None:
    # Given DATABASE_URL names a server (the bench makes a scratch database on it)
    assert os.environ["DATABASE_URL"] == database_url
    assert api.run(seconds=0.01) == 0
    # Then the variable names the caller's database again, not the dropped scratch one
    assert os.environ["DATABASE_URL"] == database_url


def test_funnel_bench_counts_every_visitor_it_sends(capsys: pytest.CaptureFixture[str]) -> None:
    # A smoke run (figures are for make bench): every mode runs, the rows match the visitors
    assert funnel.run(seconds=0.05, rounds=1) == 0
    out = capsys.readouterr().out
    assert "without counting (baseline)" in out
    assert "2 statements, a new visitor each" in out
    assert "DATABASE_URL" not in os.environ


def test_plans_bench_explains_every_analytics_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert plans.run(sellers=30, days=40, posts=5) == 0
    out = capsys.readouterr().out
    for read in ("metrics", "content", "accounts", "runs", "summary"):
        assert f"- {read}" in out
    explained = [line for line in out.splitlines() if line.startswith("    ") and " ms: " in line]
    assert len(explained) == 6  # the summary is two statements
    # Each shows the scans of the repository's statement as PostgreSQL ran it (at this size
    # the planner may rightly scan small tables whole; the default size shows the indexes).
    assert all("Scan analytics_" in line or "Scan ingestion_runs" in line for line in explained)
    assert "FINDING" not in out


def test_scale_bench_builds_its_data_sets_once_and_prints_every_figure(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A smoke run at a few thousand rows (the figures are for make bench, at 100k and 10M)
    sizes = scale.Sizes(
        small=(3_000, 1_000),
        large=(9_000, 3_000),
        read_rounds=1,
        reads_per_round=2,
        upsert_posts=20,
        upsert_rounds=1,
        fanout=120,
        jobs=1,
    )
    assert scale.run(sizes) == 0
    out = capsys.readouterr().out
    assert "built the 3k data set with COPY" in out and "built the 9k data set with COPY" in out
    for figure in ("1. Reads", "2. Upsert", "3. Export", "4. Fan-out of 120 integrations"):
        assert figure in out
    assert "answers differ" not in out
    # The export ran in its own process through the worker and wrote every row of the big
    # seller's year
    export = out.split("3. Export", 1)[1].split("4. Fan-out", 1)[0]
    for name in ("3k", "9k"):
        url = postgres.replace_database(database_url, f"nexus_bench_scale_{name}")
        with psycopg.connect(url) as conn:
            (rows,) = conn.execute(  # type: ignore[misc]
                "SELECT count(*) FROM analytics_daily_metrics m JOIN bench_data_set b"
                " ON m.organization_id = b.big_org"
            ).fetchone()
        assert rows > 0 and f" {rows:,} " in export, (name, rows, export)
    assert "120 jobs (120 distinct integrations, 120 messages), 12 SendMessageBatch calls" in out
    # And a second run finds both data sets built: nothing is copied again
    assert scale.run(sizes) == 0
    assert "built the" not in capsys.readouterr().out
    assert os.environ["DATABASE_URL"] == database_url
