"""Redrive: all or only transient jobs go back from the dead-letter queue, unchanged."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from nexus_ops.__main__ import main as cli
from nexus_ops.redrive import RedriveRefused, redrive

from tests.support.queues import Queues


def park(queues: Queues, body: str, error_class: str | None) -> None:
    attributes = (
        {
            "error_class": {"DataType": "String", "StringValue": error_class},
            "error_code": {"DataType": "String", "StringValue": "190"},
        }
        if error_class
        else {}
    )
    queues.sqs.send_message(QueueUrl=queues.dlq_url, MessageBody=body, MessageAttributes=attributes)


def bodies(queues: Queues, url: str) -> list[str]:
    return sorted(m["Body"] for m in queues.receive(url))


def test_only_transient_leaves_permanent_jobs_parked(queues: Queues) -> None:
    park(queues, '{"job": 1}', None)  # dead-lettered by SQS after maxReceiveCount
    park(queues, '{"job": 2}', "transient")
    park(queues, '{"job": 3}', "permanent")
    result = redrive(queues.sqs, dlq_url=queues.dlq_url, queue_url=queues.url, only="transient")
    assert (result.method, result.moved, result.kept) == ("copy", 2, 1)
    assert bodies(queues, queues.url) == ['{"job": 1}', '{"job": 2}']


def test_all_falls_back_to_copy_where_move_tasks_are_unsupported(queues: Queues) -> None:
    for i in range(25):
        park(queues, json.dumps({"job": i}), "permanent" if i % 2 else None)
    result = redrive(queues.sqs, dlq_url=queues.dlq_url, queue_url=queues.url)
    assert (result.method, result.moved, result.kept) == ("copy", 25, 0)
    assert queues.depth(queues.dlq_url) == 0
    assert queues.depth() == 25


def test_cli_redrives_and_shows_depths(queues: Queues, capsys: pytest.CaptureFixture[str]) -> None:
    park(queues, '{"job": 1}', "transient")
    assert cli(["redrive", "--only", "transient"]) == 0
    assert "moved 1, kept 0" in capsys.readouterr().out
    assert cli(["queues"]) == 0
    out = capsys.readouterr().out
    assert "IngestQueue" in out and "IngestDeadLetterQueue" in out


DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:IngestDeadLetterQueue"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:IngestQueue"


def _aws_stub() -> tuple[object, Stubber]:
    sqs = boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(sqs)
    stub.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": DLQ_ARN}},
        {"QueueUrl": "dlq", "AttributeNames": ["QueueArn"]},
    )
    stub.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": QUEUE_ARN}},
        {"QueueUrl": "q", "AttributeNames": ["QueueArn"]},
    )
    return sqs, stub


def test_on_aws_all_uses_start_message_move_task() -> None:
    sqs, stub = _aws_stub()
    stub.add_response(
        "list_message_move_tasks",
        {"Results": [{"Status": "COMPLETED", "SourceArn": DLQ_ARN}]},
        {"SourceArn": DLQ_ARN, "MaxResults": 10},
    )
    stub.add_response(
        "start_message_move_task",
        {"TaskHandle": "handle-1"},
        {"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN, "MaxNumberOfMessagesPerSecond": 500},
    )
    with stub:
        result = redrive(sqs, dlq_url="dlq", queue_url="q", rate=10_000)
    assert (result.method, result.task_handle) == ("move-task", "handle-1")
    stub.assert_no_pending_responses()


def test_on_aws_a_running_move_task_refuses_another() -> None:
    sqs, stub = _aws_stub()
    stub.add_response(
        "list_message_move_tasks",
        {"Results": [{"Status": "RUNNING", "SourceArn": DLQ_ARN}]},
        {"SourceArn": DLQ_ARN, "MaxResults": 10},
    )
    with stub, pytest.raises(RedriveRefused):
        redrive(sqs, dlq_url="dlq", queue_url="q")


def test_cli_sync_queues_one_job(queues: Queues, conn: Any) -> None:
    from nexus.ingest.job import IngestJob

    (org,) = conn.execute(
        "INSERT INTO organizations (name) VALUES ('o') RETURNING id::text"
    ).fetchone()
    (integration,) = conn.execute(
        "INSERT INTO integrations (organization_id, provider, external_id, name,"
        " access_token_ciphertext) VALUES (%s, 'facebook', '1', 'P', '\\x00') RETURNING id::text",
        (org,),
    ).fetchone()
    assert cli(["sync", integration, "--date", "2026-11-20"]) == 0
    (message,) = queues.receive()
    job = IngestJob.model_validate_json(message["Body"])
    assert (job.organization_id, job.snapshot_date.isoformat()) == (org, "2026-11-20")
    assert cli(["sync", "00000000-0000-4000-8000-000000000000"]) == 1


def test_only_offers_the_classes_a_dead_lettered_job_can_have(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No dead-lettered job is ever marked throttled (SQS dead-letters those without a
    class): a filter that could match nothing is refused, not silently a no-op."""
    with pytest.raises(SystemExit) as refused:
        cli(["redrive", "--only", "throttled"])
    assert refused.value.code == 2
    assert "invalid choice: 'throttled'" in capsys.readouterr().err
