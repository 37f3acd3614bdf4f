"""SQL for ingestion: the integrations to schedule, a job's integration, and the one
statement that stores a snapshot (content rows, metric rows and the run row together)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from nexus.db import Conn
from nexus.graph.catalogue import METRICS
from nexus.graph.client import Post


@dataclass(frozen=True, slots=True)
class Target:
    integration_id: str
    organization_id: str
    external_id: str
    status: str
    deleted: bool
    token_ciphertext: bytes


def active_integrations(conn: Conn, *, after: str | None, limit: int) -> list[dict[str, Any]]:
    """A keyset page of schedulable integrations (by id)."""
    return conn.execute(
        "SELECT id::text AS id, organization_id::text AS organization_id FROM integrations"
        " WHERE deleted_at IS NULL AND status = 'active'"
        "   AND (%(after)s::uuid IS NULL OR id > %(after)s::uuid)"
        " ORDER BY id LIMIT %(limit)s",
        {"after": after, "limit": limit},
    ).fetchall()


def target(conn: Conn, *, integration_id: str, organization_id: str) -> Target | None:
    row = conn.execute(
        "SELECT id::text, organization_id::text, external_id, status,"
        " deleted_at IS NOT NULL AS deleted, access_token_ciphertext"
        " FROM integrations WHERE id = %s AND organization_id = %s",
        (integration_id, organization_id),
    ).fetchone()
    if row is None:
        return None
    return Target(
        integration_id=row["id"],
        organization_id=row["organization_id"],
        external_id=row["external_id"],
        status=row["status"],
        deleted=row["deleted"],
        token_ciphertext=bytes(row["access_token_ciphertext"]),
    )


_METRIC_COLUMNS = ", ".join(METRICS)
_COALESCE = ",\n".join(f"{m} = COALESCE(EXCLUDED.{m}, t.{m})" for m in METRICS)
_CHANGED = " OR ".join(
    f"EXCLUDED.{m} IS DISTINCT FROM t.{m} AND EXCLUDED.{m} IS NOT NULL" for m in METRICS
)
_UNNEST_METRICS = ", ".join(f"%({m})b::bigint[]" for m in METRICS)

# One statement: content rows, metric rows (a NULL never erases a stored value; a replay
# updates nothing), and the run row, updated in place. Returns the metric rows written.
SAVE_SNAPSHOT = f"""
WITH content AS (
    INSERT INTO analytics_content AS t
        (organization_id, integration_id, content_id, created_time, message)
    SELECT %(org)s, %(integration)s, c.content_id, c.created_time, c.message
    FROM unnest(%(content_ids)b::text[], %(created)b::timestamptz[], %(messages)b::text[])
        AS c(content_id, created_time, message)
    ON CONFLICT (organization_id, integration_id, content_id) DO UPDATE
        SET created_time = EXCLUDED.created_time, message = EXCLUDED.message, updated_at = now()
        WHERE (t.created_time, t.message) IS DISTINCT FROM (EXCLUDED.created_time, EXCLUDED.message)
),
metrics AS (
    INSERT INTO analytics_daily_metrics AS t
        (organization_id, integration_id, content_id, date, {_METRIC_COLUMNS})
    SELECT %(org)s, %(integration)s, m.content_id, %(date)s, {_METRIC_COLUMNS}
    FROM unnest(%(metric_ids)b::text[], {_UNNEST_METRICS}) AS m(content_id, {_METRIC_COLUMNS})
    ON CONFLICT (organization_id, integration_id, content_id, date) WHERE deleted_at IS NULL
    DO UPDATE SET {_COALESCE}, updated_at = now()
        WHERE {_CHANGED}
    RETURNING 1
),
run AS (
    INSERT INTO ingestion_runs AS r (organization_id, integration_id, date, status,
        content_total, content_failed, error_code, finished_at)
    VALUES (%(org)s, %(integration)s, %(date)s, %(status)s, %(total)s, %(failed)s,
        %(error_code)s, now())
    ON CONFLICT (integration_id, date) DO UPDATE SET status = EXCLUDED.status,
        content_total = EXCLUDED.content_total, content_failed = EXCLUDED.content_failed,
        error_code = EXCLUDED.error_code, finished_at = now(), attempts = r.attempts + 1
)
SELECT count(*) AS written FROM metrics
"""  # noqa: S608 - column names come from the catalogue's constant tuple


def save_snapshot(
    conn: Conn,
    *,
    organization_id: str,
    integration_id: str,
    snapshot: date,
    posts: list[Post],
    status: str,
    error_code: str | None,
) -> int:
    fetched = [p for p in posts if p.error is None]
    params: dict[str, Any] = {
        "org": organization_id,
        "integration": integration_id,
        "date": snapshot,
        "content_ids": [p.content_id for p in posts],
        "created": [p.created_time for p in posts],
        "messages": [p.message for p in posts],
        "metric_ids": [p.content_id for p in fetched],
        "status": status,
        "total": len(posts),
        "failed": len(posts) - len(fetched),
        "error_code": error_code,
    }
    for metric in METRICS:
        params[metric] = [p.metrics.get(metric) for p in fetched]
    row = conn.execute(SAVE_SNAPSHOT, params).fetchone()
    return int(row["written"]) if row else 0


def record_failure(
    conn: Conn,
    *,
    organization_id: str,
    integration_id: str,
    snapshot: date,
    status: str,
    error_code: str,
    needs_reauth: bool,
) -> None:
    """The run's outcome when no data could be stored; a permanent failure also marks the
    integration needs_reauth (in the same statement)."""
    conn.execute(
        """
        WITH flag AS (
            UPDATE integrations SET status = 'needs_reauth', updated_at = now()
            WHERE %(reauth)s AND id = %(integration)s AND status = 'active'
        )
        INSERT INTO ingestion_runs AS r (organization_id, integration_id, date, status,
            error_code, finished_at)
        VALUES (%(org)s, %(integration)s, %(date)s, %(status)s, %(error_code)s,
            CASE WHEN %(status)s = 'deferred' THEN NULL ELSE now() END)
        ON CONFLICT (integration_id, date) DO UPDATE SET status = EXCLUDED.status,
            error_code = EXCLUDED.error_code, finished_at = EXCLUDED.finished_at,
            attempts = r.attempts + 1
        """,
        {
            "reauth": needs_reauth,
            "org": organization_id,
            "integration": integration_id,
            "date": snapshot,
            "status": status,
            "error_code": error_code,
        },
    )
