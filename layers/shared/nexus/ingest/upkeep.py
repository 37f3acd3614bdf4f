"""MaintenanceFunction's care of the metrics: monthly partitions made ahead, months past
retention dropped whole (migration 0016's functions), and the watch over the day's run."""

from __future__ import annotations

from datetime import UTC, date, datetime

from psycopg.rows import scalar_row

from nexus import db

# The active integrations, older than today, without a finished run for today's snapshot.
UNFINISHED = """
SELECT count(*) FROM integrations i
WHERE i.status = 'active' AND i.deleted_at IS NULL AND i.created_at < %(today)s::timestamptz
  AND NOT EXISTS (SELECT 1 FROM ingestion_runs r
                  WHERE r.integration_id = i.id AND r.date = %(today)s
                    AND r.finished_at IS NOT NULL)
"""


def ensure_partitions(months_ahead: int, *, today: date | None = None) -> int:
    """Partitions of this month and the next ``months_ahead``; how many were made."""
    first = today or datetime.now(UTC).date()
    made = db.fetch_one(
        scalar_row, "SELECT create_metric_partitions(%s, %s)", (first, months_ahead + 1)
    )
    return int(made or 0)


def drop_expired(keep_months: int) -> list[str]:
    """Drop the months older than the last ``keep_months`` (this one included)."""
    return db.fetch_all(scalar_row, "SELECT drop_metric_partitions(%s)", (keep_months,))


def unfinished_runs(today: date) -> int:
    return int(db.fetch_one(scalar_row, UNFINISHED, {"today": today}) or 0)
