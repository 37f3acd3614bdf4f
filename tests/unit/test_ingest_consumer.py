"""nexus.ingest.consumer decisions by Graph outcome: a scripted Graph client, an in-memory
IngestRepository and a recording SQS client."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest

from functions.ingest_metrics import app as metrics_app
from nexus import crypto
from nexus.deadline import Deadline, OutOfTime
from nexus.graph.client import GraphClient, PageResult, Post
from nexus.graph.errors import GraphError
from nexus.ingest import consumer, queue
from nexus.ingest.job import IngestJob
from nexus.ingest.models import Target
from nexus.settings import get_settings
from nexus_local.runtime import LambdaContext
from tests.support.fakes import (
    FakeGraphClient,
    FakeIngestRepository,
    FakeSqs,
    GraphScript,
    new_id,
)

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/IngestQueue"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/IngestDeadLetterQueue"
SNAPSHOT = date(2026, 3, 1)
TOKEN = "page-token-1010"


@pytest.fixture(autouse=True)
def _queue_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_QUEUE_URL", QUEUE_URL)
    monkeypatch.setenv("INGEST_DLQ_URL", DLQ_URL)
    get_settings.cache_clear()


@pytest.fixture
def job() -> IngestJob:
    return IngestJob(integration_id=new_id(), organization_id=new_id(), snapshot_date=SNAPSHOT)


@pytest.fixture
def repo(job: IngestJob) -> FakeIngestRepository:
    """Given: the job's integration, active, with an encrypted page token."""
    fake = FakeIngestRepository()
    fake.targets[job.integration_id] = Target(
        integration_id=job.integration_id,
        organization_id=job.organization_id,
        external_id="1010",
        status="active",
        deleted=False,
        token_ciphertext=crypto.encrypt(TOKEN, job.integration_id),
    )
    return fake


@pytest.fixture
def sqs() -> FakeSqs:
    return FakeSqs()


def _post(content_id: str, error: GraphError | None = None) -> Post:
    created = datetime(2026, 2, 27, 9, tzinfo=UTC)
    return Post(content_id, created, "hello", {"impressions": 10, "reach": None}, error)


def _process(
    job: IngestJob,
    repo: FakeIngestRepository,
    graph: GraphScript,
    sqs: FakeSqs,
    receipt_handle: str | None = "rh-1",
) -> consumer.Outcome:
    return consumer.process(
        job,
        body=job.body(),
        receipt_handle=receipt_handle,
        client_factory=graph,
        sqs=sqs,
        repo=repo,
    )


# -- nothing to do -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change",
    [{"deleted": True}, {"status": "disabled"}, {"status": "needs_reauth"}],
    ids=["deleted", "disabled", "needs_reauth"],
)
def test_a_job_for_an_integration_no_longer_active_is_skipped(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs, change: dict[str, Any]
) -> None:
    # Given the integration changed after the job was queued
    target = repo.targets[job.integration_id]
    repo.targets[job.integration_id] = dataclasses.replace(target, **change)
    graph = GraphScript(result=PageResult(posts=[_post("1")]))
    # When the job arrives
    outcome = _process(job, repo, graph, sqs)
    # Then it is acknowledged as skipped: Graph is not called and nothing is stored
    assert outcome.status == "skipped"
    assert graph.clients == []
    assert repo.snapshots == [] and repo.failures == []


def test_a_job_for_no_integration_of_its_organization_is_dead_lettered_at_once(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs
) -> None:
    """Contract §6: an organization that does not own the integration → the dead-letter
    queue at the first receive, error_code=invalid_message, no run written."""
    repo.targets.clear()
    graph = GraphScript()
    assert _process(job, repo, graph, sqs).status == "dead-lettered"
    assert graph.clients == []
    assert repo.snapshots == [] and repo.failures == []
    assert [m["MessageAttributes"]["error_code"]["StringValue"] for m in sqs.messages] == [
        "invalid_message"
    ]


# -- stored --------------------------------------------------------------------------------
def test_all_posts_fetched_is_ok(job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs) -> None:
    graph = GraphScript(result=PageResult(posts=[_post("1"), _post("2")]))
    # When the page's posts all come back
    outcome = _process(job, repo, graph, sqs)
    # Then the snapshot is stored as ok, with counts
    assert outcome == consumer.Outcome("ok", content_total=2, content_failed=0, rows_written=2)
    [saved] = repo.snapshots
    assert (saved.status, saved.error_code, saved.snapshot) == ("ok", None, SNAPSHOT)
    assert [p.content_id for p in saved.posts] == ["1", "2"]
    # And no message was sent, held or dead-lettered
    assert sqs == FakeSqs()


def test_graph_gets_the_decrypted_token_the_page_and_the_window(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs
) -> None:
    graph = GraphScript(result=PageResult())
    _process(job, repo, graph, sqs)
    [client] = graph.clients
    assert client.token == TOKEN
    days = get_settings().ingest_window_days
    assert client.requested == [("1010", *consumer.window(SNAPSHOT, days))]


def test_the_window_ends_at_the_end_of_the_snapshot_day() -> None:
    since, until = consumer.window(date(2026, 3, 1), 28)
    assert until == int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())
    assert since == int(datetime(2026, 2, 2, tzinfo=UTC).timestamp())


def test_some_posts_failing_is_partial_with_the_first_code(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs
) -> None:
    # Given one of three posts whose insights Graph refuses (code 100)
    broken = GraphError("unsupported", code=100, http_status=400)
    graph = GraphScript(result=PageResult(posts=[_post("1"), _post("2", broken), _post("3")]))
    # When the job runs
    outcome = _process(job, repo, graph, sqs)
    # Then the rest is stored, and the run is partial with that code
    assert (outcome.status, outcome.content_total, outcome.content_failed) == ("partial", 3, 1)
    assert outcome.error_code == "100"
    assert (repo.snapshots[0].status, repo.snapshots[0].error_code) == ("partial", "100")
    assert sqs.messages == []


# -- Graph failures ------------------------------------------------------------------------
def test_throttled_is_deferred_held_for_graphs_wait_and_retried(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs
) -> None:
    # Given Graph says the quota is spent for 600 s
    graph = GraphScript(error=GraphError("limit", code=4, retry_after=600))
    # When the job runs, Then SQS is asked to deliver it again
    with pytest.raises(consumer.Retry):
        _process(job, repo, graph, sqs, receipt_handle="rh-7")
    # And the message is kept invisible for Graph's wait
    assert sqs.visibility == [
        {"QueueUrl": QUEUE_URL, "ReceiptHandle": "rh-7", "VisibilityTimeout": 600}
    ]
    # And the run is deferred; the integration keeps its token
    [failure] = repo.failures
    assert (failure.status, failure.error_code, failure.needs_reauth) == ("deferred", "4", False)
    assert sqs.messages == []


def test_throttled_without_a_receipt_handle_is_retried_without_a_hold(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs
) -> None:
    graph = GraphScript(error=GraphError("limit", code=17, retry_after=60))
    with pytest.raises(consumer.Retry):
        _process(job, repo, graph, sqs, receipt_handle=None)
    assert sqs.visibility == []


@pytest.mark.parametrize(
    "error",
    [
        GraphError("unknown", code=2, http_status=500),
        GraphError("HTTP 503", http_status=503),
        GraphError("network error: ConnectionError"),
    ],
    ids=["code-2", "http-503", "network"],
)
def test_transient_is_failed_and_left_to_sqs_to_retry(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs, error: GraphError
) -> None:
    graph = GraphScript(error=error)
    with pytest.raises(consumer.Retry):
        _process(job, repo, graph, sqs)
    # Then the run is failed with the code; no hold, no dead letter, the token stays valid
    [failure] = repo.failures
    assert (failure.status, failure.error_code, failure.needs_reauth) == (
        "failed",
        error.error_code,
        False,
    )
    assert sqs.visibility == [] and sqs.messages == []
    assert repo.targets[job.integration_id].status == "active"


def test_permanent_marks_needs_reauth_and_dead_letters_at_once(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs
) -> None:
    # Given Graph says the token is invalid (190)
    graph = GraphScript(error=GraphError("expired", code=190, http_status=400))
    # When the job runs
    outcome = _process(job, repo, graph, sqs)
    # Then it is acknowledged (no Retry), the integration needs re-authorisation
    assert (outcome.status, outcome.error_code) == ("needs_reauth", "190")
    assert repo.failures[0].needs_reauth is True
    assert repo.targets[job.integration_id].status == "needs_reauth"
    # And the job goes to the dead-letter queue unchanged, saying why
    assert sqs.messages == [
        {
            "QueueUrl": DLQ_URL,
            "MessageBody": job.body(),
            "MessageAttributes": {
                "error_class": {"DataType": "String", "StringValue": "permanent"},
                "error_code": {"DataType": "String", "StringValue": "190"},
            },
        }
    ]
    assert sqs.visibility == []


# -- malformed messages --------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"schema_version": 2, "integration_id": "a", "organization_id": "b"}),
        json.dumps({"integration_id": "a", "organization_id": "b", "snapshot_date": "yesterday"}),
    ],
    ids=["not-json", "unknown-version", "bad-date"],
)
def test_a_malformed_message_is_dead_lettered_unchanged(
    monkeypatch: pytest.MonkeyPatch, sqs: FakeSqs, body: str
) -> None:
    # Given the SQS client the queue adapter builds for itself is our recorder
    monkeypatch.setattr(queue, "client", lambda: sqs)
    # When a message that can never be a job arrives
    outcome = consumer.handle_message(body, receipt_handle="rh-1")
    # Then it is acknowledged and parked in the dead-letter queue, byte for byte, with why
    assert outcome.status == "dead-lettered"
    assert sqs.messages == [
        {
            "QueueUrl": DLQ_URL,
            "MessageBody": body,
            "MessageAttributes": {
                "error_class": {"DataType": "String", "StringValue": "permanent"},
                "error_code": {"DataType": "String", "StringValue": "invalid_message"},
            },
        }
    ]
    assert sqs.visibility == [] and sqs.batches == []


# -- time budgets (contract §6) ------------------------------------------------------------
class OutOfTimeGraph(FakeGraphClient):
    """A Graph client whose calls ran out of the job's time."""

    def page_posts(self, page_id: str, since: int, until: int) -> PageResult:
        self.requested.append((page_id, since, until))
        raise OutOfTime("Graph did not answer in time (ReadTimeout)")


def _out_of_time(token: str) -> GraphClient:
    return OutOfTimeGraph(token, result=None, error=None)


def test_a_job_without_enough_time_left_is_given_back_unstarted(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job needs 15 s and only 10 s are left
    monkeypatch.setenv("INGEST_JOB_BUDGET_SECONDS", "15")
    monkeypatch.setenv("INGEST_REQUEUE_DELAY_SECONDS", "2")
    get_settings.cache_clear()
    graph = GraphScript(result=PageResult(posts=[_post("1")]))
    # When it arrives, Then it is reported for a retry, as given back before starting
    with pytest.raises(consumer.GivenBack) as given_back:
        consumer.process(
            job,
            body=job.body(),
            receipt_handle="rh-3",
            client_factory=graph,
            sqs=sqs,
            repo=repo,
            deadline=Deadline.after(10),
        )
    assert given_back.value.reason == "not_started"
    assert isinstance(given_back.value, consumer.Retry)
    # And it is visible again in 2 s, for another invocation
    assert sqs.visibility == [
        {"QueueUrl": QUEUE_URL, "ReceiptHandle": "rh-3", "VisibilityTimeout": 2}
    ]
    # And nothing was started: no database, no Graph, no run, no dead letter
    assert repo.calls == [] and graph.clients == [] and sqs.messages == []


def test_a_job_interrupted_by_its_deadline_is_deferred_and_given_back(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs
) -> None:
    # When Graph runs out of the job's time
    with pytest.raises(consumer.GivenBack) as given_back:
        consumer.process(
            job,
            body=job.body(),
            receipt_handle="rh-4",
            client_factory=_out_of_time,
            sqs=sqs,
            repo=repo,
            deadline=Deadline.after(60),
        )
    assert given_back.value.reason == "interrupted"
    # Then the run says it will be tried again (transient: the token stays valid)
    [failure] = repo.failures
    assert (failure.status, failure.error_code, failure.needs_reauth) == (
        "deferred",
        "deadline",
        False,
    )
    assert repo.targets[job.integration_id].status == "active"
    # And nothing half-done is stored; the message is visible again soon, not dead-lettered
    assert repo.snapshots == [] and sqs.messages == []
    delay = get_settings().ingest_requeue_delay_seconds
    assert sqs.visibility == [
        {"QueueUrl": QUEUE_URL, "ReceiptHandle": "rh-4", "VisibilityTimeout": delay}
    ]


def test_a_job_with_time_enough_runs_as_before(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs
) -> None:
    graph = GraphScript(result=PageResult(posts=[_post("1")]))
    outcome = consumer.process(
        job,
        body=job.body(),
        receipt_handle="rh-5",
        client_factory=graph,
        sqs=sqs,
        repo=repo,
        deadline=Deadline.after(55),
    )
    assert outcome.status == "ok" and sqs.visibility == []


def test_the_real_graph_client_is_bound_to_the_jobs_deadline() -> None:
    deadline = Deadline.after(30)
    client = consumer.default_client("token", deadline=deadline)
    assert client._deadline is deadline
    assert client._read_timeout == get_settings().graph_timeout_seconds
    assert client._retries == get_settings().graph_retries


def test_time_left_keeps_the_margin_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_DEADLINE_MARGIN_SECONDS", "5")
    get_settings.cache_clear()
    context = _context(seconds=60)
    assert 54.5 < consumer.time_left(context).remaining() <= 55


def _context(seconds: float) -> LambdaContext:
    return LambdaContext(
        function_name="IngestMetricsFunction",
        memory_limit_in_mb=512,
        invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:IngestMetricsFunction",
        aws_request_id="req-unit",
        deadline=time.monotonic() + seconds,
    )


def test_the_handler_gives_back_what_it_has_no_time_for_and_counts_it(
    job: IngestJob,
    sqs: FakeSqs,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an invocation with 8 s left: less than the margin (5 s) and a job's budget (15 s)
    monkeypatch.setattr(queue, "client", lambda: sqs)
    records = [
        {
            "messageId": f"m-{i}",
            "receiptHandle": f"rh-{i}",
            "body": job.body(),
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:IngestQueue",
            "awsRegion": "us-east-1",
        }
        for i in range(2)
    ]
    # When the batch arrives
    result = metrics_app.lambda_handler({"Records": records}, _context(seconds=8))
    # Then both are reported for a retry and visible again soon; none was started
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ["m-0", "m-1"]
    assert [v["ReceiptHandle"] for v in sqs.visibility] == ["rh-0", "rh-1"]
    # And the metrics say so
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    [record] = [e for e in emitted if "IngestJobsGivenBack" in e]
    assert record["IngestJobsGivenBack"] == record["IngestJobsGivenBack_not_started"] == [1, 1]
    assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "NexusSales"


# -- providers and account-level days (contract §9, §10) -----------------------------------
@pytest.mark.parametrize(
    "last_stored,expected_first",
    [
        (None, date(2025, 12, 2)),  # first connect: 90 days up to the snapshot
        (date(2026, 2, 28), date(2026, 2, 26)),  # the day before: re-read the last 3 days
        (date(2026, 2, 19), date(2026, 2, 17)),  # a 10-day gap (paused): filled
        (date(2025, 6, 1), date(2025, 12, 2)),  # long ago: at most 90 days
        (date(2026, 3, 9), date(2026, 2, 27)),  # newer than a redriven job's day
    ],
    ids=["first", "daily", "gap", "long-ago", "redrive"],
)
def test_account_days_fetched_are_the_history_then_a_short_refresh(
    last_stored: date | None, expected_first: date
) -> None:
    assert consumer.account_range(SNAPSHOT, last_stored) == (expected_first, SNAPSHOT)


def test_an_instagram_job_reads_media_and_the_accounts_days(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs
) -> None:
    target = repo.targets[job.integration_id]
    repo.targets[job.integration_id] = dataclasses.replace(
        target, provider="instagram", external_id="17841400000001010"
    )
    graph = GraphScript(result=PageResult(posts=[_post("m1")]))
    outcome = _process(job, repo, graph, sqs)
    assert outcome.status == "ok"
    [client] = graph.clients
    assert client.media_requested == ["17841400000001010"]
    assert client.account_requested == [
        ("instagram", "17841400000001010", date(2025, 12, 2), SNAPSHOT)
    ]
    assert len(repo.account_days[0]) == 90


def test_a_facebook_job_reads_posts_not_media(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs
) -> None:
    graph = GraphScript(result=PageResult(posts=[_post("1")]))
    _process(job, repo, graph, sqs)
    [client] = graph.clients
    assert client.media_requested == []
    assert [a[0] for a in client.account_requested] == ["facebook"]


@pytest.mark.parametrize("code", [10, 100], ids=["permission", "metric"])
def test_account_insights_refused_cost_only_the_account_rows(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs, code: int
) -> None:
    graph = GraphScript(
        result=PageResult(posts=[_post("1")]),
        account_error=GraphError("no", code=code, http_status=400),
    )
    outcome = _process(job, repo, graph, sqs)
    assert (outcome.status, outcome.rows_written) == ("ok", 1)
    assert repo.account_days == [[]]
    assert sqs == FakeSqs()


def test_account_insights_throttled_defer_the_whole_job(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs
) -> None:
    graph = GraphScript(
        result=PageResult(posts=[_post("1")]),
        account_error=GraphError("slow down", code=4, http_status=400, retry_after=60),
    )
    with pytest.raises(consumer.Retry):
        _process(job, repo, graph, sqs)
    assert repo.snapshots == []
    assert [f.status for f in repo.failures] == ["deferred"]


def test_a_forgotten_token_is_skipped_without_calling_graph(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs
) -> None:
    target = repo.targets[job.integration_id]
    repo.targets[job.integration_id] = dataclasses.replace(target, token_ciphertext=None)
    graph = GraphScript(result=PageResult(posts=[_post("1")]))
    assert _process(job, repo, graph, sqs).status == "skipped"
    assert graph.clients == []


def test_only_connect_flow_tokens_are_proven_with_the_app_secret(
    job: IngestJob, repo: FakeIngestRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("META_APP_SECRET", "the-app-secret")
    get_settings.cache_clear()
    made: list[str | None] = []

    def default_client(token: str, **kw: Any) -> GraphClient:
        made.append(kw.get("app_secret"))
        return FakeGraphClient(token, result=PageResult(), error=None)

    monkeypatch.setattr(consumer, "default_client", default_client)
    consumer.process(job, body=job.body(), repo=repo)
    target = repo.targets[job.integration_id]
    repo.targets[job.integration_id] = dataclasses.replace(target, proven=True)
    consumer.process(job, body=job.body(), repo=repo)
    assert made == [None, "the-app-secret"]


def test_a_job_for_an_erased_integration_is_skipped_and_an_unknown_one_dead_lettered(
    job: IngestJob, repo: FakeIngestRepository, sqs: FakeSqs
) -> None:
    del repo.targets[job.integration_id]
    graph = GraphScript(result=PageResult(posts=[_post("1")]))
    assert _process(job, repo, graph, sqs).status == "dead-lettered"
    assert len(sqs.messages) == 1
    repo.erased_ids.add((job.integration_id, job.organization_id))
    assert _process(job, repo, graph, sqs).status == "skipped"
    assert len(sqs.messages) == 1 and graph.clients == []
