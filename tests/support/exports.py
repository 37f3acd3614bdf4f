"""Analytics exports against the local stack's AWS endpoint (moto's server, over real HTTP):
ExportQueue and its dead-letter queue and ExportsBucket as the local stack creates them from
the template, Lambda's SQS event source for ExportFunction (the template's mapping, through
the in-process runtime: the function runs as its own role, nexus_export), and the downloads
of the presigned links."""

from __future__ import annotations

import csv
import dataclasses
import io
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from nexus import aws
from nexus.exports.models import COLUMNS
from nexus.settings import get_settings
from nexus_local.aws import LocalAws, bucket_name
from nexus_local.events import SqsPoller
from nexus_local.runtime import Runtime
from nexus_local.template import parse
from tests.support.api import Api

BUCKET = bucket_name("ExportsBucket")
# S3's least part (but the last) is 5 MiB; moto's is lowered to this, and so is ours, so a
# few thousand rows make several parts.
SMALL_PART = 64 * 1024


class Exports:
    def __init__(self, local: LocalAws, runtime: Runtime) -> None:
        template = parse()
        self.s3, self.sqs = local.client("s3"), local.client("sqs")
        if BUCKET not in {b["Name"] for b in self.s3.list_buckets()["Buckets"]}:
            local.create_buckets(["ExportsBucket"])
        # Queues of this test's own, shaped like the template's (SQS allows one purge a
        # minute: fresh queues leave nothing behind between tests).
        suffix = uuid.uuid4().hex[:8]
        queues = {
            f"{k}-{suffix}": dataclasses.replace(
                q,
                logical_id=f"{k}-{suffix}",
                dead_letter_target=q.dead_letter_target and f"{q.dead_letter_target}-{suffix}",
            )
            for k, q in template.queues.items()
            if k in ("ExportQueue", "ExportDeadLetterQueue")
        }
        values = local.create_queues(queues)
        self.queue_url = values[f"Ref:ExportQueue-{suffix}"]
        self.dlq_url = values[f"Ref:ExportDeadLetterQueue-{suffix}"]
        (source,) = [s for s in template.sqs_sources if s.function_id == "ExportFunction"]
        self.poller = SqsPoller(
            runtime,
            source,
            sqs=self.sqs,
            queue_url=self.queue_url,
            queue_arn=values[f"GetAtt:ExportQueue-{suffix}.Arn"],
            stop=threading.Event(),
        )

    def receive(self, url: str | None = None) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=url or self.queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        return got

    def deliver(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """One poll of ExportFunction's event source mapping (BatchSize 1): the messages it
        took and those left for a retry."""
        messages = self.receive()[:1]
        if not messages:
            return [], []
        return messages, self.poller.process(messages)

    def run_all(self) -> int:
        """Deliver until the queue is empty; how many messages were delivered."""
        delivered = 0
        while True:
            messages, left = self.deliver()
            if not messages:
                return delivered
            assert not left, "an export message was given back"
            delivered += 1

    def send(self, body: str) -> None:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def objects(self) -> dict[str, dict[str, Any]]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix="exports/").get("Contents", [])
        return {o["Key"]: o for o in listed}

    def uploads(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.s3.list_multipart_uploads(Bucket=BUCKET).get(
            "Uploads", []
        )
        return found

    def reset(self) -> None:
        for url in (self.queue_url, self.dlq_url):
            self.sqs.delete_queue(QueueUrl=url)
        for key in self.objects():
            self.s3.delete_object(Bucket=BUCKET, Key=key)
        for upload in self.uploads():
            self.s3.abort_multipart_upload(
                Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"]
            )


@pytest.fixture
def exports(
    _local_aws: LocalAws, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Exports]:
    """The exports' queue and bucket for every function, small parts, emptied after."""
    import moto.s3.models

    found = Exports(_local_aws, runtime)
    for key, value in {
        "AWS_ENDPOINT_URL": _local_aws.url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "EXPORTS_BUCKET": BUCKET,
        "EXPORT_QUEUE_URL": found.queue_url,
        "EXPORT_PART_BYTES": str(SMALL_PART),
        "EXPORT_BATCH_ROWS": "500",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", SMALL_PART)
    aws.cache_clear()
    get_settings.cache_clear()
    yield found
    found.reset()
    aws.cache_clear()


def download(url: str) -> tuple[bytes, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read(), {k.lower(): v for k, v in answer.headers.items()}


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def api_rows(api: Api, token: str, query: str) -> list[list[str]]:
    """Every row GET /analytics/metrics answers for ``query``, as the CSV writes it."""
    rows: list[list[str]] = []
    cursor = ""
    while True:
        reply = api.get(f"/analytics/metrics?{query}&limit=1000{cursor}", token=token)
        assert reply.status == 200, reply.text
        page = reply.json()
        rows += [["" if m[c] is None else str(m[c]) for c in COLUMNS] for m in page["items"]]
        if page["next_cursor"] is None:
            return rows
        cursor = f"&cursor={page['next_cursor']}"
