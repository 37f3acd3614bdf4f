"""The analytics reads of contract §10 on PostgreSQL, through the API: content newest first
with complete, duplicate-free paging, tenant-scoped."""

from __future__ import annotations

from typing import Any

from nexus_local.fake_graph import FakeGraph, make_posts
from tests.support.api import Api, assert_problem
from tests.support.queues import Queues, connect, fire_schedule


def pages(api: Api, token: str, query: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        url = f"/analytics/content?{query}" + (f"&cursor={cursor}" if cursor else "")
        reply = api.get(url, token=token)
        assert reply.status == 200, reply.text
        body = reply.json()
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


def test_content_is_newest_first_paged_completely_and_tenant_scoped(
    api: Api, queues: Queues, graph: FakeGraph
) -> None:
    seller = api.seller("owner@example.com")
    graph.pages["111"].posts = make_posts("111", 45)
    first = connect(api, seller, graph.pages["111"])
    second = connect(api, seller, graph.pages["222"])
    fire_schedule()
    queues.deliver()
    every = pages(api, seller, "limit=7")
    assert len(every) == 45 + 8
    keys = [(c["integration_id"], c["content_id"]) for c in every]
    assert len(set(keys)) == len(keys)
    times = [c["created_at"] for c in every]
    assert times == sorted(times, reverse=True)
    by_id = {c["content_id"]: c for c in every}
    post = graph.pages["111"].posts[0]
    assert by_id[post.id]["message"] == post.message
    assert by_id[post.id]["provider"] == "facebook"
    assert by_id[post.id]["permalink_url"]
    assert {c["integration_id"] for c in pages(api, seller, f"integration_id={second['id']}")} == {
        second["id"]
    }
    assert len(pages(api, seller, f"integration_id={first['id']}&limit=1000")) == 45
    # Another seller sees none of it, even with the ids.
    other = api.seller("other@example.com")
    assert pages(api, other, f"integration_id={first['id']}") == []
    assert_problem(api.get("/analytics/content?cursor=nope", token=seller), 422)
    assert_problem(api.get("/analytics/content?limit=1001", token=seller), 422)
