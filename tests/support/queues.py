"""Ingestion helpers: moto SQS queues shaped like the template's, an emulation of Lambda's SQS
event source mapping, and the calls that connect a page and fire the schedule."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime
from typing import Any

import boto3

from functions.ingest_fanout import app as fanout_app
from functions.ingest_metrics import app as metrics_app
from nexus_local.events import sqs_record
from nexus_local.fake_graph import FakePage
from tests.support.api import Api, lambda_context

MAX_RECEIVE = 5


class Queues:
    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.dlq_url = self.sqs.create_queue(QueueName="IngestDeadLetterQueue")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.url = self.sqs.create_queue(
            QueueName="IngestQueue",
            Attributes={
                "VisibilityTimeout": "360",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE)}
                ),
            },
        )["QueueUrl"]

    def receive(self, url: str | None = None, max_messages: int = 10) -> list[dict[str, Any]]:
        return list(
            self.sqs.receive_message(
                QueueUrl=url or self.url,
                MaxNumberOfMessages=max_messages,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        )

    def depth(self, url: str | None = None) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url or self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    def visible(self, url: str | None = None) -> int:
        """Messages a receive could get now (not in flight)."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url or self.url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"])

    def deliver(
        self, max_messages: int = 10, *, remaining: float | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One poll of Lambda's event source mapping: receive a batch, invoke the consumer
        (with ``remaining`` seconds before its Timeout, if given), delete what it did not
        report as failed; the failures stay in the queue until their visibility ends."""
        messages = self.receive(max_messages=max_messages)
        if not messages:
            return [], {"batchItemFailures": []}
        arn = "arn:aws:sqs:us-east-1:123456789012:IngestQueue"
        event = {"Records": [sqs_record(m, arn) for m in messages]}
        context = lambda_context("IngestMetricsFunction")
        if remaining is not None:
            context = dataclasses.replace(context, deadline=time.monotonic() + remaining)
        result = metrics_app.lambda_handler(event, context)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        return messages, result

    def release(self, messages: list[dict[str, Any]]) -> None:
        """Make these in-flight messages visible again (stands in for the timeout passing)."""
        for m in messages:
            self.sqs.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
            )


def connect(api: Api, token: str, page: FakePage, name: str = "Page") -> dict[str, Any]:
    reply = api.post(
        "/integrations",
        json_body={
            "provider": "facebook",
            "external_id": page.id,
            "name": name,
            "access_token": page.token,
        },
        token=token,
    )
    assert reply.status == 201, reply.text
    return dict(reply.json())


def fire_schedule(time: str | None = None) -> dict[str, Any]:
    """The scheduled event, for today (UTC) unless a time is given."""
    when = time or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {"source": "nexus.schedule", "time": when}
    return dict(fanout_app.lambda_handler(event, lambda_context("IngestFanoutFunction")))
