"""The web app's /api proxy in front of the real gateway (the template's routes, authorizer
and handlers, in process) with a browser's cookie store: the refresh cookie §7 sets for
``Path=/api/auth`` comes back through the proxy, and only there."""

from __future__ import annotations

import http.cookiejar
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus_local import web
from tests.support.api import Api


class Browser:
    """urllib with a cookie jar: sends a cookie only where its Path and Domain allow."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, dict[str, list[str]], Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with self.opener.open(req, timeout=30) as resp:
                raw, status, headers = resp.read(), resp.status, resp.headers
        except urllib.error.HTTPError as err:
            raw, status, headers = err.read(), err.code, err.headers
        multi = {k.lower(): headers.get_all(k) or [] for k in headers}
        return status, multi, json.loads(raw) if raw else None

    def cookie(self, name: str) -> http.cookiejar.Cookie | None:
        return next((c for c in self.jar if c.name == name), None)


@pytest.fixture
def browser(api: Api, tmp_path: Path) -> Iterator[Browser]:
    (tmp_path / "index.html").write_text("<!doctype html><title>home</title>", encoding="utf-8")
    srv = web.make_web_server("127.0.0.1", 0, web.Site(tmp_path), api.gateway)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield Browser(srv.base_url)
    srv.shutdown()
    srv.server_close()


def test_the_refresh_cookie_goes_through_the_proxy_and_comes_back_only_to_auth(
    browser: Browser,
) -> None:
    # When a person registers through the web app's /api
    status, headers, body = browser.call(
        "POST", "/api/auth/register", {"email": "web@example.com", "password": "a long passphrase"}
    )
    assert status == 201, body
    # Then the API's cookie reached the browser as the API set it (HttpOnly, SameSite=Strict,
    # the web app's Path, not Secure on loopback's plain HTTP)
    (set_cookie,) = headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert "Secure" not in set_cookie
    cookie = browser.cookie("refresh_token")
    assert cookie is not None and cookie.path == "/api/auth"
    assert cookie.value == body["refresh_token"]
    # And a refresh with no token in the body is answered from the cookie alone
    status, headers, pair = browser.call("POST", "/api/auth/refresh", {})
    assert status == 200, pair
    assert pair["refresh_token"] != body["refresh_token"]
    assert browser.cookie("refresh_token").value == pair["refresh_token"]  # type: ignore[union-attr]
    # The bearer token goes through too
    status, _, me = browser.call("GET", "/api/auth/me", token=pair["access_token"])
    assert (status, me["email"]) == (200, "web@example.com")
    # When the person logs out, the cookie is gone, and a refresh from it is refused
    status, _, _ = browser.call("POST", "/api/auth/logout", {})
    assert status == 204
    assert browser.cookie("refresh_token") is None
    status, headers, problem = browser.call("POST", "/api/auth/refresh", {})
    assert status == 401
    assert headers["content-type"] == ["application/problem+json"]
    assert problem["status"] == 401


def test_the_gateways_own_answers_come_through_unchanged(browser: Browser) -> None:
    status, headers, body = browser.call("GET", "/api/auth/me")
    assert (status, body) == (401, {"message": "Unauthorized"})
    assert "content-security-policy" not in headers
    status, _, body = browser.call("GET", "/api/nowhere")
    assert (status, body) == (404, {"message": "Not Found"})
    # while the web app's own paths are the site's
    with urllib.request.urlopen(browser.base + "/", timeout=10) as resp:
        assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert b"<title>home</title>" in resp.read()
