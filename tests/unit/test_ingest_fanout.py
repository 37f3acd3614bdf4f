"""nexus.ingest.fanout: keyset paging over the schedulable integrations and one job each,
against an in-memory IngestRepository and a recording SQS client."""

from __future__ import annotations

from datetime import date

import pytest

from nexus.ingest import fanout
from nexus.ingest.job import IngestJob
from nexus.ingest.models import Schedulable
from nexus.settings import get_settings
from tests.support.fakes import FakeIngestRepository, FakeSqs, new_id

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/IngestQueue"
SNAPSHOT = date(2026, 3, 1)


@pytest.fixture(autouse=True)
def _queue_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_QUEUE_URL", QUEUE_URL)
    get_settings.cache_clear()


def _repo(count: int) -> FakeIngestRepository:
    repo = FakeIngestRepository()
    repo.schedulable = [Schedulable(new_id(), new_id()) for _ in range(count)]
    return repo


def _jobs(sqs: FakeSqs) -> list[IngestJob]:
    return [IngestJob.model_validate_json(b) for b in sqs.bodies()]


def test_every_integration_gets_one_job_across_pages() -> None:
    # Given five schedulable integrations, read two per statement
    repo, sqs = _repo(5), FakeSqs()
    # When the fan-out runs
    result = fanout.run(SNAPSHOT, sqs=sqs, page_size=2, repo=repo)
    # Then each integration is queued exactly once, in id order, for the snapshot date
    ids = sorted(s.id for s in repo.schedulable)
    jobs = _jobs(sqs)
    assert [j.integration_id for j in jobs] == ids
    assert {j.snapshot_date for j in jobs} == {SNAPSHOT}
    by_id = {s.id: s.organization_id for s in repo.schedulable}
    assert all(j.organization_id == by_id[j.integration_id] for j in jobs)
    # And each page resumes after the last id of the one before
    assert repo.pages == [(None, 2), (ids[1], 2), (ids[3], 2)]
    assert result == fanout.FanoutResult(SNAPSHOT, jobs=5, batch_calls=3, statements=3)


def test_a_full_last_page_costs_one_more_statement_and_no_batch() -> None:
    # Given four integrations and pages of two: the third read finds nothing
    repo, sqs = _repo(4), FakeSqs()
    result = fanout.run(SNAPSHOT, sqs=sqs, page_size=2, repo=repo)
    assert (result.jobs, result.statements, result.batch_calls) == (4, 3, 2)
    assert len(sqs.batches) == 2


def test_no_integrations_sends_nothing() -> None:
    repo, sqs = _repo(0), FakeSqs()
    result = fanout.run(SNAPSHOT, sqs=sqs, repo=repo)
    assert (result.jobs, result.batch_calls, result.statements) == (0, 0, 1)
    assert sqs.batches == []


def test_a_page_is_sent_in_batches_of_ten_to_the_ingest_queue() -> None:
    # Given 25 integrations on one page
    repo, sqs = _repo(25), FakeSqs()
    result = fanout.run(SNAPSHOT, sqs=sqs, repo=repo)
    # Then three SendMessageBatch calls of 10, 10 and 5 go to INGEST_QUEUE_URL
    assert [len(entries) for _, entries in sqs.batches] == [10, 10, 5]
    assert {url for url, _ in sqs.batches} == {QUEUE_URL}
    assert (result.jobs, result.batch_calls, result.statements) == (25, 3, 1)


@pytest.mark.parametrize(
    "event,expected",
    [
        ({"time": "2026-03-01T23:30:00Z"}, date(2026, 3, 1)),
        ({"time": "2026-03-02T01:00:00+02:00"}, date(2026, 3, 1)),
    ],
    ids=["utc", "offset"],
)
def test_the_snapshot_is_the_utc_date_of_the_schedule(
    event: dict[str, str], expected: date
) -> None:
    assert fanout.snapshot_date(event) == expected


def test_a_hand_made_event_snapshots_today() -> None:
    from nexus.models.dates import today

    assert fanout.snapshot_date({}) == today()
