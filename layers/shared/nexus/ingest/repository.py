"""SQL for ingestion: the integrations to schedule, a job's integration, and the one
statement that stores a snapshot (content rows, metric rows and the run row together)."""

from __future__ import annotations

from datetime import date
from typing import Any

from psycopg import sql
from psycopg.adapt import PyFormat
from psycopg.rows import scalar_row

from nexus import db, outbox
from nexus.db.where import Where
from nexus.graph.catalogue import ACCOUNT_METRICS, METRICS
from nexus.graph.client import AccountDay, Post
from nexus.ingest.models import Schedulable, Target

_METRIC_NAMES = [sql.Identifier(m) for m in METRICS]
_METRIC_COLUMNS = sql.SQL(", ").join(_METRIC_NAMES)
# A NULL never erases a stored value; a replay updates nothing.
_COALESCE = sql.SQL(", ").join(
    sql.SQL("{m} = COALESCE(EXCLUDED.{m}, t.{m})").format(m=m) for m in _METRIC_NAMES
)
_CHANGED = sql.SQL(" OR ").join(
    sql.SQL("(EXCLUDED.{m} IS DISTINCT FROM t.{m} AND EXCLUDED.{m} IS NOT NULL)").format(m=m)
    for m in _METRIC_NAMES
)
_UNNEST_METRICS = sql.SQL(", ").join(
    sql.SQL("{}::bigint[]").format(sql.Placeholder(m, PyFormat.BINARY)) for m in METRICS
)

_ACCOUNT_NAMES = [sql.Identifier(m) for m in ACCOUNT_METRICS]
_ACCOUNT_COLUMNS = sql.SQL(", ").join(_ACCOUNT_NAMES)
_ACCOUNT_COALESCE = sql.SQL(", ").join(
    sql.SQL("{m} = COALESCE(EXCLUDED.{m}, t.{m})").format(m=m) for m in _ACCOUNT_NAMES
)
_ACCOUNT_CHANGED = sql.SQL(" OR ").join(
    sql.SQL("(EXCLUDED.{m} IS DISTINCT FROM t.{m} AND EXCLUDED.{m} IS NOT NULL)").format(m=m)
    for m in _ACCOUNT_NAMES
)
_UNNEST_ACCOUNT = sql.SQL(", ").join(
    sql.SQL("{}::bigint[]").format(sql.Placeholder(f"account_{m}", PyFormat.BINARY))
    for m in ACCOUNT_METRICS
)

SAVE_SNAPSHOT = sql.SQL("""
WITH content AS (
    INSERT INTO analytics_content AS t
        (organization_id, integration_id, content_id, created_time, message, permalink_url,
         media_type)
    SELECT %(org)s, %(integration)s, c.content_id, c.created_time, c.message, c.permalink_url,
        c.media_type
    FROM unnest(%(content_ids)b::text[], %(created)b::timestamptz[], %(messages)b::text[],
        %(permalinks)b::text[], %(media_types)b::text[])
        AS c(content_id, created_time, message, permalink_url, media_type)
    ON CONFLICT (organization_id, integration_id, content_id) DO UPDATE
        SET created_time = EXCLUDED.created_time, message = EXCLUDED.message,
            permalink_url = COALESCE(EXCLUDED.permalink_url, t.permalink_url),
            media_type = COALESCE(EXCLUDED.media_type, t.media_type), updated_at = now()
        WHERE (t.created_time, t.message) IS DISTINCT FROM (EXCLUDED.created_time, EXCLUDED.message)
            OR (EXCLUDED.permalink_url IS NOT NULL
                AND EXCLUDED.permalink_url IS DISTINCT FROM t.permalink_url)
            OR (EXCLUDED.media_type IS NOT NULL
                AND EXCLUDED.media_type IS DISTINCT FROM t.media_type)
),
accounts AS (
    INSERT INTO analytics_account_daily AS t
        (organization_id, integration_id, date, {account_columns})
    SELECT %(org)s, %(integration)s, a.date, {account_columns}
    FROM unnest(%(account_dates)b::date[], {unnest_account}) AS a(date, {account_columns})
    ON CONFLICT (integration_id, date)
    DO UPDATE SET {account_coalesce}, updated_at = now()
        WHERE {account_changed}
),
metrics AS (
    INSERT INTO analytics_daily_metrics AS t
        (organization_id, integration_id, content_id, date, {metric_columns})
    SELECT %(org)s, %(integration)s, m.content_id, %(observed)s, {metric_columns}
    FROM unnest(%(metric_ids)b::text[], {unnest_metrics}) AS m(content_id, {metric_columns})
    ON CONFLICT (organization_id, integration_id, content_id, date) WHERE deleted_at IS NULL
    DO UPDATE SET {coalesce}, updated_at = now()
        WHERE {changed}
    RETURNING 1
),
run AS (
    INSERT INTO ingestion_runs AS r (organization_id, integration_id, date, observed_date,
        status, content_total, content_failed, error_code, finished_at)
    VALUES (%(org)s, %(integration)s, %(date)s, %(observed)s, %(status)s, %(total)s,
        %(failed)s, %(error_code)s, now())
    ON CONFLICT (integration_id, date) DO UPDATE SET status = EXCLUDED.status,
        observed_date = EXCLUDED.observed_date,
        content_total = EXCLUDED.content_total, content_failed = EXCLUDED.content_failed,
        error_code = EXCLUDED.error_code, finished_at = now(), attempts = r.attempts + 1
)
SELECT count(*) AS written FROM metrics
""").format(
    metric_columns=_METRIC_COLUMNS,
    unnest_metrics=_UNNEST_METRICS,
    coalesce=_COALESCE,
    changed=_CHANGED,
    account_columns=_ACCOUNT_COLUMNS,
    unnest_account=_UNNEST_ACCOUNT,
    account_coalesce=_ACCOUNT_COALESCE,
    account_changed=_ACCOUNT_CHANGED,
)

# GET /analytics/summary reads these: the day's increases summed over the content.
ROLLUP_DAY = "SELECT rollup_day(%(org)s, %(integration)s, %(observed)s)"

RECORD_RUN = """
INSERT INTO ingestion_runs AS r (organization_id, integration_id, date, status,
    error_code, finished_at)
VALUES (%(org)s, %(integration)s, %(date)s, %(status)s, %(error_code)s,
    CASE WHEN %(status)s = 'deferred' THEN NULL ELSE now() END)
ON CONFLICT (integration_id, date) DO UPDATE SET status = EXCLUDED.status,
    error_code = EXCLUDED.error_code, finished_at = EXCLUDED.finished_at,
    attempts = r.attempts + 1
"""

# The transition active → needs_reauth happens once (a concurrent or redelivered job finds
# the status changed and updates nothing), and so the reconnect emails that go with it: one
# to each user of the organization, in the same transaction. The email names the page by its
# provider id: the consumer's role does not read integration names (least privilege).
FLAG_REAUTH = """
WITH flag AS (
    UPDATE integrations SET status = 'needs_reauth', updated_at = now()
    WHERE id = %(integration)s AND organization_id = %(org)s AND status = 'active'
    RETURNING id::text, organization_id, provider, external_id
)
SELECT flag.id AS integration_id, flag.provider, flag.external_id, u.email, u.name
FROM flag JOIN users u ON u.organization_id = flag.organization_id
ORDER BY u.id
"""


def _flag_reauth(conn: db.Conn, params: dict[str, Any]) -> list[str]:
    rows = conn.execute(FLAG_REAUTH, params).fetchall()
    return [
        outbox.add(
            conn,
            kind="reconnect",
            recipient=row["email"],
            payload={
                "integration_id": row["integration_id"],
                "provider": row["provider"],
                "external_id": row["external_id"],
                "name": row["name"],
            },
        )
        for row in rows
    ]


class IngestRepository:
    def active_integrations(self, *, after: str | None, limit: int) -> list[Schedulable]:
        """A keyset page of schedulable integrations (by id)."""
        where = Where("deleted_at IS NULL AND status = 'active'", limit=limit).also(
            "id > %(after)s::uuid", after=after
        )
        query = sql.SQL(
            "SELECT id::text, organization_id::text FROM integrations WHERE {where}"
            " ORDER BY id LIMIT %(limit)s"
        ).format(where=where.clause())
        return db.fetch_all(Schedulable, query, where.params)

    def target(self, *, integration_id: str, organization_id: str) -> Target | None:
        return db.fetch_one(
            Target,
            "SELECT id::text AS integration_id, organization_id::text, external_id, status,"
            " deleted_at IS NOT NULL AS deleted, access_token_ciphertext AS token_ciphertext,"
            " provider, token_source = 'connect' AS proven,"
            " (SELECT max(a.date) FROM analytics_account_daily a"
            " WHERE a.integration_id = integrations.id) AS account_last"
            " FROM integrations WHERE id = %s AND organization_id = %s",
            (integration_id, organization_id),
        )

    def erased(self, *, integration_id: str, organization_id: str) -> bool:
        """Whether Meta's data deletion erased that integration (migration 0010)."""
        return (
            db.fetch_one(
                scalar_row,
                "SELECT true FROM erased_integrations WHERE id = %s AND organization_id = %s",
                (integration_id, organization_id),
            )
            is not None
        )

    def save_snapshot(
        self,
        *,
        organization_id: str,
        integration_id: str,
        snapshot: date,
        posts: list[Post],
        status: str,
        error_code: str | None,
        account_days: list[AccountDay] | None = None,
        observed: date | None = None,
    ) -> int:
        """Stores the snapshot (content, post metrics, account-level days, the run) in one
        statement; returns the metric rows written. The metric rows are dated ``observed``
        (the UTC day Graph reported them; default the snapshot's), the run keyed by
        ``snapshot`` and recording ``observed``."""
        fetched = [p for p in posts if p.error is None]
        days = account_days or []
        params: dict[str, Any] = {
            "org": organization_id,
            "integration": integration_id,
            "date": snapshot,
            "observed": observed or snapshot,
            "content_ids": [p.content_id for p in posts],
            "created": [p.created_time for p in posts],
            "messages": [p.message for p in posts],
            "permalinks": [p.permalink_url for p in posts],
            "media_types": [p.media_type for p in posts],
            "account_dates": [d.date for d in days],
            "metric_ids": [p.content_id for p in fetched],
            "status": status,
            "total": len(posts),
            "failed": len(posts) - len(fetched),
            "error_code": error_code,
        }
        for metric in METRICS:
            params[metric] = [p.metrics.get(metric) for p in fetched]
        for metric in ACCOUNT_METRICS:
            params[f"account_{metric}"] = [getattr(d, metric) for d in days]

        # The arrays are binary parameters (%(...)b): no text formatting (see bench/ingest.py).
        def work(conn: db.Conn) -> int:
            written = conn.execute(SAVE_SNAPSHOT, params).fetchone()
            if fetched:
                # The observed day's rollup, from the rows just stored (migration 0015).
                conn.execute(ROLLUP_DAY, params)
            return int(written["written"] if written else 0)

        return db.run(work)

    def record_failure(
        self,
        *,
        organization_id: str,
        integration_id: str,
        snapshot: date,
        status: str,
        error_code: str,
        needs_reauth: bool,
    ) -> None:
        """The run's outcome when no data could be stored; a permanent failure also marks
        the integration needs_reauth and writes the reconnect emails (in the same
        transaction; published after the commit)."""
        params = {
            "org": organization_id,
            "integration": integration_id,
            "date": snapshot,
            "status": status,
            "error_code": error_code,
        }
        if not needs_reauth:
            db.execute(RECORD_RUN, params)
            return

        def work(conn: db.Conn) -> list[str]:
            mail = _flag_reauth(conn, params)
            conn.execute(RECORD_RUN, params)
            return mail

        # After the commit, best effort (never raises): the outbox sweep relays what it misses.
        outbox.publish(db.run(work))
