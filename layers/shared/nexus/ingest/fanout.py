"""The scheduled fan-out: one IngestJob per active integration for the snapshot date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from nexus.ingest import queue
from nexus.ingest.job import IngestJob
from nexus.ingest.repository import IngestRepository
from nexus.observability import logger

PAGE_SIZE = 1000
REPOSITORY = IngestRepository()


@dataclass(frozen=True)
class FanoutResult:
    snapshot_date: date
    jobs: int
    batch_calls: int
    statements: int


def snapshot_date(event: dict[str, Any]) -> date:
    """The UTC date of the scheduled event's ``time`` (now, for a hand-made event)."""
    raw = event.get("time")
    if isinstance(raw, str) and raw:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC).date()
    return datetime.now(UTC).date()


def run(
    snapshot: date,
    *,
    sqs: Any = None,
    page_size: int = PAGE_SIZE,
    repo: IngestRepository = REPOSITORY,
) -> FanoutResult:
    sqs = sqs or queue.client()
    url = queue.queue_url()
    after: str | None = None
    jobs = calls = statements = 0
    while True:
        rows = repo.active_integrations(after=after, limit=page_size)
        statements += 1
        if rows:
            batch = [
                IngestJob(
                    integration_id=r.id,
                    organization_id=r.organization_id,
                    snapshot_date=snapshot,
                )
                for r in rows
            ]
            calls += queue.send_jobs(batch, sqs=sqs, url=url)
            jobs += len(batch)
            after = rows[-1].id
        if len(rows) < page_size:
            break
    logger.info(
        "fan-out done",
        extra={"snapshot_date": snapshot.isoformat(), "jobs": jobs, "batch_calls": calls},
    )
    return FanoutResult(snapshot, jobs, calls, statements)
