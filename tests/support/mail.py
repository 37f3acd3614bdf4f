"""Email helpers: moto NotifyQueue (+ dead-letter queue) and a verified SES sender, shaped
like the template's, and the SQS event source mapping's delivery to NotifyFunction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from nexus import aws
from nexus.settings import get_settings

SENDER = "no-reply@nexus-sales.test"
MAX_RECEIVE = 5


class Mail:
    """NotifyQueue and SES on moto."""

    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.ses = boto3.client("sesv2", region_name="us-east-1")
        self.ses.create_email_identity(EmailIdentity=SENDER)
        self.dlq_url = self.sqs.create_queue(QueueName="NotifyDeadLetterQueue")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.url = self.sqs.create_queue(
            QueueName="NotifyQueue",
            Attributes={
                "VisibilityTimeout": "180",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE)}
                ),
            },
        )["QueueUrl"]

    def receive(self, url: str | None = None) -> list[dict[str, Any]]:
        return list(
            self.sqs.receive_message(
                QueueUrl=url or self.url, MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
        )

    def receive_count(self) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"])

    def queued_ids(self) -> list[str]:
        """Drain NotifyQueue: the outbox ids of every message in it."""
        ids: list[str] = []
        while batch := self.receive():
            ids += [json.loads(m["Body"])["outbox_id"] for m in batch]
            for m in batch:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        return ids

    def deliver(self) -> dict[str, Any]:
        """One poll of Lambda's SQS event source mapping: receive a batch, invoke
        NotifyFunction, delete what it did not report as failed."""
        from functions.notify import app as notify_app
        from nexus_local.events import sqs_record
        from tests.support.api import lambda_context

        messages = self.receive()
        if not messages:
            return {"batchItemFailures": []}
        arn = "arn:aws:sqs:us-east-1:123456789012:NotifyQueue"
        event = {"Records": [sqs_record(m, arn) for m in messages]}
        result: dict[str, Any] = notify_app.lambda_handler(event, lambda_context("NotifyFunction"))
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        return result

    def sent(self) -> list[dict[str, Any]]:
        """What moto's SES recorded as sent."""
        from moto.ses.models import ses_backends

        backend = ses_backends["123456789012"]["us-east-1"]
        return [
            {"to": m.destinations["ToAddresses"], "subject": m.subject, "body": m.body}
            for m in backend.sent_messages
        ]


def start_mail(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mail]:
    """The body of a test module's ``mail`` fixture (``yield from start_mail(monkeypatch)``):
    moto for SQS and SES, EMAIL_FROM verified, NOTIFY_QUEUE_URL set."""
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "EMAIL_FROM": SENDER,
        "WEB_BASE_URL": "http://127.0.0.1:8080",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        aws.cache_clear()
        m = Mail()
        monkeypatch.setenv("NOTIFY_QUEUE_URL", m.url)
        get_settings.cache_clear()
        yield m
    aws.cache_clear()
