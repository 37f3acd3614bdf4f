"""The metrics table grows by month (contract §10, issue 15): partitions made ahead, whole
months dropped past retention, and the watch over the day's run, through MaintenanceFunction
as its own role."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from functions.maintenance import app as maintenance_app
from nexus.settings import get_settings
from tests.support.api import Api, lambda_context


def partitions(conn: Any) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'analytics_daily_metrics'::regclass ORDER BY c.relname"
    ).fetchall()
    return [r[0] for r in rows]


def name(day: dt.date) -> str:
    return f"analytics_daily_metrics_y{day:%Y}m{day:%m}"


def months_from(day: dt.date, n: int) -> dt.date:
    month = day.year * 12 + day.month - 1 + n
    return dt.date(month // 12, month % 12 + 1, 1)


def run_jobs(*names: str) -> dict[str, Any]:
    jobs = {k: v for k, v in maintenance_app.JOBS.items() if k in names}
    saved = maintenance_app.JOBS
    maintenance_app.JOBS = jobs
    try:
        return dict(maintenance_app.lambda_handler({}, lambda_context("MaintenanceFunction")))
    finally:
        maintenance_app.JOBS = saved


def test_months_are_made_ahead_and_dropped_whole_past_retention(
    api: Api, conn: Any, as_role: Callable[[str | None], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    seller = api.seller("owner@example.com")
    body = {"provider": "facebook", "external_id": "1", "name": "P", "access_token": "t"}
    integration = api.post("/integrations", json_body=body, token=seller).json()["id"]
    org = conn.execute(
        "SELECT organization_id FROM integrations WHERE id = %s", (integration,)
    ).fetchone()[0]
    # Given rows in a month 30 months back (an import, say) and in this one
    old = months_from(today, -30)
    conn.execute("SELECT create_metric_partitions(%s, 1)", (old,))
    for day in (old, today):
        conn.execute(
            "INSERT INTO analytics_daily_metrics (organization_id, integration_id, content_id,"
            " date, impressions) VALUES (%s, %s, 'p', %s, 1)",
            (org, integration, day),
        )
    monkeypatch.setenv("METRIC_PARTITIONS_AHEAD", "5")
    monkeypatch.setenv("METRICS_RETENTION_MONTHS", "25")
    get_settings.cache_clear()
    as_role("nexus_maintenance")
    result = run_jobs("metric_partitions")["metric_partitions"]
    as_role(None)
    made = partitions(conn)
    # Then this month and the next five exist (0016 made three ahead: two more now)
    assert {name(months_from(today, n)) for n in range(6)} <= set(made)
    assert result["made"] == 2
    # And the month past 25 is gone whole, with its row; this month's row stays
    assert result["dropped"] == [name(old)]
    assert name(old) not in made
    assert name(months_from(today, -24)) in made  # the oldest month retention keeps
    dates = conn.execute("SELECT date FROM analytics_daily_metrics").fetchall()
    assert dates == [(today,)]
    # A row for a month nobody made is refused, never parked out of retention's reach
    far = months_from(today, 40)
    with pytest.raises(Exception, match="no partition"):
        conn.execute(
            "INSERT INTO analytics_daily_metrics (organization_id, integration_id, content_id,"
            " date) VALUES (%s, %s, 'p', %s)",
            (org, integration, far),
        )
    # Run again: nothing more to make or drop
    as_role("nexus_maintenance")
    again = run_jobs("metric_partitions")["metric_partitions"]
    assert (again["made"], again["dropped"]) == (0, [])


def test_the_watch_counts_integrations_without_a_finished_run_for_today(
    api: Api, conn: Any, as_role: Callable[[str | None], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    seller = api.seller("owner@example.com")
    body = {"provider": "facebook", "name": "P", "access_token": "t"}
    ids = [
        api.post("/integrations", json_body={**body, "external_id": str(n)}, token=seller).json()[
            "id"
        ]
        for n in range(3)
    ]
    # Connected before today (one made today is not expected in today's run)
    conn.execute("UPDATE integrations SET created_at = now() - interval '2 days'")
    today = dt.datetime.now(dt.UTC).date()
    conn.execute(
        "INSERT INTO ingestion_runs (organization_id, integration_id, date, status, finished_at)"
        " SELECT organization_id, id, %s, 'ok', now() FROM integrations WHERE id = %s",
        (today, ids[0]),
    )
    conn.execute(
        "INSERT INTO ingestion_runs (organization_id, integration_id, date, status)"
        " SELECT organization_id, id, %s, 'deferred' FROM integrations WHERE id = %s",
        (today, ids[1]),
    )
    monkeypatch.setenv("INGEST_FINISH_BY_HOUR", "0")
    get_settings.cache_clear()
    as_role("nexus_maintenance")
    assert run_jobs("ingest_watch")["ingest_watch"] == {"checked": True, "unfinished": 2}
    monkeypatch.setenv("INGEST_FINISH_BY_HOUR", "23")
    get_settings.cache_clear()
    if dt.datetime.now(dt.UTC).hour < 23:
        assert run_jobs("ingest_watch")["ingest_watch"] == {"checked": False}
