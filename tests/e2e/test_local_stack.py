"""Black-box: the `make local` server over real HTTP, as a user's client sees it."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from walkthroughs import browser

from tests.support.api import ROOT, TEST_SECRETS
from tests.support.stack import Stack, free_port, run_module, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    s = start_stack(tmp_path, free_port(), {"DATABASE_URL": database_url, **TEST_SECRETS})
    yield s
    assert s.stop() == 0


def test_auth_walkthrough_over_http(stack: Stack) -> None:
    # The ready banner lists the template's routes.
    banner = "".join(stack.output)
    assert "/auth/register" in banner and "AuthFunction" in banner
    status, _, body = stack.call(
        "POST", "/auth/register", {"email": "e2e@example.com", "password": "a long passphrase"}
    )
    assert status == 201, body
    status, _, body = stack.call(
        "POST", "/auth/login", {"email": "E2E@example.com", "password": "a long passphrase"}
    )
    assert status == 200
    token = body["access_token"]
    status, _, me = stack.call("GET", "/auth/me", token=token)
    assert status == 200
    assert me["email"] == "e2e@example.com"
    status, _, body = stack.call("GET", "/auth/me")
    assert (status, body) == (401, {"message": "Unauthorized"})
    status, _, body = stack.call("GET", "/auth/me", token=token + "x")
    assert (status, body) == (403, {"message": "Forbidden"})
    status, headers, body = stack.call("POST", "/auth/login", {"email": 1})
    assert status == 422
    assert headers["Content-Type"] == "application/problem+json"
    status, _, body = stack.call("GET", "/nowhere")
    assert (status, body) == (404, {"message": "Not Found"})


def test_commerce_walkthrough_over_http(stack: Stack) -> None:
    _, _, seller = stack.call(
        "POST", "/auth/register", {"email": "shop@example.com", "password": "a long passphrase"}
    )
    token = seller["access_token"]
    status, _, product = stack.call(
        "POST", "/products", {"name": "Guide", "price": 2500, "currency": "EUR"}, token
    )
    assert status == 201
    status, _, store = stack.call("GET", f"/store/products/{product['id']}")
    assert (status, store["price"]) == (200, 2500)
    buy = {"product_id": product["id"], "email": "buyer@example.com"}
    status, _, order = stack.call("POST", "/checkout", buy, headers={"Idempotency-Key": "k-1"})
    assert (status, order["status"], order["amount"]) == (201, "pending", 2500)
    status, _, again = stack.call("POST", "/checkout", buy, headers={"Idempotency-Key": "k-1"})
    assert (status, again["id"]) == (200, order["id"])
    # The buyer pays on the sandbox Stripe's page; its signed webhook makes the order paid
    assert browser.press(browser.open_page(order["checkout_url"]), "Pay").status == 303
    deadline = time.monotonic() + 30
    while stack.call("GET", f"/checkout/orders/{order['id']}")[2]["status"] != "paid":
        assert time.monotonic() < deadline, "the order was not paid"
        time.sleep(0.2)
    status, _, page = stack.call("GET", "/orders?status=paid", token=token)
    assert status == 200
    assert [o["id"] for o in page["items"]] == [order["id"]]
    status, _, spec = stack.call("GET", "/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.1")
    with urllib.request.urlopen(stack.base + "/docs", timeout=10) as resp:
        assert b"swagger-ui" in resp.read()


def test_port_in_use_is_a_one_line_error(tmp_path: Path, database_url: str) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'layers/shared'}:{ROOT / 'tools'}",
            "PORT": str(port),
            "NEXUS_LOCAL_DIR": str(tmp_path),
            "DATABASE_URL": database_url,
        }
        done = run_module(
            "nexus_local",
            env=env,
            timeout=60,
        )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [
        f"error: port {port} on 127.0.0.1 is already in use (HTTP API, PORT; stop the other"
        " process or choose another port)"
    ]


def _postgres_running_in(data_dir: Path) -> bool:
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if proc.info.get("name") == "postgres" and str(data_dir) in cmd:
            return True
    return False


def test_embedded_postgres_keeps_data_across_restarts_and_stops_cleanly(tmp_path: Path) -> None:
    # Given a stack on its own embedded PostgreSQL
    first = start_stack(tmp_path, free_port(), {})
    try:
        status, _, _ = first.call(
            "POST",
            "/auth/register",
            {"email": "keep@example.com", "password": "kept across restarts"},
        )
        assert status == 201
    finally:
        # When it is stopped with Ctrl-C
        assert first.stop() == 0
    # Then no PostgreSQL is left running
    assert not _postgres_running_in(tmp_path / "pgdata")
    # And after a restart the account is still there, with the dev secrets it was made under
    second = start_stack(tmp_path, free_port(), {})
    try:
        status, _, _ = second.call(
            "POST", "/auth/login", {"email": "keep@example.com", "password": "kept across restarts"}
        )
        assert status == 200
        assert (tmp_path / "secrets.json").exists()
    finally:
        assert second.stop() == 0


def _invoke(stack: Stack, function: str, event: dict[str, Any]) -> Any:
    url = f"http://127.0.0.1:{stack.env['LAMBDA_PORT']}/2015-03-31/functions/{function}/invocations"
    req = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def _ops(stack: Stack, *argv: str) -> str:
    env = {**stack.env, "PYTHONPATH": f"{ROOT / 'layers/shared'}:{ROOT / 'tools'}"}
    done = run_module(
        "nexus_ops",
        "--local",
        *argv,
        env=env,
        timeout=60,
        check=True,
    )
    return done.stdout


def _wait_for_runs(stack: Stack, token: str, count: int, final: set[str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        _, _, body = stack.call("GET", "/analytics/runs", token=token)
        runs = body["items"]
        if len(runs) == count and all(r["status"] in final for r in runs):
            return runs
        time.sleep(0.5)
    raise AssertionError(f"runs did not settle: {runs}")


def test_ingestion_pipeline_dead_letter_and_redrive(stack: Stack) -> None:
    # Given a seller with three sandbox pages, one connected with an expired token
    _, _, seller = stack.call(
        "POST", "/auth/register", {"email": "pages@example.com", "password": "a long passphrase"}
    )
    token = seller["access_token"]
    ids = {}
    for page, page_token in (
        ("1010", "demo-token-bakery"),
        ("2020", "demo-token-studio"),
        ("3030", "demo-token-expired"),
    ):
        status, _, integration = stack.call(
            "POST",
            "/integrations",
            {"provider": "facebook", "external_id": page, "name": page, "access_token": page_token},
            token,
        )
        assert status == 201
        ids[page] = integration["id"]
    # When the schedule fires (through the Lambda invoke API)
    fired = _invoke(
        stack, "IngestFanoutFunction", {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    )
    assert fired["jobs"] == 3
    # Then the event source mapping delivers the jobs: two ok, one waiting for a new token
    runs = _wait_for_runs(stack, token, 3, {"ok", "needs_reauth"})
    status_by_id = {r["integration_id"]: r["status"] for r in runs}
    assert status_by_id[ids["3030"]] == "needs_reauth"
    assert [status_by_id[ids[p]] for p in ("1010", "2020")] == ["ok", "ok"]
    _, _, metrics = stack.call(
        "GET", f"/analytics/metrics?integration_id={ids['1010']}", token=token
    )
    assert len(metrics["items"]) == 40
    # And the expired page's job sits in the dead-letter queue, once (the consumer records
    # the run before it parks the job, so wait for the job itself)
    deadline = time.monotonic() + 30
    while "IngestDeadLetterQueue         1 waiting" not in (depths := _ops(stack, "queues")):
        assert time.monotonic() < deadline, depths
        time.sleep(0.5)
    # When the seller reconnects and an operator redrives
    status, _, patched = stack.call(
        "PATCH", f"/integrations/{ids['3030']}", {"access_token": "demo-token-renewed"}, token
    )
    assert patched["status"] == "active"
    assert "moved 1, kept 0" in _ops(stack, "redrive")
    # Then the job runs again and succeeds
    runs = _wait_for_runs(stack, token, 3, {"ok"})
    assert {r["status"] for r in runs} == {"ok"}
    assert "IngestDeadLetterQueue         0 waiting" in _ops(stack, "queues")


def test_invoke_api_reports_unknown_functions_and_function_errors(stack: Stack) -> None:
    url = f"http://127.0.0.1:{stack.env['LAMBDA_PORT']}/2015-03-31/functions/Nope/invocations"
    req = urllib.request.Request(url, data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, timeout=10)
    assert caught.value.code == 404
    # A malformed SQS event makes the consumer raise: reported as Lambda reports it.
    url = url.replace("Nope", "IngestMetricsFunction")
    req = urllib.request.Request(url, data=b'{"Records": [{"bad": 1}]}', method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["X-Amz-Function-Error"] == "Unhandled"


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "BREW"])
def test_a_method_no_route_has_is_api_gateways_404_not_html(stack: Stack, method: str) -> None:
    """Contract §6: e.g. TRACE → 404 {"message": "Not Found"}, never HTML."""
    import http.client

    host, port = stack.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, "/products")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 404
    assert response.getheader("Content-Type", "").startswith("application/json")
    assert json.loads(body) == {"message": "Not Found"}
