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

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.source.batching_window
        while len(messages) < self.source.batch_size and not self.stopping.is_set():
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.source.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=1,
            ).get("Messages", [])
            messages += got
            if not got and (messages or time.monotonic() >= deadline):
                break
            if time.monotonic() >= deadline:
                break
        return messages

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                messages = self._receive()
            except Exception:  # keep polling: the endpoint may be restarting
                if self.stopping.is_set():
                    break  # the stack is stopping: its SQS endpoint went first
                log.exception("receive failed")
                self.stopping.wait(2)
                continue
            if not messages or self.stopping.is_set():
                continue  # when stopping, received messages become visible again
            ids = {m["MessageId"] for m in messages}
            try:
                response = self.runtime.invoke(
                    self.source.function_id,
                    {"Records": [sqs_record(m, self.queue_arn) for m in messages]},
                )
                retry = (
                    valid_partial_response(response, ids) if self.source.report_failures else set()
                )
                if retry is None:
                    log.error("malformed partial batch response: the whole batch will be retried")
                    retry = ids
            except InvocationError:
                retry = ids
            done = [m for m in messages if m["MessageId"] not in retry]
            for start in range(0, len(done), 10):
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done[start : start + 10])
                    ],
                )
