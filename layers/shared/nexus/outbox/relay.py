"""Relaying outbox ids to NotifyQueue: after the writer's commit (:func:`publish`, best
effort) and on MaintenanceFunction's schedule (:func:`sweep`, the guarantee).

Why no row is lost (docs/architecture.md, "Email: the outbox"): the row commits with the
change that causes it, or neither exists; :func:`publish` may fail or never run (a crash
right after the commit), which only leaves ``relayed_at`` NULL, and the sweep relays every
pending row that has been unrelayed for OUTBOX_RELAY_AFTER_SECONDS, or relayed longer than
OUTBOX_RESEND_AFTER_SECONDS ago and still unsent (a message lost after SQS took it). Once in
NotifyQueue, a message is retried with backoff and parked in NotifyDeadLetterQueue after
maxReceiveCount, from where ``nexus_ops redrive --queue notify`` resends it. A row relayed
twice is sent once: NotifyFunction claims by outbox id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from nexus import aws
from nexus.observability import logger
from nexus.outbox.models import SweepResult
from nexus.outbox.repository import OutboxRepository
from nexus.settings import get_settings

BATCH_LIMIT = 10  # SendMessageBatch takes at most 10 entries
REPOSITORY = OutboxRepository()


def body(outbox_id: str) -> str:
    return json.dumps({"outbox_id": outbox_id}, separators=(",", ":"))


def send_ids(ids: list[str], *, sqs: Any = None, url: str | None = None) -> list[str]:
    """Hand ``ids`` to NotifyQueue in batches of ten; returns the ids SQS took (an entry it
    reports as Failed is left for the sweep, not retried here)."""
    target = url or get_settings().notify_queue_url
    if not target:
        logger.warning("NOTIFY_QUEUE_URL is not configured: the sweep will relay")
        return []
    sqs = sqs or aws.client("sqs")
    taken: list[str] = []
    for start in range(0, len(ids), BATCH_LIMIT):
        chunk = ids[start : start + BATCH_LIMIT]
        entries = [{"Id": str(i), "MessageBody": body(x)} for i, x in enumerate(chunk)]
        response = sqs.send_message_batch(QueueUrl=target, Entries=entries)
        failed = {f["Id"] for f in response.get("Failed") or []}
        taken += [x for i, x in enumerate(chunk) if str(i) not in failed]
    return taken


def publish(ids: list[str], *, repo: OutboxRepository = REPOSITORY, sqs: Any = None) -> None:
    """After the transaction that wrote ``ids`` committed: hand them to NotifyQueue and mark
    them relayed. Never raises: whatever fails here the sweep relays within a few minutes,
    and the caller's change (and its answer) must not depend on the queue."""
    if not ids:
        return
    try:
        taken = send_ids(list(ids), sqs=sqs)
        if taken:
            repo.mark_relayed(taken)
    except Exception as exc:  # noqa: BLE001 - best effort by design: the sweep relays
        logger.warning(
            "outbox publish failed; the sweep will relay",
            extra={"error": type(exc).__name__, "count": len(ids)},
        )


def sweep(
    *,
    repo: OutboxRepository = REPOSITORY,
    sqs: Any = None,
    keep_going: Callable[[], bool] = lambda: True,
    max_batches: int = 50,
) -> SweepResult:
    """Relay the due rows in batches (SKIP LOCKED: concurrent sweeps share the work) while
    ``keep_going()`` (the invocation's time) allows; ids SQS did not take are un-marked and
    due at the next sweep. Errors from SQS propagate after un-marking: the schedule's next
    run tries again."""
    settings = get_settings()
    relayed = failed = batches = 0
    while batches < max_batches and keep_going():
        ids = repo.due(
            relay_after=settings.outbox_relay_after_seconds,
            resend_after=settings.outbox_resend_after_seconds,
            max_attempts=settings.outbox_max_attempts,
            batch=settings.outbox_sweep_batch,
        )
        if not ids:
            break
        batches += 1
        try:
            taken = send_ids(ids, sqs=sqs)
        except Exception:
            repo.unrelay(ids)
            raise
        missed = sorted(set(ids) - set(taken))
        if missed:
            repo.unrelay(missed)
        relayed += len(taken)
        failed += len(missed)
        if missed or len(ids) < settings.outbox_sweep_batch:
            break
    return SweepResult(relayed=relayed, failed=failed, batches=batches)


def delay(receipt_handle: str, seconds: int, *, sqs: Any = None) -> None:
    """Keep a NotifyQueue message invisible for ``seconds`` (the retry's backoff). Best
    effort: when SQS cannot be told, the queue's visibility timeout applies, which loses
    nothing."""
    url = get_settings().notify_queue_url
    if not url:
        return
    try:
        (sqs or aws.client("sqs")).change_message_visibility(
            QueueUrl=url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(seconds, 43_200)),
        )
    except Exception as exc:  # noqa: BLE001 - the visibility timeout is the fallback
        logger.warning("could not delay the retry", extra={"error": type(exc).__name__})
