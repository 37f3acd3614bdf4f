"""Move messages from the ingest dead-letter queue back to the ingest queue.

- All messages, on AWS: ``StartMessageMoveTask`` (SQS moves them itself, at a bounded
  rate), refused while another move task on the same queue is running.
- Only transient ones (``--only transient``), or where the endpoint has no move tasks (moto,
  other SQS-compatible endpoints): receive → send → delete, in batches of ten. A message
  without an ``error_class`` attribute was dead-lettered by SQS after maxReceiveCount, so it
  counts as transient; ``permanent`` ones (bad token) stay until their owner reconnects.

Which way it goes is announced in one line (``announce``) before anything moves. An endpoint
known to lack move tasks (``move_tasks=False``: the local stack) is not asked; otherwise an
endpoint that answers the probe with "not implemented" falls back to the copy.

The CLI hands it a client from ``nexus.aws`` (connect/read timeouts, bounded retries).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

MAX_RATE = 500  # messages per second, StartMessageMoveTask's ceiling
_UNSUPPORTED = {
    "UnsupportedOperation",
    "InvalidAction",
    "AWS.SimpleQueueService.UnsupportedOperation",
}


COPY = (
    "receiving from the dead-letter queue, re-sending each original body to the ingest queue"
    " and deleting it from the dead-letter queue, 10 at a time"
)


class RedriveRefused(Exception):
    pass


@dataclass(frozen=True)
class RedriveResult:
    method: str  # "move-task" or "copy"
    moved: int
    kept: int
    task_handle: str | None = None


def _arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attrs["Attributes"]["QueueArn"])


def _running_task(sqs: Any, source_arn: str) -> bool:
    tasks = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10).get("Results", [])
    return any(t.get("Status") == "RUNNING" for t in tasks)


def _unsupported(exc: Exception) -> bool:
    if isinstance(exc, NotImplementedError):
        return True
    assert isinstance(exc, ClientError)
    error = exc.response.get("Error", {})
    # moto's server answers operations it lacks with a bare HTTP 500.
    return error.get("Code") in _UNSUPPORTED or error.get("Code") == "500"


def _error_class(message: dict[str, Any]) -> str:
    attr = (message.get("MessageAttributes") or {}).get("error_class") or {}
    return str(attr.get("StringValue") or "transient")


def redrive(
    sqs: Any,
    *,
    dlq_url: str,
    queue_url: str,
    only: str | None = None,
    rate: int = 100,
    progress: Callable[[int, int], None] | None = None,
    move_tasks: bool | None = None,
    announce: Callable[[str], object] | None = None,
) -> RedriveResult:
    """``move_tasks``: True/None (find out) to use ``StartMessageMoveTask`` when redriving
    everything, False where the endpoint is known to have none. ``announce`` hears, in one
    line, which way the messages are about to move."""
    say = announce or (lambda line: None)
    if only is not None:
        say(f"redrive of {only} jobs only, so by copy: {COPY}")
    elif move_tasks is False:
        say(f"redrive by copy (this SQS endpoint has no message move tasks): {COPY}")
    else:
        source, destination = _arn(sqs, dlq_url), _arn(sqs, queue_url)
        try:
            running = _running_task(sqs, source)
        except (ClientError, NotImplementedError) as exc:
            if not _unsupported(exc):
                raise
            running = None
        if running:
            raise RedriveRefused("a message move task is already running for this queue")
        if running is None:
            say(f"redrive by copy (this SQS endpoint has no message move tasks): {COPY}")
        else:
            say("redrive by StartMessageMoveTask: SQS moves the messages itself")
            task = sqs.start_message_move_task(
                SourceArn=source,
                DestinationArn=destination,
                MaxNumberOfMessagesPerSecond=max(1, min(rate, MAX_RATE)),
            )
            return RedriveResult("move-task", moved=-1, kept=0, task_handle=task["TaskHandle"])
    return _copy(sqs, dlq_url=dlq_url, queue_url=queue_url, only=only, progress=progress)


def _copy(
    sqs: Any,
    *,
    dlq_url: str,
    queue_url: str,
    only: str | None,
    progress: Callable[[int, int], None] | None,
) -> RedriveResult:
    moved = kept = 0
    seen: set[str] = set()
    while True:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            # Long enough to finish this batch; kept ones become visible again afterwards.
            VisibilityTimeout=60,
            # A long poll asks every SQS server: a short one can answer empty while messages
            # remain, which would end the redrive early. It must end well inside the client's
            # read timeout (nexus.aws: 5 s by default).
            WaitTimeSeconds=1,
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        seen.update(m["MessageId"] for m in fresh)
        chosen = [m for m in fresh if only is None or _error_class(m) == only]
        kept += len(fresh) - len(chosen)
        if chosen:
            # The original body goes back unchanged; the error attributes stay behind.
            response = sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(chosen)],
            )
            sent = {int(e["Id"]) for e in response.get("Successful", [])}
            done = [m for i, m in enumerate(chosen) if i in sent]
            if done:
                sqs.delete_message_batch(
                    QueueUrl=dlq_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done)
                    ],
                )
            moved += len(done)
            kept += len(chosen) - len(done)
        if progress:
            progress(moved, kept)
    return RedriveResult("copy", moved=moved, kept=kept)
