"""One ingestion job: fetch a Page's recent posts and their metrics, store the snapshot.

Outcomes by error class (see nexus.graph.errors):
- ok / partial (some posts failed permanently): stored; the message is acknowledged;
- throttled: run ``deferred``; the message is held until the quota is back, then retried;
- transient: run ``failed`` with the code; retried by SQS, dead-lettered after
  maxReceiveCount;
- permanent: integration ``needs_reauth``, run ``needs_reauth``; the job goes to the
  dead-letter queue at once with its error class and code, and is acknowledged.

Time (contract §6): each job runs against a :class:`~nexus.deadline.Deadline`, the
invocation's remaining time less a margin kept for recording outcomes. A job is not started
when less than ``INGEST_JOB_BUDGET_SECONDS`` is left, and a job whose Graph calls run out of
time stops (run ``deferred``, code ``deadline``); either way its message is given back
(visible again after ``INGEST_REQUEUE_DELAY_SECONDS``) and reported as a batch item failure,
so another invocation picks it up soon instead of this one being killed mid-way. Nothing is
half-written: a job stores its snapshot in one statement, after Graph, and replays are
idempotent upserts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NoReturn

from pydantic import ValidationError

from nexus import crypto
from nexus.deadline import Deadline, OutOfTime, RemainingTime
from nexus.graph.client import AccountDay, GraphClient, PageResult
from nexus.graph.errors import ErrorClass, GraphError
from nexus.ingest import queue
from nexus.ingest.job import IngestJob
from nexus.ingest.models import Target
from nexus.ingest.repository import IngestRepository
from nexus.meta import oauth
from nexus.observability import logger
from nexus.settings import get_settings

ClientFactory = Callable[[str], GraphClient]
ACCOUNT_HISTORY_DAYS = 90  # what Page insights serve in one call; fetched on first connect
ACCOUNT_REFRESH_DAYS = 3  # re-read on every run: the newest days' values settle late
REPOSITORY = IngestRepository()


class Retry(Exception):
    """Report this message as a batch item failure so SQS delivers it again."""


class GivenBack(Retry):
    """Out of time: the message was given back for another invocation, the job either
    ``not_started`` or ``interrupted`` by its deadline."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"given back: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Outcome:
    status: str
    content_total: int = 0
    content_failed: int = 0
    rows_written: int = 0
    error_code: str | None = None


def default_client(
    token: str, *, deadline: Deadline | None = None, app_secret: str | None = None
) -> GraphClient:
    settings = get_settings()
    return GraphClient(
        token,
        base_url=settings.graph_api_base_url,
        version=settings.graph_api_version,
        timeout=settings.graph_timeout_seconds,
        retries=settings.graph_retries,
        usage_ceiling=settings.graph_usage_ceiling,
        deadline=deadline,
        app_secret=app_secret,
    )


def account_range(snapshot: date, last_stored: date | None) -> tuple[date, date]:
    """The account-level days a job fetches: on first connect the provider's history (90
    days up to the snapshot); afterwards from a little before the newest stored day (recent
    days' values settle late; a gap while the integration was paused is filled), at most 90."""
    oldest = snapshot - timedelta(days=ACCOUNT_HISTORY_DAYS - 1)
    if last_stored is None:
        return oldest, snapshot
    first = min(last_stored, snapshot) - timedelta(days=ACCOUNT_REFRESH_DAYS - 1)
    return max(oldest, first), snapshot


def _account_days(client: GraphClient, target: Target, snapshot: date) -> list[AccountDay]:
    """The account's days. A permission or metric the account lacks (a pasted v1 token
    without read_insights, say) costs only these rows: the posts are stored all the same.
    Throttling and transient failures propagate (the job is retried whole)."""
    first, last = account_range(snapshot, target.account_last)
    try:
        result = client.account_days(target.provider, target.external_id, first, last)
    except GraphError as exc:
        if exc.error_class not in (ErrorClass.PERMANENT, ErrorClass.ITEM):
            raise
        logger.warning(
            "account insights unavailable",
            extra={"integration_id": target.integration_id, "error_code": exc.error_code},
        )
        return []
    return result.days


def time_left(context: RemainingTime) -> Deadline:
    """The deadline for this invocation's jobs: its remaining time less the margin kept
    for recording outcomes and giving messages back."""
    return Deadline.from_context(context, margin=get_settings().ingest_deadline_margin_seconds)


def window(snapshot: Any, days: int) -> tuple[int, int]:
    """Unix bounds of the posts created in the ``days`` days up to the end of ``snapshot``."""
    end = datetime.combine(snapshot + timedelta(days=1), time(), tzinfo=UTC)
    start = end - timedelta(days=days)
    return int(start.timestamp()), int(end.timestamp())


def handle_message(
    body: str, *, receipt_handle: str | None = None, deadline: Deadline | None = None
) -> Outcome:
    """One SQS message: a job to process, or a malformed body that can never succeed and is
    parked in the dead-letter queue at once, unchanged."""
    try:
        job = IngestJob.model_validate_json(body)
    except ValidationError:
        logger.error("malformed ingest job dead-lettered")
        queue.send_to_dlq(body, error_class="permanent", error_code="invalid_message")
        return Outcome(status="dead-lettered")
    return process(job, body=body, receipt_handle=receipt_handle, deadline=deadline)


def _give_back(
    job: IngestJob, reason: str, *, receipt_handle: str | None, sqs: Any, left: float
) -> NoReturn:
    delay = get_settings().ingest_requeue_delay_seconds
    held = bool(receipt_handle) and queue.give_back(str(receipt_handle), delay, sqs=sqs)
    logger.warning(
        "out of time; job given back",
        extra={
            "integration_id": job.integration_id,
            "reason": reason,
            "seconds_left": round(left, 3),
            "visible_in": delay if held else "the queue's visibility timeout",
        },
    )
    raise GivenBack(reason)


def process(
    job: IngestJob,
    *,
    body: str,
    receipt_handle: str | None = None,
    client_factory: ClientFactory | None = None,
    sqs: Any = None,
    repo: IngestRepository = REPOSITORY,
    deadline: Deadline | None = None,
) -> Outcome:
    """``client_factory`` (tests) builds the Graph client; by default it is the real one,
    bound to ``deadline`` (default: none)."""
    deadline = deadline or Deadline.never()
    if not deadline.allows(get_settings().ingest_job_budget_seconds):
        _give_back(
            job, "not_started", receipt_handle=receipt_handle, sqs=sqs, left=deadline.remaining()
        )
    target = repo.target(integration_id=job.integration_id, organization_id=job.organization_id)
    if target is None and repo.erased(
        integration_id=job.integration_id, organization_id=job.organization_id
    ):
        # Erased by Meta's data deletion after the job was queued: nothing to do.
        logger.info("job skipped: integration erased", extra={"integration_id": job.integration_id})
        return Outcome(status="skipped")
    if target is None:
        # No such integration in that organization: the message can never succeed.
        logger.error("ingest job for no integration of its organization dead-lettered")
        queue.send_to_dlq(body, error_class="permanent", error_code="invalid_message", sqs=sqs)
        return Outcome(status="dead-lettered")
    if target.deleted or target.status != "active" or target.token_ciphertext is None:
        # Deleted, disabled or awaiting a new token since the job was queued: nothing to do.
        logger.info("job skipped", extra={"integration_id": job.integration_id})
        return Outcome(status="skipped")
    token = crypto.decrypt(target.token_ciphertext, target.integration_id)
    since, until = window(job.snapshot_date, get_settings().ingest_window_days)
    # Only a token our app issued can be proven with our app's secret (contract §9).
    secret = oauth.app_secret() if target.proven else None
    factory = client_factory or (lambda t: default_client(t, deadline=deadline, app_secret=secret))
    try:
        client = factory(token)
        if target.provider == "instagram":
            result: PageResult = client.instagram_media(target.external_id, since, until)
        else:
            result = client.page_posts(target.external_id, since, until)
        account_days = _account_days(client, target, job.snapshot_date)
    except GraphError as exc:
        return _failed(job, exc, body=body, receipt_handle=receipt_handle, sqs=sqs, repo=repo)
    except OutOfTime:
        # Nothing of this job is stored yet; the run says it will be tried again.
        repo.record_failure(
            organization_id=job.organization_id,
            integration_id=job.integration_id,
            snapshot=job.snapshot_date,
            status="deferred",
            error_code=OutOfTime.error_code,
            needs_reauth=False,
        )
        _give_back(
            job, "interrupted", receipt_handle=receipt_handle, sqs=sqs, left=deadline.remaining()
        )

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
        account_days=account_days,
        # Lifetime values are observed now: a late or redriven job's rows are today's.
        observed=datetime.now(UTC).date(),
    )
    logger.info(
        "snapshot stored",
        extra={
            "integration_id": job.integration_id,
            "status": status,
            "posts": len(result.posts),
            "failed": result.failed,
            "rows_written": written,
            "account_days": len(account_days),
            "graph_requests": client.requests,
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
