"""The ingestion pipeline in-process: fan-out → SQS (moto) → consumer → PostgreSQL, against
the fake Graph server speaking Graph's wire format."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from typing import Any

import pytest

from nexus.graph import catalogue
from nexus.ingest.job import IngestJob
from nexus.settings import get_settings
from nexus_local.fake_graph import FakeGraph, FakePage, make_posts
from tests.support.api import Api
from tests.support.queues import MAX_RECEIVE, Queues, connect, fire_schedule

TODAY = datetime.now(UTC).date().isoformat()


@pytest.fixture
def seller(api: Api) -> str:
    return api.seller("pages@example.com")


def metrics(api: Api, token: str, **query: str) -> list[dict[str, Any]]:
    q = "&".join(f"{k}={v}" for k, v in {"from": TODAY, "to": TODAY, **query}.items())
    reply = api.get(f"/analytics/metrics?{q}", token=token)
    assert reply.status == 200, reply.text
    return list(reply.json()["items"])


def runs(api: Api, token: str) -> list[dict[str, Any]]:
    reply = api.get(f"/analytics/runs?from={TODAY}&to={TODAY}", token=token)
    assert reply.status == 200, reply.text
    return list(reply.json()["items"])


def expected(post: Any, name: str) -> Any:
    value = post.insights.get(name)
    return sum(value.values()) if isinstance(value, dict) else value


class TestPipeline:
    def test_schedule_to_daily_time_series(
        self, api: Api, seller: str, queues: Queues, graph: FakeGraph
    ) -> None:
        # Given two connected pages
        first = connect(api, seller, graph.pages["111"])
        connect(api, seller, graph.pages["222"])
        # When the schedule fires and the consumer drains the queue
        fired = fire_schedule()
        assert (fired["jobs"], fired["batch_calls"]) == (2, 1)
        queues.deliver()
        # Then every post of both pages has today's row, with Graph's values
        rows = metrics(api, seller)
        assert len(rows) == 30 + 8
        by_id = {r["content_id"]: r for r in rows}
        for post in graph.pages["111"].posts:
            row = by_id[post.id]
            assert row["impressions"] == post.insights["post_media_view"]
            assert row["reach"] == post.insights["post_total_media_view_unique"]
            assert row["reactions"] == expected(post, "post_reactions_by_type_total")
            assert row["video_views"] == post.insights.get("post_video_views")  # None: not a video
            assert row["clicks"] == post.insights["post_clicks"]
            assert row["comments"] == post.comments
            assert row["shares"] == post.shares  # None when Graph sends no shares field
        assert any(r["video_views"] is None for r in rows)
        assert any(r["shares"] is None for r in rows)
        # And each integration has an ok run, shown as its last run
        assert {
            (r["status"], r["content_total"], r["content_failed"]) for r in runs(api, seller)
        } == {
            ("ok", 30, 0),
            ("ok", 8, 0),
        }
        listed = api.get("/integrations", token=seller).json()["items"]
        assert next(i for i in listed if i["id"] == first["id"])["last_run"]["status"] == "ok"
        assert queues.depth() == 0

    def test_a_late_job_stores_its_rows_under_the_day_they_were_observed(
        self, api: Api, seller: str, queues: Queues, graph: FakeGraph
    ) -> None:
        # Given a run scheduled three days ago whose job only runs today (late, or redriven)
        integration = connect(api, seller, graph.pages["222"])
        then = (datetime.now(UTC) - timedelta(days=3)).date()
        fire_schedule(f"{then.isoformat()}T02:30:00Z")
        queues.deliver()
        # Then its rows are today's: lifetime values observed today, never back-dated. The
        # job's post window still ends with its snapshot day, so the posts made since then
        # (how many depends on the hour the test runs) are not in it.
        end = datetime.combine(then + timedelta(days=1), clock(), tzinfo=UTC)
        in_window = [
            p for p in graph.pages["222"].posts if end - timedelta(days=28) <= p.created_time < end
        ]
        assert in_window
        rows = metrics(api, seller)
        assert sorted(r["content_id"] for r in rows) == sorted(p.id for p in in_window)
        assert {r["date"] for r in rows} == {TODAY}
        past = metrics(api, seller, **{"from": then.isoformat(), "to": then.isoformat()})
        assert past == []
        # And the run stays keyed by its snapshot date, recording the day it observed
        reply = api.get(f"/analytics/runs?from={then.isoformat()}&to={TODAY}", token=seller)
        [run] = reply.json()["items"]
        assert run["integration_id"] == integration["id"]
        assert (run["date"], run["observed_date"]) == (then.isoformat(), TODAY)

    def test_one_request_per_hundred_posts(
        self, api: Api, seller: str, queues: Queues, graph: FakeGraph
    ) -> None:
        graph.pages["111"].posts = make_posts("111", 250)
        connect(api, seller, graph.pages["111"])
        fire_schedule()
        graph.log.clear()
        queues.deliver()
        assert len(metrics(api, seller)) == 250
        posts = [e for e in graph.log if e["path"].endswith("/111/posts")]
        page_insights = [e for e in graph.log if e["path"].endswith("/111/insights")]
        # Three pages of posts, and the Page's 90 days of account insights in one request.
        assert (len(posts), len(page_insights), len(graph.log)) == (3, 1, 4)

    def test_running_the_same_day_twice_leaves_the_same_rows(
        self, api: Api, seller: str, queues: Queues, graph: FakeGraph, conn: Any
    ) -> None:
        connect(api, seller, graph.pages["111"])
        fire_schedule()
        queues.deliver()
        before = metrics(api, seller)
        stamp = conn.execute("SELECT max(updated_at) FROM analytics_daily_metrics").fetchone()
        # The fan-out run twice and a duplicate delivery: same rows, nothing rewritten.
        fire_schedule()
        fire_schedule()
        queues.deliver()
        assert metrics(api, seller) == before
        assert (
            conn.execute("SELECT max(updated_at) FROM analytics_daily_metrics").fetchone() == stamp
        )
        assert conn.execute("SELECT count(*) FROM analytics_daily_metrics").fetchone() == (30,)
        (attempts,) = conn.execute("SELECT attempts FROM ingestion_runs").fetchone()
        assert attempts == 3

    def test_a_refetch_lacking_a_metric_keeps_the_stored_value(
        self, api: Api, seller: str, queues: Queues, graph: FakeGraph
    ) -> None:
        connect(api, seller, graph.pages["111"])
        fire_schedule()
        queues.deliver()
        post = graph.pages["111"].posts[0]
        stored_clicks = post.insights.pop("post_clicks")
        post.insights["post_media_view"] += 5
        fire_schedule()
        queues.deliver()
        row = next(r for r in metrics(api, seller) if r["content_id"] == post.id)
        assert row["clicks"] == stored_clicks  # not erased by the NULL
        assert row["impressions"] == post.insights["post_media_view"]  # updated


class TestIsolation:
    def test_a_deprecated_metric_is_dropped_and_the_rest_completes(
        self,
        api: Api,
        seller: str,
        queues: Queues,
        graph: FakeGraph,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        old = {**catalogue.INSIGHTS["v23.0"], "impressions": "post_impressions"}
        monkeypatch.setitem(catalogue.INSIGHTS, "v23.0", old)
        connect(api, seller, graph.pages["222"])
        fire_schedule()
        queues.deliver()
        rows = metrics(api, seller)
        assert len(rows) == 8
        assert all(r["impressions"] is None for r in rows)
        assert all(r["reach"] is not None for r in rows)
        assert runs(api, seller)[0]["status"] == "ok"

    def test_one_bad_post_fails_alone(
        self, api: Api, seller: str, queues: Queues, graph: FakeGraph
    ) -> None:
        broken = graph.pages["222"].posts[3]
        broken.broken = True
        connect(api, seller, graph.pages["222"])
        fire_schedule()
        queues.deliver()
        rows = metrics(api, seller)
        assert broken.id not in {r["content_id"] for r in rows}
        assert len(rows) == 7
        (run,) = runs(api, seller)
        assert (run["status"], run["content_total"], run["content_failed"], run["error_code"]) == (
            "partial",
            8,
            1,
            "100",
        )

    def test_a_bad_newest_post_does_not_cost_the_others_their_metrics(
        self, api: Api, seller: str, queues: Queues, graph: FakeGraph
    ) -> None:
        page = graph.pages["222"]
        newest = max(page.posts, key=lambda p: p.created_time)
        newest.broken = True  # the post the client samples when it looks for a bad metric
        connect(api, seller, page)
        fire_schedule()
        queues.deliver()
        rows = metrics(api, seller)
        assert len(rows) == 7
        assert all(r["impressions"] is not None for r in rows)
        assert runs(api, seller)[0]["status"] == "partial"

    def test_an_expired_token_goes_to_the_dead_letter_queue_at_once(
        self, api: Api, seller: str, queues: Queues, graph: FakeGraph
    ) -> None:
        graph.pages["222"].error = {
            "message": "Session has expired",
            "type": "OAuthException",
            "code": 190,
            "error_subcode": 463,
        }
        bad = connect(api, seller, graph.pages["222"])
        connect(api, seller, graph.pages["111"])
        fire_schedule()
        messages, result = queues.deliver()
        # The batch succeeds: the bad job is acknowledged (not retried) and parked.
        assert len(messages) == 2
        assert result["batchItemFailures"] == []
        (parked,) = queues.receive(queues.dlq_url)
        assert json.loads(parked["Body"])["integration_id"] == bad["id"]
        attrs = parked["MessageAttributes"]
        assert attrs["error_class"]["StringValue"] == "permanent"
        assert attrs["error_code"]["StringValue"] == "190"
        # The integration waits for a new token; its neighbour is stored.
        statuses = {
            i["id"]: i["status"] for i in api.get("/integrations", token=seller).json()["items"]
        }
        assert statuses[bad["id"]] == "needs_reauth"
        assert len(metrics(api, seller)) == 30
        # Not scheduled again until a new token arrives; then active again.
        assert fire_schedule()["jobs"] == 1
        patched = api.patch(
            f"/integrations/{bad['id']}", json_body={"access_token": "new"}, token=seller
        )
        assert patched.json()["status"] == "active"

    def test_transient_errors_are_retried_then_dead_lettered(
        self, api: Api, seller: str, queues: Queues, graph: FakeGraph
    ) -> None:
        graph.pages["222"].error = {"message": "Service temporarily unavailable", "code": 2}
        connect(api, seller, graph.pages["222"])
        fire_schedule()
        for _ in range(MAX_RECEIVE):
            messages, result = queues.deliver()
            assert len(messages) == 1
            assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [
                messages[0]["MessageId"]
            ]
            queues.release(messages)
        assert queues.receive() == []  # the next receive moved it to the dead-letter queue
        assert queues.depth(queues.dlq_url) == 1
        (run,) = runs(api, seller)
        assert (run["status"], run["error_code"]) == ("failed", "2")

    def test_throttling_holds_the_job_for_the_time_graph_asks(
        self, api: Api, seller: str, queues: Queues, graph: FakeGraph
    ) -> None:
        page = graph.pages["222"]
        page.error = {"message": "(#32) Page request limit reached", "code": 32}
        page.buc_usage, page.regain_minutes = 100, 7
        connect(api, seller, page)
        fire_schedule()
        _, result = queues.deliver()
        assert len(result["batchItemFailures"]) == 1
        # Held, not visible for at least 7 minutes, and not dead-lettered.
        assert queues.receive() == []
        assert queues.depth() == 1 and queues.depth(queues.dlq_url) == 0
        (run,) = runs(api, seller)
        assert (run["status"], run["error_code"], run["finished_at"]) == ("deferred", "32", None)

    def test_client_stops_before_the_quota_runs_out(
        self, api: Api, seller: str, queues: Queues, graph: FakeGraph
    ) -> None:
        page = graph.pages["111"]
        page.posts = make_posts("111", 150)
        page.app_usage = 95  # over the 90% ceiling after the first page
        connect(api, seller, page)
        fire_schedule()
        graph.log.clear()
        _, result = queues.deliver()
        assert len(graph.log) == 1  # the second page was never requested
        assert len(result["batchItemFailures"]) == 1
        assert runs(api, seller)[0]["status"] == "deferred"

    def test_a_malformed_message_is_dead_lettered_without_sinking_its_batch(
        self, api: Api, seller: str, queues: Queues, graph: FakeGraph
    ) -> None:
        connect(api, seller, graph.pages["222"])
        fire_schedule()
        queues.sqs.send_message(QueueUrl=queues.url, MessageBody='{"schema_version": 9}')
        messages, result = queues.deliver()
        assert len(messages) == 2 and result["batchItemFailures"] == []
        (parked,) = queues.receive(queues.dlq_url)
        assert parked["Body"] == '{"schema_version": 9}'
        assert parked["MessageAttributes"]["error_code"]["StringValue"] == "invalid_message"
        assert len(metrics(api, seller)) == 8


class TestTimeBudget:
    """Contract §6: a batch whose jobs cannot all finish in the invocation's remaining time
    ends with the finished ones deleted and the unfinished ones given back (visible again
    soon, not deleted, not dead-lettered), instead of the invocation being killed mid-way."""

    REMAINING = 5.0  # seconds before the function's Timeout when the batch arrives
    MARGIN = 2.0  # kept back for recording outcomes: the jobs' deadline is 3 s away

    def _queue_in_order(self, queues: Queues, conn: Any, page_ids: list[str]) -> None:
        found = dict(
            (external, (integration, org))
            for integration, org, external in conn.execute(
                "SELECT id::text, organization_id::text, external_id FROM integrations"
            ).fetchall()
        )
        for page_id in page_ids:
            integration, org = found[page_id]
            job = IngestJob(integration_id=integration, organization_id=org, snapshot_date=TODAY)
            queues.sqs.send_message(QueueUrl=queues.url, MessageBody=job.body())

    def _runs(self, conn: Any) -> dict[str, tuple[str, str | None, bool, int]]:
        rows = conn.execute(
            "SELECT i.external_id, r.status, r.error_code, r.finished_at IS NOT NULL,"
            " r.attempts FROM ingestion_runs r JOIN integrations i ON i.id = r.integration_id"
        ).fetchall()
        return {
            page: (status, code, finished, attempts)
            for page, status, code, finished, attempts in rows
        }

    def test_unfinished_jobs_are_given_back_and_finished_ones_deleted(
        self,
        api: Api,
        seller: str,
        queues: Queues,
        graph: FakeGraph,
        conn: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        for key, value in {
            "INGEST_DEADLINE_MARGIN_SECONDS": self.MARGIN,
            "INGEST_JOB_BUDGET_SECONDS": 1,
            "INGEST_REQUEUE_DELAY_SECONDS": 1,
            "GRAPH_RETRIES": 3,  # the production default: a hung Graph cost 43 s before
        }.items():
            monkeypatch.setenv(key, str(value))
        get_settings.cache_clear()
        # Given three pages, the second one's Graph hanging, queued in that order
        graph.pages["333"] = FakePage(id="333", token="token-333", posts=make_posts("333", 5))
        for page in graph.pages.values():
            connect(api, seller, page)
        graph.pages["222"].hang = True
        self._queue_in_order(queues, conn, ["111", "222", "333"])
        # When one invocation with 5 s left gets the batch
        started = time.monotonic()
        messages, result = queues.deliver(remaining=self.REMAINING)
        took = time.monotonic() - started
        print(
            f"\nhung Graph: the batch returned after {took:.2f} s of the {self.REMAINING:.0f} s"
            f" left (jobs' deadline {self.REMAINING - self.MARGIN:.0f} s); before the"
            " deadline a hung job alone took ~43 s (4 x 10 s timeouts + 3.5 s backoff)"
        )
        # Then it returned before its Timeout, its jobs' deadline kept
        assert took < self.REMAINING
        pages = [json.loads(m["Body"])["integration_id"] for m in messages]
        assert len(pages) == 3
        # The first job finished and its message was deleted; the hung one and the one
        # there was no time left for are reported for a retry
        ids = [m["MessageId"] for m in messages]
        assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids[1:]
        assert self._runs(conn) == {
            "111": ("ok", None, True, 1),
            "222": ("deferred", "deadline", False, 1),  # interrupted: to be tried again
        }  # 333 was never started: no run
        assert conn.execute("SELECT count(*) FROM analytics_daily_metrics").fetchone() == (30,)
        # And the two are given back: in the queue, not in flight for the queue's 360 s
        # visibility timeout, but visible again within a second; not dead-lettered
        assert queues.depth() == 2 and queues.depth(queues.dlq_url) == 0
        time.sleep(1.5)
        assert queues.visible() == 2
        # When Graph answers again and another invocation picks them up
        graph.pages["222"].hang = False
        messages, result = queues.deliver()
        # Then both finish, nothing was lost and no row doubled
        assert len(messages) == 2 and result["batchItemFailures"] == []
        assert all(m["Attributes"]["ApproximateReceiveCount"] == "2" for m in messages)
        assert self._runs(conn) == {
            "111": ("ok", None, True, 1),
            "222": ("ok", None, True, 2),
            "333": ("ok", None, True, 1),
        }
        assert conn.execute("SELECT count(*) FROM analytics_daily_metrics").fetchone() == (
            30 + 8 + 5,
        )
        assert queues.depth() == 0 and queues.depth(queues.dlq_url) == 0


class TestSecrecy:
    def test_token_is_never_in_a_url_or_a_log_line(
        self,
        api: Api,
        seller: str,
        queues: Queues,
        graph: FakeGraph,
        caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str],
        conn: Any,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        page = graph.pages["111"]
        created = connect(api, seller, page)
        assert "access_token" not in created and page.token not in json.dumps(created)
        fire_schedule()
        queues.deliver()
        assert graph.log, "the fake saw no requests"
        for request in graph.log:
            assert page.token not in request["path"] + request["query"]
            assert request["token"] == page.token  # it came in the Authorization header
        out = capsys.readouterr()
        assert page.token not in caplog.text + out.out + out.err
        (stored,) = conn.execute("SELECT access_token_ciphertext FROM integrations").fetchone()
        assert page.token.encode() not in bytes(stored)


def test_window_is_the_28_days_up_to_the_end_of_the_snapshot_date() -> None:
    from datetime import date

    from nexus.ingest.consumer import window

    since, until = window(date(2026, 11, 21), 28)
    assert datetime.fromtimestamp(until, UTC) == datetime(2026, 11, 22, tzinfo=UTC)
    assert datetime.fromtimestamp(since, UTC) == datetime(2026, 10, 25, tzinfo=UTC)


def test_posts_outside_the_window_are_not_ingested(
    api: Api, seller: str, queues: Queues, graph: FakeGraph
) -> None:
    page = FakePage(id="333", token="token-333-secret", posts=make_posts("333", 5, days=60))
    graph.pages[page.id] = page
    connect(api, seller, page)
    fire_schedule()
    queues.deliver()
    now = datetime.now(UTC)
    inside = [p for p in page.posts if (now - p.created_time).days < 27]
    assert {r["content_id"] for r in metrics(api, seller)} >= {p.id for p in inside}
    assert len(metrics(api, seller)) < 5 or all(
        (now - p.created_time).days < 28 for p in page.posts
    )


class TestInvalidMessages:
    """Contract §6: a message that can never succeed is in the dead-letter queue after exactly
    one receive, error_class=permanent, error_code=invalid_message, and writes no run."""

    def _bodies(self, api: Api, graph: FakeGraph) -> dict[str, str]:
        other = api.seller("other@example.com")
        theirs = connect(api, other, graph.pages["222"])
        today = datetime.now(UTC).date().isoformat()

        def job(**fields: Any) -> str:
            body = {
                "schema_version": 1,
                "integration_id": theirs["id"],
                "organization_id": "00000000-0000-4000-8000-000000000000",
                "snapshot_date": today,
            }
            return json.dumps({**body, **fields})

        return {
            "not a uuid": job(integration_id="not-a-uuid"),
            "nul": job(integration_id="1234\u0000"),
            "far future": job(snapshot_date="9999-12-31"),
            "year one": job(snapshot_date="0001-01-01"),
            "another organization's integration": job(),
        }

    def test_each_is_dead_lettered_at_its_first_receive(
        self, api: Api, queues: Queues, graph: FakeGraph, conn: Any
    ) -> None:
        bodies = self._bodies(api, graph)
        for body in bodies.values():
            queues.sqs.send_message(QueueUrl=queues.url, MessageBody=body)
        messages, result = queues.deliver()
        assert len(messages) == len(bodies) and result["batchItemFailures"] == []
        assert queues.depth() == 0
        parked = queues.receive(queues.dlq_url)
        assert sorted(m["Body"] for m in parked) == sorted(bodies.values())
        for m in parked:
            attributes = m["MessageAttributes"]
            assert attributes["error_class"]["StringValue"] == "permanent"
            assert attributes["error_code"]["StringValue"] == "invalid_message"
            assert m["Attributes"]["ApproximateReceiveCount"] == "1"
        assert conn.execute("SELECT count(*) FROM ingestion_runs").fetchone() == (0,)
