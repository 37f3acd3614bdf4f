"""Black-box: the `make local` server over real HTTP, as a user's client sees it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import ROOT, TEST_SECRETS

pytestmark = pytest.mark.e2e
READY = "Nexus local stack ready"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    proc: subprocess.Popen[str]
    base: str
    output: list[str]

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        data = body if isinstance(body, bytes) else None
        if body is not None and data is None:
            data = json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, dict(resp.headers), json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), json.loads(err.read() or b"null")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def start_stack(data_dir: Path, port: int, extra_env: dict[str, str]) -> Stack:
    # Only what the caller passes: no database URL or secrets leak in from the test session.
    dropped = {"DATABASE_URL", "BCRYPT_ROUNDS", *TEST_SECRETS}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        {
            "PYTHONPATH": f"{ROOT / 'layers/shared'}:{ROOT / 'tools'}",
            "NEXUS_LOCAL_DIR": str(data_dir),
            "PORT": str(port),
            **extra_env,
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus_local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    deadline = time.monotonic() + 90
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        output.append(line)
        if READY in line:
            return Stack(proc, f"http://127.0.0.1:{port}", output)
    proc.kill()
    raise AssertionError("local stack did not become ready:\n" + "".join(output))


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
    from nexus.checkout.signature import sign

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
    event = json.dumps(
        {"event_id": "evt_1", "type": "payment.succeeded", "order_id": order["id"]}
    ).encode()
    signature = sign(TEST_SECRETS["PAYMENT_WEBHOOK_SECRET"], event)
    status, _, _ = stack.call(
        "POST", "/webhooks/payments", event, headers={"X-Signature": signature}
    )
    assert status == 200
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
        done = subprocess.run(
            [sys.executable, "-m", "nexus_local"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [
        f"error: port {port} on 127.0.0.1 is already in use (stop the other process or set PORT)"
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
