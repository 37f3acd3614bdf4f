"""The SQS adapter: the only module of the layer that talks to the queues, through the
client :mod:`nexus.aws` makes (timeouts, bounded retries, ``AWS_ENDPOINT_URL`` honoured by
boto3 itself, so the local stack's SQS endpoint or moto stand in for AWS).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from nexus import aws
from nexus.errors import ServiceUnavailable
from nexus.ingest.job import IngestJob
from nexus.observability import logger
from nexus.settings import get_settings

BATCH_LIMIT = 10  # SendMessageBatch takes at most 10 entries
SEND_ATTEMPTS = 3


SendJobs = Callable[[Sequence[IngestJob]], int]


class QueueError(Exception):
    """Some messages could not be sent even after retrying the failed entries."""


def client() -> Any:
    return aws.client("sqs")


def queue_url() -> str:
    url = get_settings().ingest_queue_url
    if not url:
        raise ServiceUnavailable("INGEST_QUEUE_URL is not configured")
    return url


def send_jobs(jobs: Sequence[IngestJob], *, sqs: Any = None, url: str | None = None) -> int:
    """Send jobs in batches of ten, re-sending only the entries SQS reports as Failed (a
    bounded number of times). Returns the number of SendMessageBatch calls."""
    sqs = sqs or client()
    url = url or queue_url()
    calls = 0
    for start in range(0, len(jobs), BATCH_LIMIT):
        pending = {str(i): job for i, job in enumerate(jobs[start : start + BATCH_LIMIT])}
        for _attempt in range(SEND_ATTEMPTS):
            entries = [{"Id": key, "MessageBody": job.body()} for key, job in pending.items()]
            response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
            calls += 1
            failed = response.get("Failed") or []
            pending = {f["Id"]: pending[f["Id"]] for f in failed}
            if not pending:
                break
            logger.warning("re-sending failed entries", extra={"count": len(pending)})
        if pending:
            raise QueueError(f"{len(pending)} ingest job(s) could not be queued")
    return calls


def send_to_dlq(
    body: str, *, error_class: str, error_code: str, sqs: Any = None, url: str | None = None
) -> None:
    """Park a job in the dead-letter queue at once, unchanged, saying why."""
    sqs = sqs or client()
    target = url or get_settings().ingest_dlq_url
    if not target:
        raise ServiceUnavailable("INGEST_DLQ_URL is not configured")
    sqs.send_message(
        QueueUrl=target,
        MessageBody=body,
        MessageAttributes={
            "error_class": {"DataType": "String", "StringValue": error_class},
            "error_code": {"DataType": "String", "StringValue": error_code},
        },
    )


def give_back(
    receipt_handle: str, seconds: int, *, sqs: Any = None, url: str | None = None
) -> bool:
    """Make a message this invocation cannot finish visible again in ``seconds``; False when
    SQS could not be told (the message then returns after the queue's visibility timeout,
    which loses nothing)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        hold(receipt_handle, seconds, sqs=sqs, url=url)
    except (BotoCoreError, ClientError) as exc:
        logger.warning("could not give the message back early", extra={"error": type(exc).__name__})
        return False
    return True


def hold(receipt_handle: str, seconds: int, *, sqs: Any = None, url: str | None = None) -> None:
    """Keep a received message invisible for ``seconds`` from now (SQS caps this at 12 h):
    a throttled job until the quota is back; a job given back for lack of time only for a
    moment (0 makes it visible at once), so another invocation picks it up soon."""
    sqs = sqs or client()
    sqs.change_message_visibility(
        QueueUrl=url or queue_url(),
        ReceiptHandle=receipt_handle,
        VisibilityTimeout=max(0, min(seconds, 43_200)),
    )
