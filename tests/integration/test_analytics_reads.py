"""The analytics reads of contract §10 on PostgreSQL, through the API: content newest first
with complete, duplicate-free paging, tenant-scoped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from nexus.graph import catalogue
from nexus.graph.client import Post
from nexus.ingest.repository import IngestRepository
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


# -- summary --------------------------------------------------------------------------------
DAYS = [dt.date(2026, 11, 2) + dt.timedelta(days=n) for n in range(21)]  # Mon 2 Nov .. 22 Nov


def _views(content: int, day: int) -> int | None:
    """Lifetime views as Graph might report them: growing, once dipping, sometimes absent."""
    if (content + day) % 7 == 3:
        return None  # Graph omitted the metric that day
    value = 10 * content + 5 * day * (content % 3 + 1)
    return value - 30 * (content % 3 + 1) if day == 11 else value  # a correction downwards


def _post(content: int, day: int) -> Post:
    views = _views(content, day)
    metrics: dict[str, int | None] = dict.fromkeys(catalogue.METRICS)
    metrics.update(
        impressions=views,
        reactions=None if views is None else views // 10,
        comments=content + day // 3,
        shares=None if content % 4 == 0 else day,
        clicks=day * 2,
    )
    created = dt.datetime(2026, 10, 28, tzinfo=dt.UTC) + dt.timedelta(hours=content)
    return Post(f"post-{content}", created, f"message {content}", metrics)


def _stored(conn: Any, org: str) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT integration_id::text, content_id, date, impressions, reactions, comments,"
        " shares, saves, clicks FROM analytics_daily_metrics WHERE organization_id = %s"
        " ORDER BY integration_id, content_id, date",
        (org,),
    )
    names = [c.name for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _increases(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's increase per metric since the content's previous non-null value (a first
    one counts whole): the rule of contract §10, computed here from the stored rows."""
    last: dict[tuple[str, str, str], int] = {}
    out = []
    for row in rows:
        inc: dict[str, Any] = {
            "date": row["date"],
            "key": (row["integration_id"], row["content_id"]),
        }
        for metric in ("impressions", "reactions", "comments", "shares", "saves", "clicks"):
            key = (row["integration_id"], row["content_id"], metric)
            if row[metric] is None:
                inc[metric] = 0
                continue
            inc[metric] = row[metric] - last.get(key, 0)
            last[key] = row[metric]
        out.append(inc)
    return out


def test_summary_is_the_sum_of_daily_increases_computed_from_the_stored_rows(
    api: Api, conn: Any, as_role: Callable[[str | None], None]
) -> None:
    seller = api.seller("owner@example.com")
    body = {"provider": "facebook", "name": "P", "access_token": "t"}
    first = api.post("/integrations", json_body={**body, "external_id": "1"}, token=seller).json()
    second = api.post("/integrations", json_body={**body, "external_id": "2"}, token=seller).json()
    org = conn.execute(
        "SELECT organization_id::text FROM integrations WHERE id = %s", (first["id"],)
    ).fetchone()[0]
    # Given 21 days of snapshots written by the ingest write, as its role
    as_role("nexus_ingest")
    repo = IngestRepository()
    for n, day in enumerate(DAYS):
        for integration, contents in ((first["id"], range(1, 9)), (second["id"], range(20, 23))):
            repo.save_snapshot(
                organization_id=org,
                integration_id=integration,
                snapshot=day,
                posts=[_post(c, n) for c in contents],
                status="ok",
                error_code=None,
                observed=day,
            )
    as_role(None)
    increases = _increases(_stored(conn, org))
    span = f"from={DAYS[3].isoformat()}&to={DAYS[-2].isoformat()}"
    names = {"views": "impressions", "reactions": "reactions", "comments": "comments"}
    names.update(shares="shares", saves="saves", clicks="clicks")
    for granularity in ("day", "week", "month"):
        reply = api.get(f"/analytics/summary?{span}&granularity={granularity}", token=seller)
        assert reply.status == 200, reply.text
        buckets = reply.json()["buckets"]
        # Every bucket of the range, clipped to it, weeks from Monday
        starts = [dt.date.fromisoformat(b["start"]) for b in buckets]
        assert starts[0] == DAYS[3] and dt.date.fromisoformat(buckets[-1]["end"]) == DAYS[-2]
        if granularity == "week":
            assert all(s.weekday() == 0 for s in starts[1:])
        assert len(buckets) == {"day": 17, "week": 3, "month": 1}[granularity]
        for bucket in buckets:
            start, end = (
                dt.date.fromisoformat(bucket["start"]),
                dt.date.fromisoformat(bucket["end"]),
            )
            inside = [i for i in increases if start <= i["date"] <= end]
            for out, stored in names.items():
                assert bucket[out] == sum(i[stored] for i in inside), (granularity, bucket, out)
    # A decrease counts negative: day 11's correction
    day11 = api.get(
        f"/analytics/summary?from={DAYS[11].isoformat()}&to={DAYS[11].isoformat()}", token=seller
    ).json()["buckets"]
    assert day11[0]["views"] < 0
    # One integration only
    only = api.get(
        f"/analytics/summary?{span}&granularity=month&integration_id={second['id']}",
        token=seller,
    ).json()
    inside = [
        i for i in increases if i["key"][0] == second["id"] and DAYS[3] <= i["date"] <= DAYS[-2]
    ]
    assert only["buckets"][0]["views"] == sum(i["impressions"] for i in inside)
    assert {c["integration_id"] for c in only["top_content"]} == {second["id"]}
    # Top content: ranked by the views increase in the range, with its latest metrics
    top = api.get(f"/analytics/summary?{span}", token=seller).json()["top_content"]
    per_content: dict[tuple[str, str], int] = {}
    for i in increases:
        if DAYS[3] <= i["date"] <= DAYS[-2]:
            per_content[i["key"]] = per_content.get(i["key"], 0) + i["impressions"]
    assert len(top) == 10
    ranked = sorted(per_content.values(), reverse=True)[:10]
    assert [c["views_increase"] for c in top] == ranked
    assert top[0]["metrics"]["date"] <= DAYS[-2].isoformat()
    assert top[0]["message"].startswith("message ")
    # Another seller's summary is empty; bad queries are 422
    other = api.seller("other@example.com")
    theirs = api.get(f"/analytics/summary?{span}&granularity=week", token=other).json()
    assert all(b["views"] == 0 for b in theirs["buckets"]) and theirs["top_content"] == []
    assert_problem(api.get(f"/analytics/summary?{span}&granularity=year", token=seller), 422)
