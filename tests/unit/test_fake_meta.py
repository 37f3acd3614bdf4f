"""The sandbox's Facebook Login and Instagram (fake_meta) over real HTTP, as a product's
connect flow would drive them: the dialog, the code exchange, the long-lived token, the
Pages with their tokens, appsecret_proof, and the Instagram and Page insights."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from walkthroughs import browser

from nexus_local.fake_graph import FakeGraph, demo_pages
from nexus_local.fake_meta import FakeMeta, appsecret_proof, demo_meta

V = "/v23.0"
REDIRECT = "https://app.example/connect/callback"
SCOPES = "pages_show_list,read_insights,instagram_basic,instagram_manage_insights"
BAKERY_IG = "17841400000001010"


@dataclass
class Sandbox:
    base: str
    graph: FakeGraph
    meta: FakeMeta
    http: requests.Session

    def get(self, path: str, token: str | None = None, **params: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.get(self.base + V + path, params=params, headers=headers, timeout=5)

    def dialog(self, **params: str) -> requests.Response:
        query = {"client_id": "demo-app", "redirect_uri": REDIRECT, "state": "st8"}
        return self.get("/dialog/oauth", **{**query, **params})

    def choose(
        self, label: str, decline: tuple[str, ...] = (), **params: str
    ) -> dict[str, list[str]]:
        answer = self.dialog(**params)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("text/html")
        # Filled in and submitted as a browser does (the walk-throughs' browser).
        page = browser.open_page(answer.url)
        back = browser.submit(page, label, untick=tuple(f"perm_{s}" for s in decline))
        assert back.status == 303 and back.location
        location = urlsplit(back.location)
        assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
        return parse_qs(location.query, keep_blank_values=True)

    def token(self, code: str, **params: str) -> requests.Response:
        query = {
            "client_id": "demo-app",
            "client_secret": "demo-app-secret",
            "redirect_uri": REDIRECT,
            "code": code,
        }
        return self.get("/oauth/access_token", **{**query, **params})

    def login(self, decline: tuple[str, ...] = ()) -> str:
        code = self.choose("Continue as Dana Demo", decline, scope=SCOPES)["code"][0]
        short = self.token(code).json()["access_token"]
        answer = self.get(
            "/oauth/access_token",
            grant_type="fb_exchange_token",
            client_id="demo-app",
            client_secret="demo-app-secret",
            fb_exchange_token=short,
        )
        assert answer.status_code == 200
        assert answer.json()["expires_in"] >= 59 * 86400
        return str(answer.json()["access_token"])


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    meta = demo_meta()
    graph = FakeGraph(demo_pages(), meta=meta)
    base = graph.start()
    with requests.Session() as http:
        yield Sandbox(base, graph, meta, http)
    graph.stop()


def error(answer: requests.Response) -> dict[str, Any]:
    assert answer.status_code == 400
    body: dict[str, Any] = answer.json()["error"]
    assert body["type"] == "OAuthException"
    assert body["fbtrace_id"]
    return body


def test_the_dialog_lists_each_demo_user_with_a_box_per_permission(sandbox: Sandbox) -> None:
    page = browser.open_page(sandbox.dialog(scope=SCOPES).url)
    labels = [label for form in page.forms for label in form.buttons]
    assert labels == ["Continue as Dana Demo", "Continue as Sam Sample", "Cancel"]
    boxes = [(name, ticked) for name, _, ticked in page.forms[0].checkboxes]
    assert boxes == [(f"perm_{s}", True) for s in SCOPES.split(",")]
    assert "1010" in page.html


def test_login_grants_a_code_a_token_and_the_users_pages(sandbox: Sandbox) -> None:
    query = sandbox.choose("Continue as Dana Demo", scope=SCOPES)
    assert query["state"] == ["st8"]
    assert query["granted_scopes"] == ["public_profile," + SCOPES]
    assert query["denied_scopes"] == [""]
    short = sandbox.token(query["code"][0])
    assert short.status_code == 200
    assert short.json()["token_type"] == "bearer"
    user_token = short.json()["access_token"]
    assert sandbox.get("/me", user_token, fields="id,name").json() == {
        "id": "5050",
        "name": "Dana Demo",
    }
    # The code is single-use
    assert error(sandbox.token(query["code"][0]))["code"] == 100
    # From a short-lived user token, short-lived page tokens that /posts refuses
    accounts = sandbox.get("/me/accounts", user_token, fields="id,access_token").json()
    tokens = {a["id"]: a["access_token"] for a in accounts["data"]}
    assert set(tokens) == {"1010", "2020"}
    assert error(sandbox.get("/1010/posts", tokens["1010"]))["code"] == 190


def test_long_lived_pages_come_with_their_own_tokens_and_instagram(sandbox: Sandbox) -> None:
    token = sandbox.login()
    fields = "id,name,access_token,tasks,instagram_business_account{id,username,name}"
    answer = sandbox.get("/me/accounts", token, fields=fields, limit="1")
    first = answer.json()
    assert first["data"] == [
        {
            "id": "1010",
            "name": "Demo Bakery",
            "access_token": "demo-token-bakery",
            "tasks": ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"],
            "instagram_business_account": {
                "id": BAKERY_IG,
                "username": "demo.bakery",
                "name": "Demo Bakery",
            },
        }
    ]
    after = first["paging"]["cursors"]["after"]
    second = sandbox.get("/me/accounts", token, fields=fields, after=after).json()
    assert [a["id"] for a in second["data"]] == ["2020"]
    assert "instagram_business_account" not in second["data"][0]
    assert "next" not in second["paging"]
    # The page token works for ingestion, as before
    assert sandbox.get("/1010/posts", "demo-token-bakery", limit="1").status_code == 200


def test_a_declined_permission_is_declined_and_hides_instagram(sandbox: Sandbox) -> None:
    token = sandbox.login(decline=("instagram_basic",))
    permissions = sandbox.get("/me/permissions", token).json()["data"]
    assert {"permission": "instagram_basic", "status": "declined"} in permissions
    assert {"permission": "public_profile", "status": "granted"} in permissions
    fields = "id,instagram_business_account{id}"
    accounts = sandbox.get("/me/accounts", token, fields=fields).json()["data"]
    assert all("instagram_business_account" not in a for a in accounts)
    assert error(sandbox.get(f"/{BAKERY_IG}/media", token))["code"] == 10


def test_cancel_redirects_with_access_denied(sandbox: Sandbox) -> None:
    query = sandbox.choose("Cancel", scope=SCOPES)
    assert query["error"] == ["access_denied"]
    assert query["error_reason"] == ["user_denied"]
    assert query["error_description"]
    assert query["state"] == ["st8"]


def test_login_for_business_config_and_bad_clients(sandbox: Sandbox) -> None:
    query = sandbox.choose("Continue as Sam Sample", config_id="demo-config")
    assert query["granted_scopes"] == [
        "public_profile,pages_show_list,pages_read_engagement,read_insights,instagram_basic,"
        "instagram_manage_insights"
    ]
    assert sandbox.dialog(client_id="nobody").status_code == 400
    assert sandbox.dialog(config_id="nope").status_code == 400
    code = query["code"][0]
    assert error(sandbox.token(code, client_secret="wrong"))["code"] in (1, 100)
    assert error(sandbox.token(code, redirect_uri="https://evil.example/"))["code"] == 100


def test_an_expired_code_and_token(sandbox: Sandbox) -> None:
    code = sandbox.choose("Continue as Dana Demo", scope=SCOPES)["code"][0]
    later = time.time() + 601
    sandbox.meta.clock = lambda: later
    try:
        assert error(sandbox.token(code))["error_subcode"] == 36007
    finally:
        sandbox.meta.clock = time.time
    code = sandbox.choose("Continue as Dana Demo", scope=SCOPES)["code"][0]
    token = sandbox.token(code).json()["access_token"]
    sandbox.meta.clock = lambda: time.time() + 3 * 3600
    try:
        assert error(sandbox.get("/me", token))["code"] == 190
    finally:
        sandbox.meta.clock = time.time
    assert error(sandbox.get("/me", "not-a-token"))["code"] == 190


def test_appsecret_proof_must_be_right_and_can_be_required(sandbox: Sandbox) -> None:
    token = sandbox.login()
    good = appsecret_proof(token, "demo-app-secret")
    assert sandbox.get("/me", token, appsecret_proof=good).status_code == 200
    bad = error(sandbox.get("/me", token, appsecret_proof="00" * 32))
    assert bad["code"] == 100
    assert bad["message"] == "Invalid appsecret_proof provided in the API argument"
    sandbox.meta.require_proof = True
    try:
        assert error(sandbox.get("/me", token))["code"] == 100
        assert sandbox.get("/me", token, appsecret_proof=good).status_code == 200
    finally:
        sandbox.meta.require_proof = False


def test_instagram_media_with_insights_per_product_type(sandbox: Sandbox) -> None:
    token = sandbox.login()
    fields = "id,caption,media_type,media_product_type,timestamp,permalink"
    feed = "insights.metric(views,reach,likes,saved,profile_visits)"
    first = sandbox.get(f"/{BAKERY_IG}/media", token, fields=fields, limit="10").json()
    assert len(first["data"]) == 10
    assert first["paging"]["next"]
    stamps = [m["timestamp"] for m in first["data"]]
    assert stamps == sorted(stamps, reverse=True)
    after = first["paging"]["cursors"]["after"]
    rest = sandbox.get(f"/{BAKERY_IG}/media", token, fields=fields, after=after).json()
    assert len(rest["data"]) == 5
    # A Reel lacks profile_visits: the whole request fails
    assert error(sandbox.get(f"/{BAKERY_IG}/media", token, fields=f"id,{feed}"))["code"] == 100
    reel = next(m for m in first["data"] if m["media_product_type"] == "REELS")
    post = next(m for m in first["data"] if m["media_product_type"] == "FEED")
    metrics = "views,reach,ig_reels_avg_watch_time,ig_reels_video_view_total_time"
    insights = sandbox.get(f"/{reel['id']}/insights", token, metric=metrics).json()["data"]
    assert [i["name"] for i in insights] == metrics.split(",")
    assert all(isinstance(i["values"][0]["value"], int) for i in insights)
    assert error(sandbox.get(f"/{post['id']}/insights", token, metric="ig_reels_avg_watch_time"))
    for old in ("impressions", "plays", "video_views"):
        assert error(sandbox.get(f"/{reel['id']}/insights", token, metric=old))["code"] == 100


def test_account_and_page_insights_per_day(sandbox: Sandbox) -> None:
    token = sandbox.login()
    until = int(time.time())
    since = until - 7 * 86400
    window = {"period": "day", "since": str(since), "until": str(until)}
    account = sandbox.get(
        f"/{BAKERY_IG}/insights", token, metric="reach,views,follows_and_unfollows", **window
    ).json()["data"]
    assert [a["name"] for a in account] == ["reach", "views", "follows_and_unfollows"]
    assert all(len(a["values"]) in (7, 8) and a["period"] == "day" for a in account)
    totals = sandbox.get(
        f"/{BAKERY_IG}/insights", token, metric="reach", metric_type="total_value", **window
    ).json()["data"]
    assert isinstance(totals[0]["total_value"]["value"], int)
    metrics = "page_follows,page_media_view,page_total_media_view_unique,page_post_engagements"
    page = sandbox.get("/1010/insights", "demo-token-bakery", metric=metrics, **window).json()
    assert {p["name"] for p in page["data"]} == set(metrics.split(","))
    assert page["data"][0]["values"][0]["end_time"].endswith("+0000")
    for old in ("page_fans", "page_impressions", "page_impressions_unique"):
        answer = sandbox.get("/1010/insights", "demo-token-bakery", metric=old, **window)
        assert error(answer)["code"] == 100
    wide = {**window, "since": str(until - 91 * 86400)}
    answer = sandbox.get("/1010/insights", "demo-token-bakery", metric="page_follows", **wide)
    assert error(answer)["code"] == 100


def test_without_meta_the_graph_answers_as_before(sandbox: Sandbox) -> None:
    sandbox.graph.meta = None
    try:
        answer = sandbox.dialog()
        assert answer.status_code == 400
        assert answer.headers["Content-Type"] == "application/json; charset=UTF-8"
        assert answer.json()["error"]["type"] == "GraphMethodException"
    finally:
        sandbox.graph.meta = sandbox.meta
