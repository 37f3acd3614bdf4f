"""The fan-out: one message per active integration per snapshot date, in batches of ten,
re-sending only failed entries."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import pytest

from nexus.ingest import fanout, queue
from nexus.ingest.job import IngestJob
from tests.support.queues import Queues, fire_schedule

ORG = str(uuid.uuid4())


def seed_integrations(conn: Any, count: int, *, inactive: int = 0) -> None:
    (org,) = conn.execute("INSERT INTO organizations (name) VALUES ('o') RETURNING id").fetchone()
    conn.execute(
        "INSERT INTO integrations (organization_id, provider, external_id, name,"
        " access_token_ciphertext, status)"
        " SELECT %s, 'facebook', 'page-' || g, 'P', '\\x00',"
        " CASE WHEN g <= %s THEN 'needs_reauth' ELSE 'active' END"
        " FROM generate_series(1, %s) g",
        (org, inactive, count + inactive),
    )


class CountingSqs:
    def __init__(self, real: Any) -> None:
        self.real = real
        self.batch_calls = 0

    def send_message_batch(self, **kwargs: Any) -> Any:
        self.batch_calls += 1
        assert len(kwargs["Entries"]) <= 10
        return self.real.send_message_batch(**kwargs)


def test_1000_integrations_make_exactly_100_batch_calls(conn: Any, queues: Queues) -> None:
    seed_integrations(conn, 1000, inactive=7)
    counting = CountingSqs(queues.sqs)
    result = fanout.run(date(2026, 11, 21), sqs=counting)
    assert (result.jobs, result.batch_calls, counting.batch_calls) == (1000, 100, 100)
    assert result.statements == 2  # one keyset page of 1000, one that comes back short
    assert queues.depth() == 1000
    sample = IngestJob.model_validate_json(queues.receive(max_messages=1)[0]["Body"])
    assert sample.snapshot_date == date(2026, 11, 21)


def test_snapshot_date_is_the_utc_date_of_the_event_time() -> None:
    assert fanout.snapshot_date({"time": "2026-11-21T23:59:59Z"}) == date(2026, 11, 21)
    assert fanout.snapshot_date({"time": "2026-11-22T01:00:00+02:00"}) == date(2026, 11, 21)


def test_the_handler_reads_the_schedule_time(conn: Any, queues: Queues) -> None:
    seed_integrations(conn, 3)
    assert fire_schedule("2026-11-20T02:30:00Z")["snapshot_date"] == "2026-11-20"
    days = {json.loads(m["Body"])["snapshot_date"] for m in queues.receive()}
    assert days == {"2026-11-20"}


class FlakySqs:
    """Fails the given entry ids on the first attempts, as SQS reports partial failures."""

    def __init__(self, fail_times: int) -> None:
        self.fail_times = fail_times
        self.calls: list[list[str]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        ids = [e["Id"] for e in Entries]
        self.calls.append(ids)
        if len(self.calls) <= self.fail_times:
            bad = ids[:2]
            return {
                "Successful": [{"Id": i} for i in ids if i not in bad],
                "Failed": [{"Id": i, "Code": "InternalError", "SenderFault": False} for i in bad],
            }
        return {"Successful": [{"Id": i} for i in ids], "Failed": []}


def _jobs(n: int) -> list[IngestJob]:
    return [
        IngestJob(integration_id=str(uuid.uuid4()), organization_id=ORG, snapshot_date=date.today())
        for i in range(n)
    ]


def test_only_failed_entries_are_resent() -> None:
    sqs = FlakySqs(fail_times=1)
    assert queue.send_jobs(_jobs(10), sqs=sqs, url="q") == 2
    assert sqs.calls[1] == sqs.calls[0][:2]


def test_entries_that_keep_failing_fail_loudly() -> None:
    sqs = FlakySqs(fail_times=99)
    with pytest.raises(queue.QueueError, match="2 ingest job"):
        queue.send_jobs(_jobs(10), sqs=sqs, url="q")
    assert len(sqs.calls) == queue.SEND_ATTEMPTS
