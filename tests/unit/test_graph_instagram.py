"""GraphClient.instagram_media, appsecret_proof and the token-less OAuth call, against the
sandbox Graph (FakeGraph with FakeMeta) over real HTTP: request counts, the metrics asked
for per media product type, and the fallbacks when Graph rejects a metric or a media."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from nexus.graph import catalogue
from nexus.graph.client import GraphClient, Post, appsecret_proof, make_session
from nexus.graph.errors import ErrorClass, GraphError, classify
from nexus_local.fake_graph import FakeGraph, demo_pages
from nexus_local.fake_meta import (
    DEPRECATED_MEDIA_METRICS,
    MEDIA_METRICS,
    FakeIgAccount,
    FakeMeta,
    demo_meta,
    make_media,
    seeded,
)
from nexus_local.fake_meta import appsecret_proof as sandbox_proof

VERSION = "v23.0"
REDIRECT = "https://app.example/connect/callback"
SCOPES = "pages_show_list,read_insights,instagram_basic,instagram_manage_insights"
SECRET = "demo-app-secret"
BAKERY_IG = "17841400000001010"


@dataclass
class Sandbox:
    base: str
    graph: FakeGraph
    meta: FakeMeta

    @property
    def bakery(self) -> FakeIgAccount:
        return self.meta.users["5050"].instagram["1010"]

    def client(self, token: str | None, **kwargs: Any) -> GraphClient:
        return GraphClient(
            token,
            base_url=self.base,
            version=VERSION,
            session=make_session(),
            sleep=lambda _: None,
            **kwargs,
        )


@dataclass
class Connected:
    user_token: str
    page_token: str
    ig_user_id: str


def start() -> tuple[FakeGraph, Sandbox]:
    meta = demo_meta()
    graph = FakeGraph(demo_pages(), meta=meta)
    return graph, Sandbox(graph.start(), graph, meta)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    graph, box = start()
    yield box
    graph.stop()


def connect(box: Sandbox, decline: tuple[str, ...] = ()) -> Connected:
    """The connect flow as a product drives it: Dana Demo continues in the dialog, the code
    is exchanged by a token-less GraphClient, the short token for a long-lived one, and
    /me/accounts gives the Bakery's page token and its Instagram account."""
    form = {
        "client_id": "demo-app",
        "redirect_uri": REDIRECT,
        "state": "s",
        "scope": SCOPES,
        "user_id": "5050",
        "action": "continue",
        **{f"perm_{s}": "on" for s in SCOPES.split(",") if s not in decline},
    }
    answer = requests.post(
        f"{box.base}/{VERSION}/dialog/oauth", data=form, allow_redirects=False, timeout=5
    )
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    oauth = box.client(None, app_secret=SECRET)
    credentials = {"client_id": "demo-app", "client_secret": SECRET}
    short = oauth.call(
        "GET", "oauth/access_token", {**credentials, "redirect_uri": REDIRECT, "code": code}
    )["access_token"]
    long = oauth.call(
        "GET",
        "oauth/access_token",
        {**credentials, "grant_type": "fb_exchange_token", "fb_exchange_token": short},
    )["access_token"]
    accounts = box.client(long, app_secret=SECRET).call(
        "GET", "me/accounts", {"fields": "id,access_token,instagram_business_account{id}"}
    )
    bakery = next(a for a in accounts["data"] if a["id"] == "1010")
    return Connected(long, bakery["access_token"], bakery["instagram_business_account"]["id"])


def window(days: int = 28) -> tuple[int, int]:
    now = datetime.now(UTC)
    return int((now - timedelta(days=days)).timestamp()), int((now + timedelta(days=1)).timestamp())


def asked(graph: FakeGraph) -> list[tuple[str, set[str]]]:
    """Every (path, metric names) the fake was asked for, top level or in a batch, from
    ``metric=`` and from ``insights.metric(...)`` field expansion."""
    out = []
    for entry in graph.log:
        query = {k: v[-1] for k, v in parse_qs(entry["query"]).items()}
        names = set(filter(None, query.get("metric", "").split(",")))
        fields = query.get("fields", "")
        if "insights.metric(" in fields:
            names |= set(fields.split("insights.metric(")[1].split(")")[0].split(","))
        if names:
            out.append((entry["path"], names))
    return out


def assert_only_catalogued_metrics(box: Sandbox) -> None:
    """No deprecated metric, and no media asked for a metric its product type lacks."""
    kinds = {m.id: m.media_product_type for m in box.bakery.media}
    for path, names in asked(box.graph):
        assert not names & DEPRECATED_MEDIA_METRICS, (path, names)
        media_id = path.strip("/").split("/")[-2]
        if media_id in kinds:
            assert names <= MEDIA_METRICS[kinds[media_id]], (path, names)


def counts(graph: FakeGraph) -> dict[str, int]:
    methods = [e["method"] for e in graph.log]
    return {m: methods.count(m) for m in ("GET", "POST", "GET(batch)")}


# -- the happy path ------------------------------------------------------------------------
def test_100_media_take_one_listing_request_and_batches_for_feed_only_metrics(
    sandbox: Sandbox,
) -> None:
    sandbox.bakery.media = make_media(BAKERY_IG, 100)
    feed = [m for m in sandbox.bakery.media if m.media_product_type == "FEED"]
    connected = connect(sandbox)
    assert connected.ig_user_id == BAKERY_IG
    sandbox.graph.log.clear()

    result = sandbox.client(connected.page_token).instagram_media(BAKERY_IG, *window())

    assert len(result.posts) == 100 and result.failed == 0 and result.unavailable == set()
    # One listing request for the 100, FEED's 66 extras in two batches of at most 50
    assert result.requests == 1 + math.ceil(len(feed) / 50) == 3
    assert counts(sandbox.graph) == {"GET": 1, "POST": 2, "GET(batch)": len(feed)}
    listing = sandbox.graph.log[0]
    assert listing["path"].endswith(f"/{BAKERY_IG}/media")
    assert "limit=100" in listing["query"]
    extras = {frozenset(n) for p, n in asked(sandbox.graph) if p.endswith("/insights")}
    assert extras == {frozenset({"profile_visits", "follows"})}
    assert_only_catalogued_metrics(sandbox)


def test_media_rows_carry_graphs_values_and_none_where_the_type_has_no_metric(
    sandbox: Sandbox,
) -> None:
    token = connect(sandbox).page_token
    result = sandbox.client(token).instagram_media(BAKERY_IG, *window())
    by_id = {p.content_id: p for p in result.posts}
    assert len(by_id) == len(sandbox.bakery.media) == 15
    for media in sandbox.bakery.media:
        post = by_id[media.id]
        assert post.created_time == media.timestamp
        assert post.message == media.caption
        assert post.permalink_url == f"https://www.instagram.com/p/{media.id}/"
        assert post.media_type == media.media_product_type
        expected = {
            logical: seeded(media.id, graph_name)
            for logical, graph_name in catalogue.media_metrics(VERSION, post.media_type).items()
        }
        assert {k: v for k, v in post.metrics.items() if v is not None} == expected
        assert set(post.metrics) == set(catalogue.METRICS)
        assert post.metrics["video_views"] is None and post.metrics["clicks"] is None
        if media.media_product_type == "REELS":
            assert post.metrics["profile_visits"] is None and post.metrics["follows"] is None
        else:
            assert post.metrics["follows"] == seeded(media.id, "follows")


def test_listing_pages_follow_the_cursor_and_respect_the_window(sandbox: Sandbox) -> None:
    sandbox.bakery.media = make_media(BAKERY_IG, 250)
    since, until = window()
    result = sandbox.client("demo-token-bakery").instagram_media(BAKERY_IG, since, until)
    listings = [e for e in sandbox.graph.log if e["path"].endswith("/media")]
    assert len(result.posts) == 250 and len(listings) == 3
    assert all("graph.facebook.com" not in e["path"] for e in sandbox.graph.log)
    feed = sum(1 for m in sandbox.bakery.media if m.media_product_type == "FEED")
    assert result.requests == 3 + math.ceil(feed / 50)

    # A window of the last week: only the media published in it
    recent = datetime.now(UTC) - timedelta(days=7)
    week = sandbox.client("demo-token-bakery").instagram_media(
        BAKERY_IG, int(recent.timestamp()), until
    )
    expected = {m.id for m in sandbox.bakery.media if m.timestamp >= recent}
    assert {p.content_id for p in week.posts} == expected and 0 < len(expected) < 250


# -- resilience ----------------------------------------------------------------------------
def test_a_media_without_insights_fails_alone_as_an_item_error(sandbox: Sandbox) -> None:
    sandbox.bakery.media = make_media(BAKERY_IG, 100)
    broken = sandbox.bakery.media[4]
    broken.broken = True  # posted before the business-account conversion
    result = sandbox.client("demo-token-bakery").instagram_media(BAKERY_IG, *window())
    failed = [p for p in result.posts if p.error is not None]
    assert [p.content_id for p in failed] == [broken.id]
    error = failed[0].error
    assert error is not None
    assert (error.code, error.subcode, error.error_class) == (100, 2108006, ErrorClass.ITEM)
    assert result.unavailable == set()
    # The expanded listing fails (1), then a plain listing (1), then per-media batches (2)
    assert result.requests == 4
    healthy = next(p for p in result.posts if p.media_type == "FEED" and p.error is None)
    assert healthy.metrics["impressions"] == seeded(healthy.content_id, "views")
    assert healthy.metrics["profile_visits"] == seeded(healthy.content_id, "profile_visits")
    assert_only_catalogued_metrics(sandbox)


def test_a_common_metric_graph_retires_is_dropped_and_the_rest_comes_back(
    sandbox: Sandbox,
) -> None:
    sandbox.bakery.media = make_media(BAKERY_IG, 100)
    sandbox.meta.retired = {"shares"}
    result = sandbox.client("demo-token-bakery").instagram_media(BAKERY_IG, *window())
    assert result.unavailable == {"shares"} and result.failed == 0
    assert all(p.metrics["shares"] is None for p in result.posts)
    assert all(p.metrics["reach"] == seeded(p.content_id, "reach") for p in result.posts)
    feed = [p for p in result.posts if p.media_type == "FEED"]
    assert all(p.metrics["follows"] == seeded(p.content_id, "follows") for p in feed)
    # 1 failed listing, 1 plain listing, 2 batches that fail, 1 probe, 2 batches again
    assert result.requests == 7
    retried = [n for p, n in asked(sandbox.graph) if p.endswith("/insights")][-100:]
    assert all("shares" not in n for n in retried)


def test_a_feed_only_metric_graph_retires_is_dropped_for_feed(sandbox: Sandbox) -> None:
    sandbox.bakery.media = make_media(BAKERY_IG, 100)
    sandbox.meta.retired = {"follows"}
    result = sandbox.client("demo-token-bakery").instagram_media(BAKERY_IG, *window())
    assert result.unavailable == {"follows"} and result.failed == 0
    feed = [p for p in result.posts if p.media_type == "FEED"]
    assert all(p.metrics["follows"] is None for p in result.posts)
    assert all(p.metrics["profile_visits"] == seeded(p.content_id, "profile_visits") for p in feed)
    # The listing (1), FEED's extras failing (2), a probe (1), profile_visits again (2)
    assert result.requests == 6


def test_a_single_feed_media_failing_its_extras_blames_the_media_not_the_metrics(
    sandbox: Sandbox,
) -> None:
    only = make_media(BAKERY_IG, 2)  # a Reel and one FEED media
    sandbox.bakery.media = only
    sandbox.meta.retired = {"profile_visits", "follows"}  # every FEED extra fails
    result = sandbox.client("demo-token-bakery").instagram_media(BAKERY_IG, *window())
    # With one sample whose every metric fails, the media is to blame: it fails alone
    feed = next(p for p in result.posts if p.media_type == "FEED")
    assert feed.error is not None and feed.error.error_class is ErrorClass.ITEM
    reel = next(p for p in result.posts if p.media_type == "REELS")
    assert reel.error is None and reel.metrics["impressions"] == seeded(reel.content_id, "views")


def test_a_lost_permission_is_permanent_at_once(sandbox: Sandbox) -> None:
    connected = connect(sandbox, decline=("instagram_manage_insights",))
    client = sandbox.client(connected.user_token)
    with pytest.raises(GraphError) as caught:
        client.instagram_media(BAKERY_IG, *window())
    assert (caught.value.code, caught.value.error_class) == (10, ErrorClass.PERMANENT)
    assert client.requests == 1


# -- appsecret_proof and the token-less call -----------------------------------------------
def test_appsecret_proof_is_sent_and_accepted_when_required(sandbox: Sandbox) -> None:
    connected = connect(sandbox)
    sandbox.meta.require_proof = True
    sandbox.graph.log.clear()
    client = sandbox.client(connected.page_token, app_secret=SECRET)
    result = client.instagram_media(BAKERY_IG, *window())
    assert len(result.posts) == 15 and result.failed == 0
    proof = appsecret_proof(connected.page_token, SECRET)
    listing = parse_qs(sandbox.graph.log[0]["query"])
    assert listing["appsecret_proof"] == [proof]
    assert proof == sandbox_proof(connected.page_token, SECRET)
    # The batches (POST, proof in the form) were accepted too: FEED's extras came back
    assert counts(sandbox.graph)["POST"] == 1
    assert all(p.metrics["saves"] is not None for p in result.posts)


def test_a_missing_or_wrong_proof_is_rejected_and_transient(sandbox: Sandbox) -> None:
    sandbox.meta.require_proof = True
    for secret in (None, "not-the-secret"):
        client = sandbox.client("demo-token-bakery", app_secret=secret)
        with pytest.raises(GraphError) as caught:
            client.instagram_media(BAKERY_IG, *window())
        assert caught.value.code == 100 and "appsecret_proof" in caught.value.message
        # Not an item error: no fallback listing or probing
        # Our configuration, not the seller's connection: retried, never needs_reauth.
        assert caught.value.error_class is ErrorClass.TRANSIENT and client.requests == 1


def test_a_token_less_client_sends_no_authorization_and_no_proof(sandbox: Sandbox) -> None:
    connect(sandbox)
    exchanges = [e for e in sandbox.graph.log if e["path"].endswith("/oauth/access_token")]
    assert len(exchanges) == 2
    assert all(e["token"] is None and "appsecret_proof" not in e["query"] for e in exchanges)
    # while the token-carrying /me/accounts call carried its proof
    accounts = next(e for e in sandbox.graph.log if e["path"].endswith("/me/accounts"))
    assert accounts["token"] and "appsecret_proof=" in accounts["query"]


def test_call_raises_graphs_error_and_counts_its_request(sandbox: Sandbox) -> None:
    client = sandbox.client(None)
    with pytest.raises(GraphError) as caught:
        client.call("GET", "oauth/access_token", {"client_id": "nobody"})
    assert caught.value.code == 101 and caught.value.http_status == 400
    assert client.requests == 1


# -- the taxonomy for Instagram's codes ----------------------------------------------------
INSTAGRAM_TABLE = [
    # (code, subcode, message, class)
    (100, 33, "Object with ID '1' does not exist, cannot be loaded", ErrorClass.ITEM),
    (100, 2108006, "Media posted before business account conversion", ErrorClass.ITEM),
    (100, None, "(#100) The Media Insights API does not support the x metric", ErrorClass.ITEM),
    (10, None, "(#10) Not enough viewers for the media to show insights", ErrorClass.ITEM),
    (10, None, "(#10) Application does not have permission for this action", ErrorClass.PERMANENT),
    (190, 463, "Error validating access token: Session has expired", ErrorClass.PERMANENT),
    (25, 2207050, "The Instagram account is restricted", ErrorClass.PERMANENT),
    (100, None, "Invalid appsecret_proof provided in the API argument", ErrorClass.TRANSIENT),
    (4, None, "Application request limit reached", ErrorClass.THROTTLED),
    (80002, None, "There have been too many calls to this Instagram account", ErrorClass.THROTTLED),
    (9, 2207042, "You reached maximum number of posts", ErrorClass.THROTTLED),
    (24, 2207006, "The media with id ... cannot be found", ErrorClass.ITEM),
    (24, 2207008, "Media builder expired", ErrorClass.TRANSIENT),
    (36000, 2207004, "The image size is too large.", ErrorClass.ITEM),
    (352, 2207026, "The video format is not supported.", ErrorClass.ITEM),
    (-1, 2207001, "Instagram server error", ErrorClass.TRANSIENT),
    (-2, 2207003, "It takes too long to download the media.", ErrorClass.TRANSIENT),
    (9007, 2207027, "The media is not ready for publishing", ErrorClass.TRANSIENT),
]


@pytest.mark.parametrize("code,subcode,message,expected", INSTAGRAM_TABLE)
def test_instagram_error_taxonomy(
    code: int, subcode: int | None, message: str, expected: ErrorClass
) -> None:
    assert classify(code, 400, subcode, message) is expected
    assert GraphError(message, code=code, subcode=subcode).error_class is expected


def test_posts_keep_their_positional_shape() -> None:
    post = Post("1", None, "hi", {"impressions": 1})
    assert (post.error, post.permalink_url, post.media_type) == (None, None, None)
