"""The error taxonomy and the Graph client against the fake Graph server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

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


def client(fake: FakeGraph, token: str = "tok-9", retries: int = 2) -> GraphClient:
    return GraphClient(
        token,
        base_url=fake.base,  # type: ignore[attr-defined]
        version="v23.0",
        session=make_session(retries),
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
