"""GraphClient.account_days against the sandbox Graph (FakeGraph with FakeMeta) over real
HTTP: every day of the range, each value on the day its end_time says, in as few requests as
Graph allows, and a metric Graph rejects dropped while the rest comes back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs

import pytest

from nexus.graph import catalogue
from nexus.graph.client import AccountDay, day_window
from nexus.graph.errors import ErrorClass, GraphError
from nexus_local.fake_meta import seeded
from tests.unit.test_graph_instagram import BAKERY_IG, SECRET, Sandbox, connect, counts, start

PAGE = "1010"
PAGE_TOKEN = "demo-token-bakery"
LAST = datetime.now(UTC).date() - timedelta(days=1)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    graph, box = start()
    yield box
    graph.stop()


def stamp(day: date) -> str:
    """The end_time the sandbox gives a day's value: 07:00 UTC the next day."""
    return f"{day + timedelta(days=1):%Y-%m-%d}T07:00:00+0000"


def span(days: int) -> tuple[date, date]:
    return LAST - timedelta(days=days - 1), LAST


def insights_queries(box: Sandbox) -> list[dict[str, str]]:
    return [
        {k: v[-1] for k, v in parse_qs(e["query"]).items()}
        for e in box.graph.log
        if e["path"].endswith("/insights")
    ]


def test_the_window_holds_exactly_the_days_end_times() -> None:
    first, last = date(2026, 9, 1), date(2026, 11, 29)
    since, until = day_window(first, last)
    assert until - since < 90 * 86400  # 90 days fit Graph's limit
    end_times = [
        datetime(2026, 9, 1, hour, tzinfo=UTC) + timedelta(days=d)
        for d in range(-1, 92)
        for hour in (7, 8)
    ]
    inside = sorted(
        {(t - timedelta(days=1)).date() for t in end_times if since <= t.timestamp() <= until}
    )
    assert inside == [first + timedelta(days=i) for i in range(90)]


def test_a_90_day_facebook_backfill_is_one_request(sandbox: Sandbox) -> None:
    first, last = span(90)
    client = sandbox.client(PAGE_TOKEN)
    result = client.account_days("facebook", PAGE, first, last)
    assert result.requests == 1 == client.requests
    assert [d.date for d in result.days] == [first + timedelta(days=i) for i in range(90)]
    assert result.unavailable == set()
    names = catalogue.account_metrics("v23.0", "facebook")
    for day in result.days:
        for logical, metric in names.items():
            assert getattr(day, logical) == seeded(PAGE, metric.graph_name, stamp(day.date))
    (query,) = insights_queries(sandbox)
    assert query["period"] == "day"
    assert set(query["metric"].split(",")) == {m.graph_name for m in names.values()}


def test_a_90_day_instagram_backfill_packs_its_92_reads_into_2_batches(sandbox: Sandbox) -> None:
    """The time series (reach, follower_count), 90 one-day total_value reads (views,
    total_interactions) and the followers_count field: 1 + 90 + 1 sub-requests, 2 POSTs
    (the series and the field ride in the batches' spare room instead of costing a GET
    each)."""
    sandbox.bakery.followers_count = 4321
    first, last = span(90)
    token = connect(sandbox).page_token
    sandbox.graph.log.clear()
    result = sandbox.client(token, app_secret=SECRET).account_days(
        "instagram", BAKERY_IG, first, last
    )
    assert result.requests == 2
    assert counts(sandbox.graph) == {"GET": 0, "POST": 2, "GET(batch)": 92}
    assert len(result.days) == 90 and result.unavailable == set()
    for day in result.days:
        at = stamp(day.date)
        assert day.reach == seeded(BAKERY_IG, "reach", at)
        assert day.follows == seeded(BAKERY_IG, "follower_count", at)
        assert day.views == seeded(BAKERY_IG, "views", at)
        assert day.engagements == seeded(BAKERY_IG, "total_interactions", at)
    assert result.days[-1].followers == 4321
    assert all(d.followers is None for d in result.days[:-1])
    # views and total_interactions only ever as total_value, one day each
    queries = insights_queries(sandbox)
    series = [q for q in queries if "metric_type" not in q]
    assert [q["metric"] for q in series] == ["reach,follower_count"]
    totals = [q for q in queries if q.get("metric_type") == "total_value"]
    assert len(totals) == 90
    assert all(q["metric"] == "views,total_interactions" for q in totals)
    assert all(int(q["until"]) - int(q["since"]) == 86399 for q in totals)


def test_one_instagram_day_is_one_request(sandbox: Sandbox) -> None:
    result = sandbox.client(PAGE_TOKEN).account_days("instagram", BAKERY_IG, LAST, LAST)
    assert result.requests == 1
    (day,) = result.days
    assert day.date == LAST and None not in (day.followers, day.views, day.reach)


def test_more_than_90_days_or_a_reversed_range_or_provider_is_refused(
    sandbox: Sandbox,
) -> None:
    client = sandbox.client(PAGE_TOKEN)
    for first, last, provider in [
        (*span(91), "facebook"),
        (LAST, LAST - timedelta(days=1), "facebook"),
        (LAST, LAST, "tiktok"),
    ]:
        with pytest.raises(ValueError):
            client.account_days(provider, PAGE, first, last)
    assert client.requests == 0


def test_a_page_metric_graph_retires_is_dropped_and_the_rest_comes_back(
    sandbox: Sandbox,
) -> None:
    sandbox.meta.retired = {"page_post_engagements"}
    first, last = span(30)
    result = sandbox.client(PAGE_TOKEN).account_days("facebook", PAGE, first, last)
    assert result.unavailable == {"engagements"}
    assert all(d.engagements is None for d in result.days)
    assert all(d.views == seeded(PAGE, "page_media_view", stamp(d.date)) for d in result.days)
    assert all(d.followers is not None and d.reach is not None for d in result.days)
    assert result.requests == 2  # the call that failed, then each metric alone in a batch


def test_an_instagram_total_value_metric_graph_retires_is_dropped(sandbox: Sandbox) -> None:
    sandbox.meta.retired = {"views"}
    first, last = span(90)
    result = sandbox.client(PAGE_TOKEN).account_days("instagram", BAKERY_IG, first, last)
    assert result.unavailable == {"views"}
    assert all(d.views is None for d in result.days)
    assert all(
        d.engagements == seeded(BAKERY_IG, "total_interactions", stamp(d.date)) for d in result.days
    )
    assert all(d.reach is not None for d in result.days)
    # 2 batches that fail every day, 1 probe, the other 89 days again in 2 batches
    assert result.requests == 5


def test_an_instagram_series_metric_graph_retires_is_dropped(sandbox: Sandbox) -> None:
    sandbox.meta.retired = {"follower_count"}
    first, last = span(7)
    result = sandbox.client(PAGE_TOKEN).account_days("instagram", BAKERY_IG, first, last)
    assert result.unavailable == {"follows"}
    assert all(d.follows is None for d in result.days)
    assert all(d.reach == seeded(BAKERY_IG, "reach", stamp(d.date)) for d in result.days)
    assert all(d.views is not None for d in result.days)
    assert result.requests == 2  # one batch, then reach and follower_count alone


def test_no_such_account_raises_instead_of_dropping_every_metric(sandbox: Sandbox) -> None:
    client = sandbox.client(PAGE_TOKEN)
    with pytest.raises(GraphError) as caught:
        client.account_days("facebook", "9999", *span(3))
    assert caught.value.error_class is ErrorClass.ITEM  # the consumer's needs_reauth
    assert client.requests == 2


def test_a_missing_permission_is_permanent_at_once(sandbox: Sandbox) -> None:
    connected = connect(sandbox, decline=("instagram_manage_insights",))
    client = sandbox.client(connected.user_token, app_secret=SECRET)
    with pytest.raises(GraphError) as caught:
        client.account_days("instagram", BAKERY_IG, *span(3))
    assert (caught.value.code, caught.value.error_class) == (10, ErrorClass.PERMANENT)
    assert client.requests == 1


def test_account_days_carry_the_proof_graph_requires(sandbox: Sandbox) -> None:
    sandbox.meta.require_proof = True
    result = sandbox.client(PAGE_TOKEN, app_secret=SECRET).account_days(
        "instagram", BAKERY_IG, *span(3)
    )
    assert result.requests == 1 and result.days[-1].followers is not None
    with pytest.raises(GraphError) as caught:
        sandbox.client(PAGE_TOKEN).account_days("facebook", PAGE, *span(3))
    assert caught.value.error_class is ErrorClass.TRANSIENT  # our configuration: retried


def test_account_day_defaults_to_no_values() -> None:
    day = AccountDay(LAST)
    assert (day.followers, day.follows, day.views, day.reach, day.engagements) == (None,) * 5
    assert tuple(catalogue.ACCOUNT_METRICS) == (
        "followers",
        "follows",
        "views",
        "reach",
        "engagements",
    )
