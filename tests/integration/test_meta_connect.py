"""Connecting Meta accounts through Facebook Login (contract §9), through the API against the
sandbox Graph's dialog and token endpoints: state rules, permissions, accounts, connecting
from a connection, reconnecting, the hour-long connection, appsecret_proof, and the first
sync of a Page and its Instagram account with the account's 90-day history."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from functions.maintenance import app as maintenance_app
from nexus.settings import get_settings
from nexus_local.fake_graph import FakeGraph, demo_pages
from nexus_local.fake_meta import demo_meta
from tests.support.api import Api, assert_problem, lambda_context
from tests.support.meta import dialog
from tests.support.queues import Queues

BAKERY, STUDIO, BAKERY_IG = "1010", "2020", "17841400000001010"
WEB = "http://127.0.0.1:8080"


@pytest.fixture
def meta(monkeypatch: pytest.MonkeyPatch, queues: Queues) -> Iterator[FakeGraph]:
    """The sandbox Graph with Facebook Login and Instagram, requiring appsecret_proof on
    every call made with a token (so a call without it fails the test)."""
    graph = FakeGraph(demo_pages(), meta=demo_meta())
    assert graph.meta is not None
    graph.meta.require_proof = True
    url = graph.start()
    for key, value in {
        "GRAPH_API_BASE_URL": url,
        "META_OAUTH_DIALOG_URL": url,
        "META_APP_ID": "demo-app",
        "META_APP_SECRET": "demo-app-secret",
        "WEB_BASE_URL": WEB,
        "GRAPH_RETRIES": "0",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield graph
    graph.stop()
    get_settings.cache_clear()


@pytest.fixture
def seller(api: Api) -> str:
    return api.seller("owner@example.com")


def start(api: Api, token: str) -> dict[str, Any]:
    reply = api.post("/integrations/connect", json_body={"provider": "facebook"}, token=token)
    assert reply.status == 200, reply.text
    return dict(reply.json())


def callback(api: Api, token: str, **consent: Any) -> Any:
    started = start(api, token)
    back = dialog(started["authorize_url"], **consent)
    assert back["state"] == started["state"]
    return api.post(
        "/integrations/connect/callback",
        json_body={"code": back["code"], "state": back["state"]},
        token=token,
    )


def connection(api: Api, token: str, **consent: Any) -> dict[str, Any]:
    reply = callback(api, token, **consent)
    assert reply.status == 200, reply.text
    return dict(reply.json())


def add(api: Api, token: str, connection_id: str, provider: str, external_id: str) -> Any:
    body = {"connection_id": connection_id, "provider": provider, "external_id": external_id}
    return api.post("/integrations", json_body=body, token=token)


def series_span(graph: FakeGraph) -> int:
    """Seconds between since and until of the Instagram account's day-series request."""
    calls = [
        e
        for e in graph.log
        if e["path"].endswith(f"{BAKERY_IG}/insights") and "metric_type" not in e["query"]
    ]
    assert len(calls) == 1, graph.log
    query = parse_qs(calls[0]["query"])
    return int(query["until"][0]) - int(query["since"][0])


class TestConnect:
    def test_dialog_url_carries_the_app_redirect_scopes_and_a_fresh_state(
        self, api: Api, seller: str, meta: FakeGraph, conn: Any
    ) -> None:
        first, second = start(api, seller), start(api, seller)
        url = urlsplit(first["authorize_url"])
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        assert url.path == "/v23.0/dialog/oauth"
        assert query["client_id"] == "demo-app"
        assert query["redirect_uri"] == f"{WEB}/dashboard/integrations/callback"
        assert query["state"] == first["state"] != second["state"]
        assert set(query["scope"].split(",")) == {
            "pages_show_list",
            "pages_read_engagement",
            "read_insights",
            "instagram_basic",
            "instagram_manage_insights",
        }
        # Only the state's hash is stored.
        stored = conn.execute("SELECT state_hash FROM meta_oauth_states").fetchall()
        assert len(stored) == 2
        assert all(first["state"].encode() not in bytes(r[0]) for r in stored)

    def test_login_for_business_asks_for_the_configuration(
        self, api: Api, seller: str, meta: FakeGraph, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("META_LOGIN_CONFIG_ID", "demo-config")
        get_settings.cache_clear()
        query = parse_qs(urlsplit(start(api, seller)["authorize_url"]).query)
        assert query["config_id"] == ["demo-config"]
        assert "scope" not in query
        # The configuration grants what the product needs: the flow completes.
        body = connection(api, seller)
        assert body["missing_scopes"] == []
        assert len(body["accounts"]) == 3

    def test_callback_lists_pages_and_instagram_with_no_token_in_sight(
        self, api: Api, seller: str, meta: FakeGraph, conn: Any
    ) -> None:
        reply = callback(api, seller)
        assert reply.status == 200, reply.text
        body = reply.json()
        assert body["missing_scopes"] == []
        assert {"pages_show_list", "read_insights", "instagram_basic"} <= set(
            body["granted_scopes"]
        )
        accounts = {(a["provider"], a["external_id"]): a for a in body["accounts"]}
        assert set(accounts) == {
            ("facebook", BAKERY),
            ("facebook", STUDIO),
            ("instagram", BAKERY_IG),
        }
        assert accounts[("instagram", BAKERY_IG)]["username"] == "demo.bakery"
        assert accounts[("facebook", BAKERY)]["name"] == "Demo Bakery"
        assert not any(a["connected"] for a in body["accounts"])
        assert "demo-token" not in reply.text and "EAA" not in reply.text
        row = conn.execute(
            "SELECT meta_user_id, accounts::text, tokens_ciphertext FROM meta_connections"
        ).fetchone()
        assert row[0] == "5050"
        assert "demo-token" not in row[1] and b"demo-token" not in bytes(row[2])

    def test_a_declined_required_permission_is_a_422_naming_it(
        self, api: Api, seller: str, meta: FakeGraph, conn: Any
    ) -> None:
        problem = assert_problem(callback(api, seller, decline=["read_insights"]), 422)
        assert "read_insights" in problem["detail"]
        assert problem["errors"] == [{"loc": ["scope", "read_insights"], "msg": "was declined"}]
        assert conn.execute("SELECT count(*) FROM meta_connections").fetchone() == (0,)

    def test_a_declined_instagram_permission_leaves_instagram_out(
        self, api: Api, seller: str, meta: FakeGraph
    ) -> None:
        body = connection(api, seller, decline=["instagram_manage_insights"])
        assert body["missing_scopes"] == ["instagram_manage_insights"]
        assert {a["provider"] for a in body["accounts"]} == {"facebook"}

    def test_state_is_single_use_user_bound_and_expiring(
        self, api: Api, seller: str, meta: FakeGraph, conn: Any
    ) -> None:
        other = api.seller("other@example.com")
        started = start(api, seller)
        back = dialog(started["authorize_url"])
        body = {"code": back["code"], "state": back["state"]}
        path = "/integrations/connect/callback"
        # Another user's attempt is refused and does not burn the owner's state.
        assert assert_problem(api.post(path, json_body=body, token=other), 422)["errors"][0][
            "loc"
        ] == ["body", "state"]
        assert api.post(path, json_body=body, token=seller).status == 200
        # Used once: never again.
        assert_problem(api.post(path, json_body=body, token=seller), 422)
        # Made up, or expired.
        assert_problem(api.post(path, json_body={**body, "state": "x" * 43}, token=seller), 422)
        late = start(api, seller)
        late_back = dialog(late["authorize_url"])
        conn.execute("UPDATE meta_oauth_states SET expires_at = now() - interval '1 second'")
        late_body = {"code": late_back["code"], "state": late_back["state"]}
        assert_problem(api.post(path, json_body=late_body, token=seller), 422)

    def test_a_used_code_is_a_422_and_meta_down_is_a_502(
        self, api: Api, seller: str, meta: FakeGraph
    ) -> None:
        started = start(api, seller)
        back = dialog(started["authorize_url"])
        path = "/integrations/connect/callback"
        assert api.post(path, json_body=back, token=seller).status == 422  # extra fields
        body = {"code": back["code"], "state": back["state"]}
        assert api.post(path, json_body=body, token=seller).status == 200
        again = start(api, seller)["state"]
        used = assert_problem(
            api.post(path, json_body={"code": back["code"], "state": again}, token=seller), 422
        )
        assert used["errors"][0]["loc"] == ["body", "code"]
        fresh = start(api, seller)
        fresh_back = dialog(fresh["authorize_url"])
        meta.stop()
        down = api.post(
            path, json_body={"code": fresh_back["code"], "state": fresh_back["state"]}, token=seller
        )
        assert_problem(down, 502)

    def test_meta_refusing_our_app_secret_is_a_502_not_the_sellers_fault(
        self, api: Api, seller: str, meta: FakeGraph, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        started = start(api, seller)
        back = dialog(started["authorize_url"])
        monkeypatch.setenv("META_APP_SECRET", "not-the-apps-secret")
        get_settings.cache_clear()
        reply = api.post(
            "/integrations/connect/callback",
            json_body={"code": back["code"], "state": back["state"]},
            token=seller,
        )
        assert "not-the-apps-secret" not in assert_problem(reply, 502)["detail"]


class TestConnectAccounts:
    def test_connect_page_and_instagram_then_409(
        self, api: Api, seller: str, meta: FakeGraph, queues: Queues, conn: Any
    ) -> None:
        made = connection(api, seller)
        page = add(api, seller, made["connection_id"], "facebook", BAKERY)
        insta = add(api, seller, made["connection_id"], "instagram", BAKERY_IG)
        assert (page.status, insta.status) == (201, 201), (page.text, insta.text)
        assert insta.json()["provider"] == "instagram"
        assert insta.json()["name"] == "Demo Bakery"
        assert insta.json()["status"] == "active"
        assert_problem(add(api, seller, made["connection_id"], "facebook", BAKERY), 409)
        rows = conn.execute(
            "SELECT provider, meta_user_id, token_source FROM integrations ORDER BY provider"
        ).fetchall()
        assert rows == [("facebook", "5050", "connect"), ("instagram", "5050", "connect")]
        # The first sync of each was queued at once.
        assert queues.depth() == 2
        # A new connection shows them connected.
        listed = connection(api, seller)["accounts"]
        assert {(a["external_id"], a["connected"]) for a in listed} == {
            (BAKERY, True),
            (STUDIO, False),
            (BAKERY_IG, True),
        }

    def test_a_foreign_or_stale_connection_or_unlisted_account_is_422(
        self, api: Api, seller: str, meta: FakeGraph, conn: Any
    ) -> None:
        made = connection(api, seller)["connection_id"]
        other = api.seller("other@example.com")
        assert assert_problem(add(api, other, made, "facebook", BAKERY), 422)["errors"][0][
            "loc"
        ] == ["body", "connection_id"]
        unlisted = assert_problem(add(api, seller, made, "facebook", "3030"), 422)
        assert unlisted["errors"][0]["loc"] == ["body", "external_id"]
        assert_problem(add(api, seller, made, "instagram", BAKERY), 422)  # wrong provider
        conn.execute("UPDATE meta_connections SET last_used_at = now() - interval '61 minutes'")
        assert_problem(add(api, seller, made, "facebook", BAKERY), 422)
        # MaintenanceFunction deletes it (and with it the tokens it held).
        result = maintenance_app.lambda_handler({}, lambda_context("MaintenanceFunction"))
        assert result["purge_connections"]["connections"] == 1
        assert conn.execute("SELECT count(*) FROM meta_connections").fetchone() == (0,)

    def test_both_token_forms_together_or_neither_are_422(
        self, api: Api, seller: str, meta: FakeGraph
    ) -> None:
        made = connection(api, seller)["connection_id"]
        both = {
            "connection_id": made,
            "provider": "facebook",
            "external_id": BAKERY,
            "access_token": "tok",
        }
        assert_problem(api.post("/integrations", json_body=both, token=seller), 422)
        neither = {"provider": "facebook", "external_id": BAKERY, "name": "x"}
        assert_problem(api.post("/integrations", json_body=neither, token=seller), 422)

    def test_reconnecting_a_needs_reauth_account_makes_it_active(
        self, api: Api, seller: str, meta: FakeGraph, conn: Any
    ) -> None:
        made = connection(api, seller)["connection_id"]
        first = add(api, seller, made, "facebook", BAKERY).json()
        before = conn.execute("SELECT access_token_ciphertext FROM integrations").fetchone()[0]
        conn.execute("UPDATE integrations SET status = 'needs_reauth'")
        again = add(api, seller, connection(api, seller)["connection_id"], "facebook", BAKERY)
        assert again.status == 200, again.text
        assert (again.json()["id"], again.json()["status"]) == (first["id"], "active")
        after = conn.execute("SELECT access_token_ciphertext FROM integrations").fetchone()[0]
        assert bytes(after) != bytes(before)
        # A deleted one is connected anew.
        api.delete(f"/integrations/{first['id']}", token=seller)
        anew = add(api, seller, connection(api, seller)["connection_id"], "facebook", BAKERY)
        assert anew.status == 201 and anew.json()["id"] != first["id"]


class TestFirstSync:
    def test_page_and_instagram_ingest_with_their_metrics_and_90_days_of_history(
        self, api: Api, seller: str, meta: FakeGraph, queues: Queues
    ) -> None:
        made = connection(api, seller)["connection_id"]
        page = add(api, seller, made, "facebook", BAKERY).json()
        insta = add(api, seller, made, "instagram", BAKERY_IG).json()
        meta.log.clear()
        queues.deliver()
        assert queues.depth() == 0
        assert series_span(meta) >= 89 * 86400
        # Every call made with a token carried appsecret_proof (require_proof is on).
        assert meta.log
        rows = api.get(
            f"/analytics/metrics?integration_id={insta['id']}&limit=1000", token=seller
        ).json()["items"]
        assert len(rows) == 15
        assert {r["provider"] for r in rows} == {"instagram"}
        assert all(r["impressions"] is not None and r["saves"] is not None for r in rows)
        assert all(r["video_views"] is None and r["clicks"] is None for r in rows)
        # Reels have no profile visits or follows; feed media do.
        assert any(r["profile_visits"] is None for r in rows)
        assert any(r["profile_visits"] is not None for r in rows)
        fb_rows = api.get(
            f"/analytics/metrics?integration_id={page['id']}&limit=1000", token=seller
        ).json()["items"]
        assert fb_rows and {r["provider"] for r in fb_rows} == {"facebook"}
        assert all(r["saves"] is None for r in fb_rows)
        today = dt.datetime.now(dt.UTC).date()
        since = (today - dt.timedelta(days=89)).isoformat()
        for integration in (page, insta):
            days = api.get(
                f"/analytics/accounts?integration_id={integration['id']}&from={since}",
                token=seller,
            ).json()["items"]
            assert len(days) >= 89, (integration["provider"], len(days))
            assert {d["provider"] for d in days} == {integration["provider"]}
            assert sum(d["reach"] is not None for d in days) >= 89
        # A second run the same day writes nothing new and asks for 3 days, not 90.
        meta.log.clear()
        api.post(f"/integrations/{insta['id']}/sync", json_body={}, token=seller)
        queues.deliver()
        assert series_span(meta) <= 4 * 86400  # the last 3 days, not the 90 again

    def test_accounts_read_is_tenant_scoped(
        self, api: Api, seller: str, meta: FakeGraph, queues: Queues
    ) -> None:
        made = connection(api, seller)["connection_id"]
        page = add(api, seller, made, "facebook", BAKERY).json()
        queues.deliver()
        other = api.seller("other@example.com")
        reply = api.get(f"/analytics/accounts?integration_id={page['id']}", token=other)
        assert reply.status == 200 and reply.json()["items"] == []
        mine = api.get("/analytics/accounts", token=seller).json()["items"]
        assert mine and all(d["integration_id"] == page["id"] for d in mine)
        assert json.dumps(mine).count("followers") == len(mine)
