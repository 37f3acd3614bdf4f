"""Event sources as the template declares them: the schedule, and the SQS event source
mapping (batch size, batching window, ReportBatchItemFailures exactly as Lambda reads it:
a malformed response fails the whole batch)."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from nexus_local.runtime import InvocationError, Runtime
from nexus_local.schedules import next_fire
from nexus_local.template import Schedule, SqsSource

log = logging.getLogger("nexus_local")


# -- schedule ------------------------------------------------------------------------------
# The expression itself (rate, cron, at) is evaluated by nexus_local.schedules.


def scheduled_event(schedule: Schedule, when: datetime) -> Any:
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if schedule.input:
        return json.loads(schedule.input.replace("<aws.scheduler.scheduled-time>", stamp))
    return {
        "source": "aws.scheduler",
        "detail-type": "Scheduled Event",
        "time": stamp,
        "detail": {},
    }


class Scheduler(threading.Thread):
    def __init__(self, runtime: Runtime, schedule: Schedule, stop: threading.Event) -> None:
        super().__init__(daemon=True, name=f"schedule-{schedule.function_id}")
        self.runtime, self.schedule, self.stopping = runtime, schedule, stop
        self.next_at = next_fire(schedule.expression, datetime.now(UTC))

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            if self.next_at is None:
                return  # never fires again (an at() in the past, a cron whose years are over)
            if datetime.now(UTC) >= self.next_at:
                fire_at, self.next_at = (
                    self.next_at,
                    next_fire(self.schedule.expression, self.next_at),
                )
                try:
                    result = self.runtime.invoke(
                        self.schedule.function_id, scheduled_event(self.schedule, fire_at)
                    )
                    log.info("schedule fired %s: %s", self.schedule.function_id, result)
                except InvocationError:
                    pass  # logged by the runtime; the next fire goes ahead


# -- SQS event source mapping --------------------------------------------------------------
def valid_partial_response(response: Any, message_ids: set[str]) -> set[str] | None:
    """The ids to retry, or None when the response is malformed (Lambda then fails the
    whole batch)."""
    if response is None:
        return set()
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    ids: set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or ident not in message_ids:
            return None
        ids.add(ident)
    return ids


def sqs_record(m: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A ReceiveMessage message as Lambda's SQS event source hands it to a function."""
    return {
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": {
            k: {"stringValue": v.get("StringValue"), "dataType": v.get("DataType")}
            for k, v in (m.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": m.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }


class SqsPoller(threading.Thread):
    """One poller of an SQS event source mapping, as Lambda runs them (the stack starts
    several, up to the function's environment limit): long-poll ``ReceiveMessage``, gather a
    batch of up to ``BatchSize`` for at most ``MaximumBatchingWindowInSeconds`` after its first
    message, invoke the function, then delete the messages it processed. With
    ``ReportBatchItemFailures`` those in ``batchItemFailures`` stay; a malformed partial-batch
    response or a function error leaves the whole batch. What stays becomes visible again
    after the queue's visibility timeout, so the queue's redrive policy (``maxReceiveCount``)
    moves a message that keeps failing to its dead-letter queue, on the local endpoint as on
    AWS."""

    # Seconds one idle long poll waits for a first message. The stack, stopping, waits only
    # for the pollers that hold a batch (:meth:`finish`), not for one in an idle poll.
    IDLE_WAIT = 5
    MAX_WAIT = 20  # SQS's longest long poll

    def __init__(
        self,
        runtime: Runtime,
        source: SqsSource,
        *,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        stop: threading.Event,
    ) -> None:
        super().__init__(daemon=True, name=f"esm-{source.function_id}")
        self.runtime, self.source, self.sqs = runtime, source, sqs
        self.queue_url, self.queue_arn, self.stopping = queue_url, queue_arn, stop
        self.holding = False
        self.clock = time.monotonic

    def _poll(self, count: int, wait: int) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=wait,
        ).get("Messages", [])
        return got

    def receive(self) -> list[dict[str, Any]]:
        """One batch: empty after an idle long poll, else what arrived until the batch was
        full or the batching window (from its first message) was over."""
        size, window = self.source.batch_size, self.source.batching_window
        messages: list[dict[str, Any]] = []
        window_ends: float | None = None
        while len(messages) < size and not self.stopping.is_set():
            if window_ends is None:
                wait = self.IDLE_WAIT
            else:
                left = window_ends - self.clock()
                if left < 1:
                    break
                wait = min(self.MAX_WAIT, int(left))
            got = self._poll(min(10, size - len(messages)), wait)
            if not got and not messages:
                return []
            messages += got
            self.holding = True
            if window_ends is None:
                if window <= 0:
                    break
                window_ends = self.clock() + window
        return messages

    def process(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Invoke the function with the batch and delete what it processed; the messages
        left for a retry are returned."""
        ids = {m["MessageId"] for m in messages}
        try:
            response = self.runtime.invoke(
                self.source.function_id,
                {"Records": [sqs_record(m, self.queue_arn) for m in messages]},
            )
            retry = valid_partial_response(response, ids) if self.source.report_failures else set()
            if retry is None:
                log.error("malformed partial batch response: the whole batch will be retried")
                retry = ids
        except InvocationError:
            retry = ids  # logged by the runtime
        self._delete_processed([m for m in messages if m["MessageId"] not in retry])
        return [m for m in messages if m["MessageId"] in retry]

    def _delete_processed(self, done: list[dict[str, Any]]) -> None:
        # (not _delete: threading.Thread has one of its own, which _bootstrap_inner calls)
        for start in range(0, len(done), 10):
            answer = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
            for failed in answer.get("Failed") or []:
                log.error("could not delete a processed message: %s", failed)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                messages = self.receive()
                if messages and not self.stopping.is_set():
                    self.process(messages)
                # When stopping, received messages become visible again.
            except Exception:  # keep polling: the endpoint may be restarting
                if self.stopping.is_set():
                    break  # the stack is stopping: its SQS endpoint went first
                log.exception("event source mapping of %s failed", self.source.function_id)
                self.stopping.wait(2)
            finally:
                self.holding = False

    def finish(self, timeout: float) -> None:
        """Wait for the batch this poller holds (after ``stop`` is set), not for an idle
        long poll."""
        deadline = time.monotonic() + timeout
        while self.is_alive() and time.monotonic() < deadline:
            if not self.holding:
                return
            self.join(timeout=0.1)
