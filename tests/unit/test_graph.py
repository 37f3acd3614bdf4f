"""The error taxonomy and the Graph client against the fake Graph server."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from nexus.deadline import Deadline, OutOfTime
from nexus.graph import catalogue
from nexus.graph.client import GraphClient, make_session
from nexus.graph.errors import ErrorClass, GraphError, classify
from nexus_local.fake_graph import FakeGraph, FakePage, FakePost, make_posts

TABLE = [
    (1, None, ErrorClass.TRANSIENT),
    (2, None, ErrorClass.TRANSIENT),
    (None, 500, ErrorClass.TRANSIENT),
    (None, 503, ErrorClass.TRANSIENT),
    (None, None, ErrorClass.TRANSIENT),  # timeouts, connection errors
    (999_999, 400, ErrorClass.TRANSIENT),  # unknown: retry, then the dead-letter queue
    (4, 400, ErrorClass.THROTTLED),
    (17, 400, ErrorClass.THROTTLED),
    (32, 400, ErrorClass.THROTTLED),
    (341, 400, ErrorClass.THROTTLED),
    (613, 400, ErrorClass.THROTTLED),
    (80001, 400, ErrorClass.THROTTLED),
    (80014, 400, ErrorClass.THROTTLED),
    (None, 429, ErrorClass.THROTTLED),
    (190, 400, ErrorClass.PERMANENT),
    (10, 403, ErrorClass.PERMANENT),
    (200, 403, ErrorClass.PERMANENT),
    (299, 403, ErrorClass.PERMANENT),
    (3, 400, ErrorClass.PERMANENT),
    (102, 400, ErrorClass.PERMANENT),
    (100, 400, ErrorClass.ITEM),
]


@pytest.mark.parametrize("code,status,expected", TABLE)
def test_error_taxonomy(code: int | None, status: int | None, expected: ErrorClass) -> None:
    assert classify(code, status) is expected


def test_catalogue_has_no_deprecated_names_and_picks_by_version() -> None:
    for names in catalogue.INSIGHTS.values():
        assert not any(n.startswith("post_impressions") for n in names.values())
    assert catalogue.insight_metrics("v24.0") == catalogue.INSIGHTS["v23.0"]


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    now = datetime.now(UTC)
    post = FakePost(
        id="9_1",
        created_time=now - timedelta(days=1),
        insights={"post_reactions_by_type_total": {"like": 3, "love": 1, "wow": 2}},
        comments=4,
    )
    graph = FakeGraph([FakePage(id="9", token="tok-9", posts=[post, *make_posts("9", 120)])])
    graph.base = graph.start()  # type: ignore[attr-defined]
    yield graph
    graph.stop()


def client(
    fake: FakeGraph, token: str = "tok-9", retries: int = 2, deadline: Deadline | None = None
) -> GraphClient:
    return GraphClient(
        token,
        base_url=fake.base,  # type: ignore[attr-defined]
        version="v23.0",
        retries=retries,
        session=make_session(),
        deadline=deadline,
        sleep=lambda _: None,  # backoff is tested on a fake clock below
    )


def bounds() -> tuple[int, int]:
    now = datetime.now(UTC)
    return int((now - timedelta(days=28)).timestamp()), int((now + timedelta(days=1)).timestamp())


def test_reactions_by_type_are_summed_and_missing_metrics_are_none(fake: FakeGraph) -> None:
    result = client(fake).page_posts("9", *bounds())
    post = next(p for p in result.posts if p.content_id == "9_1")
    assert post.metrics["reactions"] == 6
    assert post.metrics["comments"] == 4
    assert post.metrics["impressions"] is None and post.metrics["shares"] is None
    assert len(result.posts) == 121
    assert result.requests == 2  # pages of 100


def test_server_errors_are_retried_by_the_session(fake: FakeGraph) -> None:
    fake.fail_next = 2
    result = client(fake, retries=2).page_posts("9", *bounds())
    assert len(result.posts) == 121


def test_a_persistent_server_error_is_transient(fake: FakeGraph) -> None:
    fake.fail_next = 10
    with pytest.raises(GraphError) as caught:
        client(fake, retries=1).page_posts("9", *bounds())
    assert caught.value.error_class is ErrorClass.TRANSIENT


def test_a_bad_token_is_permanent_with_its_code(fake: FakeGraph) -> None:
    with pytest.raises(GraphError) as caught:
        client(fake, token="wrong").page_posts("9", *bounds())
    assert (caught.value.error_class, caught.value.error_code) == (ErrorClass.PERMANENT, "190")


def test_batch_requests_hold_at_most_50(fake: FakeGraph) -> None:
    fake.pages["9"].posts[5].broken = True  # forces per-post insights through batches
    result = client(fake).page_posts("9", *bounds())
    assert result.failed == 1
    batches = [r for r in fake.log if r["method"] == "POST"]
    sub_requests = [r for r in fake.log if r["method"] == "GET(batch)"]
    assert len(batches) >= 3 and len(sub_requests) <= 50 * len(batches)


def test_fake_rejects_batches_over_50(fake: FakeGraph) -> None:
    status, _, body = fake.dispatch(
        "POST",
        "/v23.0/",
        {},
        "tok-9",
        {"batch": json.dumps([{"method": "GET", "relative_url": "9_1"}] * 51)},
    )
    assert status == 400 and body["error"]["code"] == 100


# -- time budgets (contract §6) ------------------------------------------------------------
@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class ScriptedSession:
    """A requests session on a fake clock: a hung Graph takes the whole read timeout and
    then times out; ``answers`` (status, Retry-After) are served first, if any."""

    clock: Clock
    answers: list[tuple[int, str]] = field(default_factory=list)
    calls: list[tuple[float, tuple[float, float]]] = field(default_factory=list)

    def request(self, method: str, url: str, *, timeout: tuple[float, float], **_: Any) -> Any:
        self.calls.append((self.clock.now, timeout))
        if self.answers:
            status, retry_after = self.answers.pop(0)
            resp = requests.Response()
            resp.status_code, resp._content = status, b'{"data": []}'
            if retry_after:
                resp.headers["Retry-After"] = retry_after
            return resp
        self.clock.now += timeout[1]
        raise requests.ReadTimeout("hung")


def scripted(clock: Clock, session: ScriptedSession, deadline: Deadline | None) -> GraphClient:
    return GraphClient(
        "tok",
        base_url="http://graph.invalid",
        version="v23.0",
        timeout=10.0,
        retries=3,
        session=session,  # type: ignore[arg-type]
        deadline=deadline,
        sleep=clock.sleep,
    )


def test_without_a_deadline_a_hung_graph_costs_every_attempt_and_backoff() -> None:
    """The shape of the ~42 s the issue measured: 4 attempts of 10 s and 3.5 s of backoff."""
    clock = Clock()
    session = ScriptedSession(clock)
    with pytest.raises(GraphError) as caught:
        scripted(clock, session, None).page_posts("9", *bounds())
    assert caught.value.error_class is ErrorClass.TRANSIENT
    assert [t for _, t in session.calls] == [(3.05, 10.0)] * 4
    assert clock.now == 4 * 10 + 0.5 + 1 + 2


@pytest.mark.parametrize("budget", [25.0, 12.0, 10.2, 3.0, 0.4])
def test_a_hung_graph_never_runs_past_the_deadline(budget: float) -> None:
    clock = Clock()
    session = ScriptedSession(clock)
    deadline = Deadline.after(budget, clock=clock)
    with pytest.raises(OutOfTime):
        scripted(clock, session, deadline).page_posts("9", *bounds())
    # Every attempt's timeout (connect and read) fitted in the time left when it started
    for started, (connect, read) in session.calls:
        assert 0 < read <= min(10.0, budget - started) and connect <= min(3.05, read)
    # And neither a request nor a pause went past the deadline
    assert clock.now <= budget


def test_no_request_is_made_once_the_deadline_has_passed() -> None:
    clock = Clock()
    session = ScriptedSession(clock)
    deadline = Deadline.after(5, clock=clock)
    clock.now = 6
    with pytest.raises(OutOfTime):
        scripted(clock, session, deadline).page_posts("9", *bounds())
    assert session.calls == []


def test_server_errors_are_retried_after_retry_after_within_the_deadline() -> None:
    clock = Clock()
    session = ScriptedSession(clock, answers=[(503, "4"), (502, ""), (200, "")])
    result = scripted(clock, session, Deadline.after(30, clock=clock)).page_posts("9", *bounds())
    assert result.posts == [] and result.requests == 3
    assert [started for started, _ in session.calls] == [0, 4, 5]  # Retry-After, then 1 s


def test_a_retry_after_past_the_deadline_is_out_of_time_without_waiting() -> None:
    clock = Clock()
    session = ScriptedSession(clock, answers=[(503, "120")])
    with pytest.raises(OutOfTime):
        scripted(clock, session, Deadline.after(30, clock=clock)).page_posts("9", *bounds())
    assert clock.now == 0 and len(session.calls) == 1


def test_against_a_hung_fake_graph_the_job_ends_at_its_deadline(fake: FakeGraph) -> None:
    """Real sockets: the fake accepts the request and never answers."""
    fake.hang = True
    started = time.monotonic()
    with pytest.raises(OutOfTime):
        client(fake, retries=3, deadline=Deadline.after(1.5)).page_posts("9", *bounds())
    elapsed = time.monotonic() - started
    print(f"a job against a hung Graph with 1.5 s left ended after {elapsed:.2f} s")
    assert 1.4 <= elapsed < 2.5
    assert len(fake.log) == 1  # one request, its read timeout cut to the time left


def test_posts_carry_their_permalink_and_no_media_type(fake: FakeGraph) -> None:
    result = client(fake).page_posts("9", *bounds())
    post = next(p for p in result.posts if p.content_id == "9_1")
    assert post.permalink_url == "https://www.facebook.com/9_1"
    assert post.media_type is None
    assert "permalink_url" in fake.log[0]["query"]


def test_a_result_counts_the_requests_of_its_own_call(fake: FakeGraph) -> None:
    graph = client(fake)
    first = graph.page_posts("9", *bounds())
    second = graph.page_posts("9", *bounds())
    assert first.requests == second.requests == 2 and graph.requests == 4


def test_with_an_app_secret_every_request_carries_the_proof(fake: FakeGraph) -> None:
    fake.pages["9"].posts[5].broken = True  # per-post insights in batches (POST) as well
    graph = GraphClient(
        "tok-9",
        base_url=fake.base,  # type: ignore[attr-defined]
        version="v23.0",
        session=make_session(),
        app_secret="s3cret",
    )
    assert graph.page_posts("9", *bounds()).failed == 1
    proof = hmac.new(b"s3cret", b"tok-9", hashlib.sha256).hexdigest()
    top_level = [e for e in fake.log if e["method"] == "GET"]
    assert top_level and all(f"appsecret_proof={proof}" in e["query"] for e in top_level)
