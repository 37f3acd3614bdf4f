"""Graph request economy (issue 14): HTTP requests per 100 Facebook posts and per 100
Instagram media, and for an account's 90-day history, counted at the sandbox Graph server,
beside the naive way in the same run (one insights request per post or media, one account
insights request per day).

Sub-requests of a batch still count against Meta's quota: they are printed too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from nexus.graph.client import GraphClient, make_session
from nexus_local.fake_graph import FakeGraph, FakePage, make_posts
from nexus_local.fake_meta import FakeIgAccount, FakeMeta, FakeUser, make_media

SIZES = (100, 1000)
PAGE, IG = "777", "17841400000000777"


def _graph(items: int) -> tuple[FakeGraph, str]:
    account = FakeIgAccount(id=IG, username="bench", media=make_media(IG, items))
    meta = FakeMeta("bench-app", "bench-secret", [FakeUser("1", "Bench", [PAGE], {PAGE: account})])
    graph = FakeGraph([FakePage(id=PAGE, token="bench-token", posts=make_posts(PAGE, items))])
    graph.meta = meta
    return graph, graph.start()


def _counts(graph: FakeGraph) -> tuple[int, int]:
    """(HTTP requests, Graph calls incl. batch sub-requests) since the log was cleared."""
    http = sum(1 for e in graph.log if e["method"] != "GET(batch)")
    subs = sum(1 for e in graph.log if e["method"] == "GET(batch)")
    batches = sum(
        1 for e in graph.log if e["method"] == "POST" and e["path"].strip("/") in ("", "v23.0")
    )
    return http, http - batches + subs


def _client(base: str) -> GraphClient:
    return GraphClient("bench-token", base_url=base, version="v23.0", session=make_session())


def _per_100(value: int, items: int) -> str:
    return f"{value * 100 / items:.1f}"


def run() -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    since = int((now - dt.timedelta(days=28)).timestamp())
    until = int((now + dt.timedelta(days=1)).timestamp())
    rows: list[dict[str, Any]] = []
    print("Graph requests (counted at the sandbox Graph; naive = one insights call per item)")
    print(f"{'what':<34}{'items':>7}{'HTTP':>7}{'per 100':>9}{'calls':>7}{'naive':>7}{'ratio':>8}")
    for items in SIZES:
        graph, base = _graph(items)
        try:
            for name in ("Facebook posts", "Instagram media"):
                graph.log.clear()
                client = _client(base)
                result = (
                    client.page_posts(PAGE, since, until)
                    if name == "Facebook posts"
                    else client.instagram_media(IG, since, until)
                )
                assert len(result.posts) == items, (name, len(result.posts))
                http, calls = _counts(graph)
                naive = -(-items // 100) + items  # the listing, then one call per item
                rows.append({"what": name, "items": items, "http": http, "calls": calls})
                print(
                    f"{name:<34}{items:>7}{http:>7}{_per_100(http, items):>9}{calls:>7}"
                    f"{naive:>7}{naive / http:>7.1f}x"
                )
        finally:
            graph.stop()
    graph, base = _graph(1)
    try:
        today = now.date()
        for provider, account in (("facebook", PAGE), ("instagram", IG)):
            for days in (90, 3):
                graph.log.clear()
                account_result = _client(base).account_days(
                    provider, account, today - dt.timedelta(days=days - 1), today
                )
                assert len(account_result.days) == days, (provider, days)
                http, calls = _counts(graph)
                name = f"{provider} account, {days} days"
                rows.append({"what": name, "items": days, "http": http, "calls": calls})
                print(f"{name:<34}{days:>7}{http:>7}{'':>9}{calls:>7}{days:>7}{days / http:>7.1f}x")
    finally:
        graph.stop()
    return rows
