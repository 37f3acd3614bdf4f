"""One ingestion job: fetch a Page's recent posts and their metrics, store the snapshot.

Outcomes by error class (see nexus.graph.errors):
- ok / partial (some posts failed permanently): stored; the message is acknowledged;
- throttled: run ``deferred``; the message is held until the quota is back, then retried;
- transient: run ``failed`` with the code; retried by SQS, dead-lettered after
  maxReceiveCount;
- permanent: integration ``needs_reauth``, run ``needs_reauth``; the job goes to the
  dead-letter queue at once with its error class and code, and is acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError

from nexus import crypto
from nexus.graph.client import GraphClient, PageResult, make_session
from nexus.graph.errors import ErrorClass, GraphError
from nexus.ingest import queue
from nexus.ingest.job import IngestJob
from nexus.ingest.repository import IngestRepository
from nexus.observability import logger
from nexus.settings import get_settings

ClientFactory = Callable[[str], GraphClient]
REPOSITORY = IngestRepository()


class Retry(Exception):
    """Report this message as a batch item failure so SQS delivers it again."""


@dataclass(frozen=True)
class Outcome:
    status: str
    content_total: int = 0
    content_failed: int = 0
    rows_written: int = 0
    error_code: str | None = None


def default_client(token: str) -> GraphClient:
    settings = get_settings()
    return GraphClient(
        token,
        base_url=settings.graph_api_base_url,
        version=settings.graph_api_version,
        timeout=settings.graph_timeout_seconds,
        usage_ceiling=settings.graph_usage_ceiling,
        session=make_session(settings.graph_retries),
    )


def window(snapshot: Any, days: int) -> tuple[int, int]:
    """Unix bounds of the posts created in the ``days`` days up to the end of ``snapshot``."""
    end = datetime.combine(snapshot + timedelta(days=1), time(), tzinfo=UTC)
    start = end - timedelta(days=days)
    return int(start.timestamp()), int(end.timestamp())


def handle_message(body: str, *, receipt_handle: str | None = None) -> Outcome:
    """One SQS message: a job to process, or a malformed body that can never succeed and is
    parked in the dead-letter queue at once, unchanged."""
    try:
        job = IngestJob.model_validate_json(body)
    except ValidationError:
        logger.error("malformed ingest job dead-lettered")
        queue.send_to_dlq(body, error_class="permanent", error_code="invalid_message")
        return Outcome(status="dead-lettered")
    return process(job, body=body, receipt_handle=receipt_handle)


def process(
    job: IngestJob,
    *,
    body: str,
    receipt_handle: str | None = None,
    client_factory: ClientFactory = default_client,
    sqs: Any = None,
    repo: IngestRepository = REPOSITORY,
) -> Outcome:
    target = repo.target(integration_id=job.integration_id, organization_id=job.organization_id)
    if target is None:
        # No such integration in that organization: the message can never succeed.
        logger.error("ingest job for no integration of its organization dead-lettered")
        queue.send_to_dlq(body, error_class="permanent", error_code="invalid_message", sqs=sqs)
        return Outcome(status="dead-lettered")
    if target.deleted or target.status != "active":
        # Deleted, disabled or awaiting a new token since the job was queued: nothing to do.
        logger.info("job skipped", extra={"integration_id": job.integration_id})
        return Outcome(status="skipped")
    token = crypto.decrypt(target.token_ciphertext, target.integration_id)
    since, until = window(job.snapshot_date, get_settings().ingest_window_days)
    try:
        result: PageResult = client_factory(token).page_posts(target.external_id, since, until)
    except GraphError as exc:
        return _failed(job, exc, body=body, receipt_handle=receipt_handle, sqs=sqs, repo=repo)

    status = "partial" if result.failed else "ok"
    failures = [p.error for p in result.posts if p.error is not None]
    error_code = failures[0].error_code if failures else None
    written = repo.save_snapshot(
        organization_id=job.organization_id,
        integration_id=job.integration_id,
        snapshot=job.snapshot_date,
        posts=result.posts,
        status=status,
        error_code=error_code,
    )
    logger.info(
        "snapshot stored",
        extra={
            "integration_id": job.integration_id,
            "status": status,
            "posts": len(result.posts),
            "failed": result.failed,
            "rows_written": written,
            "graph_requests": result.requests,
            "unavailable_metrics": sorted(result.unavailable),
        },
    )
    return Outcome(status, len(result.posts), result.failed, written, error_code)


def _failed(
    job: IngestJob,
    exc: GraphError,
    *,
    body: str,
    receipt_handle: str | None,
    sqs: Any,
    repo: IngestRepository,
) -> Outcome:
    permanent = exc.error_class in (ErrorClass.PERMANENT, ErrorClass.ITEM)
    status = {
        ErrorClass.THROTTLED: "deferred",
        ErrorClass.TRANSIENT: "failed",
    }.get(exc.error_class, "needs_reauth")
    repo.record_failure(
        organization_id=job.organization_id,
        integration_id=job.integration_id,
        snapshot=job.snapshot_date,
        status=status,
        error_code=exc.error_code,
        needs_reauth=permanent,
    )
    extra = {
        "integration_id": job.integration_id,
        "error_class": exc.error_class.value,
        "error_code": exc.error_code,
    }
    if permanent:
        logger.warning("integration needs re-authorisation; job dead-lettered", extra=extra)
        queue.send_to_dlq(body, error_class="permanent", error_code=exc.error_code, sqs=sqs)
        return Outcome(status=status, error_code=exc.error_code)
    if exc.error_class is ErrorClass.THROTTLED and receipt_handle:
        logger.warning("throttled; holding the job", extra={**extra, "wait": exc.retry_after})
        queue.hold(receipt_handle, int(exc.retry_after or 0), sqs=sqs)
    else:
        logger.warning("transient failure; SQS will retry", extra=extra)
    raise Retry(f"{exc.error_class.value} {exc.error_code}")
