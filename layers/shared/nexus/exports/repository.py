"""SQL for analytics exports (migration 0013): the request and its status (IntegrationsFunction,
role nexus_integrations), the worker's claim and outcome, and the streaming read of the metric
rows (ExportFunction, role nexus_export).

The streaming read is a server-side (named) cursor in one transaction, fetched
``batch_rows`` at a time: one consistent snapshot of any size, with only a batch in memory.
Declaring a cursor pins the client's connection in RDS Proxy until it disconnects, so the
worker closes its connection after each export (nexus.exports.worker).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row, tuple_row

from nexus import db
from nexus.db.where import Where
from nexus.exports.models import COLUMNS, Claimed, NotClaimed, StoredExport

# Every field as text (NULL stays NULL): the CSV writes the server's own rendering (ISO
# dates, integers as digits) and the worker parses nothing. provider comes from the
# integration; the rest are the metric row's columns of the same names.
_SPECIAL: dict[str, LiteralString] = {
    "integration_id": "m.integration_id::text",
    "provider": "i.provider",
}
SELECT_COLUMNS = sql.SQL(", ").join(
    sql.SQL(_SPECIAL[c]) if c in _SPECIAL else sql.SQL("m.{}::text").format(sql.Identifier(c))
    for c in COLUMNS
)

# One statement: claim the export when it is pending, unexpired and nobody holds it (or the
# holder's lease ran out), and say in the same round trip why not otherwise. The outer SELECT
# reads the row as it was before the UPDATE (one snapshot per statement).
CLAIM = """
WITH claimed AS (
    UPDATE analytics_exports SET claimed_at = now()
    WHERE id = %(id)s AND organization_id = %(org)s AND status = 'pending'
      AND expires_at > now()
      AND (claimed_at IS NULL OR claimed_at < now() - make_interval(secs => %(lease)s))
    RETURNING id, organization_id, from_date, to_date, integration_id, object_key
)
SELECT e.status, e.expires_at <= now() AS expired, c.id::text AS claimed_id,
       c.organization_id::text AS organization_id, c.from_date, c.to_date,
       c.integration_id::text AS integration_id, c.object_key
FROM analytics_exports e LEFT JOIN claimed c ON true
WHERE e.id = %(id)s AND e.organization_id = %(org)s
"""


def _claim_outcome(row: dict[str, Any] | None) -> Claimed | NotClaimed:
    if row is None:
        return NotClaimed("missing")
    if row["claimed_id"] is not None:
        return Claimed(
            id=row["claimed_id"],
            organization_id=row["organization_id"],
            start=row["from_date"],
            end=row["to_date"],
            integration_id=row["integration_id"],
            object_key=row["object_key"],
        )
    if row["status"] != "pending":
        return NotClaimed("done")
    return NotClaimed("expired" if row["expired"] else "busy")


class ExportRepository:
    # -- IntegrationsFunction (nexus_integrations) ------------------------------------------
    def create(
        self,
        *,
        export_id: str,
        organization_id: str,
        user_id: str,
        start: dt.date,
        end: dt.date,
        integration_id: str | None,
        object_key: str,
        expiry_hours: int,
    ) -> None:
        db.execute(
            "INSERT INTO analytics_exports (id, organization_id, user_id, from_date, to_date,"
            " integration_id, object_key, expires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, now() + make_interval(hours => %s))",
            (
                export_id,
                organization_id,
                user_id,
                start,
                end,
                integration_id,
                object_key,
                expiry_hours,
            ),
        )

    def get(self, *, organization_id: str, export_id: str) -> StoredExport | None:
        return db.fetch_one(
            class_row(StoredExport),
            "SELECT id::text, status, row_count, object_key, from_date AS start,"
            " to_date AS end, expires_at FROM analytics_exports"
            " WHERE id = %s AND organization_id = %s",
            (export_id, organization_id),
        )

    def mark_failed(self, export_id: str, error: str) -> bool:
        """A pending export fails with ``error`` (short, no detail of the data); False when
        it was no longer pending."""
        return (
            db.execute(
                "UPDATE analytics_exports SET status = 'failed', error = %s, finished_at = now()"
                " WHERE id = %s AND status = 'pending'",
                (error[:200], export_id),
            )
            == 1
        )

    # -- ExportFunction (nexus_export) ---------------------------------------------------------
    def claim(self, *, export_id: str, organization_id: str, lease: int) -> Claimed | NotClaimed:
        row = db.fetch_one(
            dict_row, CLAIM, {"id": export_id, "org": organization_id, "lease": lease}
        )
        return _claim_outcome(row)

    def release(self, export_id: str) -> None:
        """Let the next delivery take a pending export at once (this one gave it back)."""
        db.execute(
            "UPDATE analytics_exports SET claimed_at = NULL WHERE id = %s AND status = 'pending'",
            (export_id,),
        )

    def mark_ready(self, export_id: str, row_count: int) -> bool:
        return (
            db.execute(
                "UPDATE analytics_exports SET status = 'ready', row_count = %s,"
                " finished_at = now(), claimed_at = NULL WHERE id = %s AND status = 'pending'",
                (row_count, export_id),
            )
            == 1
        )

    def stream(
        self, conn: psycopg.Connection[Any], export: Claimed, *, batch_rows: int
    ) -> Generator[list[tuple[Any, ...]]]:
        """The export's metric rows as the CSV's fields (text or None), in
        ``(date, content_id, integration_id)`` order (GET /analytics/metrics's), in batches of
        up to ``batch_rows``, from one snapshot. The same rows the reads answer: the
        organization's live metric rows in the range, of one integration if it names one."""
        where = Where(
            "m.organization_id = %(org)s AND m.deleted_at IS NULL"
            " AND m.date BETWEEN %(start)s AND %(end)s",
            org=export.organization_id,
            start=export.start,
            end=export.end,
        ).also("m.integration_id = %(integration)s", integration=export.integration_id)
        query = sql.SQL(
            "SELECT {columns} FROM analytics_daily_metrics m"
            " JOIN integrations i ON i.id = m.integration_id WHERE {where}"
            " ORDER BY m.date, m.content_id, m.integration_id"
        ).format(columns=SELECT_COLUMNS, where=where.clause())
        with (
            conn.transaction(),
            conn.cursor(name=f"export_{export.id.replace('-', '')}", row_factory=tuple_row) as cur,
        ):
            cur.itersize = batch_rows
            cur.execute(query, where.params)
            while batch := cur.fetchmany(batch_rows):
                yield batch
