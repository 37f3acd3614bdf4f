"""`make local`'s web app (WEB_PORT) over real HTTP: recorded and announced like the other
endpoints, the API behind its /api, the links the functions make pointing at it, and its
port checked before anything starts."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import ROOT, TEST_SECRETS
from tests.support.stack import Stack, free_port, run_module, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    s = start_stack(tmp_path, free_port(), {"DATABASE_URL": database_url, **TEST_SECRETS})
    yield s
    assert s.stop() == 0


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.status, dict(resp.headers), resp.read()


def test_the_web_app_is_recorded_announced_and_fronts_the_api(stack: Stack) -> None:
    web = stack.web_url
    # The state file and the banner name it
    recorded = json.loads((stack.data_dir / "stack.json").read_text(encoding="utf-8"))
    assert recorded["web_url"] == web
    assert f"Web app: {web} (web/; {web}/api/* -> the HTTP API" in stack.text()
    assert f"web app on {web}" in stack.text()
    # Its pages carry the policy, whose connect-src names the local AWS endpoint (uploads)
    status, headers, _ = _get(web + "/")
    assert status == 200
    assert (
        f"connect-src 'self' http://127.0.0.1:{stack.env['SQS_PORT']};"
        in (headers["Content-Security-Policy"])
    )
    # The API answers under /api as on its own port
    req = urllib.request.Request(
        web + "/api/auth/register",
        data=json.dumps({"email": "webapp@example.com", "password": "a long passphrase"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 201
        assert "Path=/api/auth" in resp.headers["Set-Cookie"]
        token = json.loads(resp.read())["access_token"]
    status, _, me = stack.call("GET", "/auth/me", token=token)
    assert (status, me["email"]) == (200, "webapp@example.com")
    # Each port's OpenAPI document names that port's server; both serve the same Swagger UI
    assert json.loads(_get(web + "/openapi.json")[2])["servers"] == [{"url": f"{web}/api"}]
    assert json.loads(_get(stack.base + "/openapi.json")[2])["servers"] == [{"url": stack.base}]
    assert _get(web + "/docs")[2] == _get(stack.base + "/docs")[2]
    # The functions' links point at it (WEB_BASE_URL follows WEB_PORT)
    status, _, product = stack.call(
        "POST", "/products", {"name": "Guide", "price": 900, "currency": "USD"}, token
    )
    assert status == 201
    status, _, order = stack.call(
        "POST", "/checkout", {"product_id": product["id"], "email": "b@example.com"}
    )
    assert status == 201
    assert order["checkout_url"].startswith(recorded["stripe_url"] + "/pay/")
    sessions = recorded["stripe_url"] + f"/_sandbox/sessions?client_reference_id={order['id']}"
    (session,) = json.loads(_get(sessions)[2])["data"]
    assert session["success_url"] == f"{web}/success?order={order['id']}"


def _preflight(url: str, origin: str) -> tuple[int, dict[str, str]]:
    req = urllib.request.Request(
        url,
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers)


def test_the_files_bucket_lets_the_web_app_put_an_upload(stack: Stack) -> None:
    # A browser on the web app asks the local AWS endpoint whether it may PUT a presigned
    # upload (the template's CORS rule for WebBaseUrl, which is this stack's web app)
    upload = f"http://127.0.0.1:{stack.env['SQS_PORT']}/filesbucket/products/p/u/guide.pdf"
    status, headers = _preflight(upload, stack.web_url)
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == stack.web_url
    assert "PUT" in headers["Access-Control-Allow-Methods"]
    assert "content-type" in headers["Access-Control-Allow-Headers"].lower()
    # Another origin is refused, as S3 refuses it (moto's server adds a blanket
    # Access-Control-Allow-Origin of its own, but a browser fails a preflight that is no 2xx)
    status, _ = _preflight(upload, "http://127.0.0.1:1")
    assert status == 403


def test_the_web_port_in_use_is_a_one_line_error(tmp_path: Path, database_url: str) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'layers/shared'}:{ROOT / 'tools'}",
            "NEXUS_LOCAL_DIR": str(tmp_path),
            "DATABASE_URL": database_url,
            **{name: str(free_port()) for name in ("PORT", "LAMBDA_PORT", "SQS_PORT")},
            **{name: str(free_port()) for name in ("GRAPH_SANDBOX_PORT", "STRIPE_SANDBOX_PORT")},
            "WEB_PORT": str(port),
        }
        done = run_module("nexus_local", env=env, timeout=60)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [
        f"error: port {port} on 127.0.0.1 is already in use (web app, WEB_PORT; stop the other"
        " process or choose another port)"
    ]
