"""Isolation bench: what process-mode execution environments cost a client of `make local`.

The local stack is started twice on the same migrated database, once with each emulated
execution environment a thread of the stack's process (``--isolation thread``, "before")
and once with each an OS process of its own (``--isolation process``, the default,
"after"). Against each, ``GET /products?limit=20`` with a bearer token (20 products;
API Gateway's authorizer cache answers after the first call, as on AWS) is sent over
keep-alive connections by 1 and by 32 concurrent clients for a fixed time after a warm-up
that starts every environment; p50 and p95 latency are printed side by side with the
ratio after/before, and each mode's start-up time (launch to the ready line).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_local import postgres
from nexus_local.template import ROOT

READY = "Nexus local stack ready"
MODES = (("thread", "before"), ("process", "after"))
CLIENTS = (1, 32)
SECRETS = {
    "JWT_SECRET": "bench-" + "x" * 58,
    "PASSWORD_PEPPER": "bench-pepper",
    "STRIPE_SECRET_KEY": "sk_test_bench",
    "STRIPE_WEBHOOK_SECRET": "whsec_bench",
    "TOKEN_ENCRYPTION_KEY": "bench-token-key-" + "y" * 32,
    "BCRYPT_ROUNDS": "4",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Started:
    port: int
    seconds: float  # launch to the ready line


@contextmanager
def local_stack(isolation: str, database_url: str, data_dir: Path) -> Iterator[Started]:
    """`make local --isolation ...` on free ports; stopped with Ctrl-C afterwards."""
    port = _free_port()
    env = {
        **os.environ,
        **SECRETS,
        "PYTHONPATH": f"{ROOT / 'layers/shared'}:{ROOT / 'tools'}",
        "DATABASE_URL": database_url,
        "NEXUS_LOCAL_DIR": str(data_dir),
        "PORT": str(port),
        "LAMBDA_PORT": str(_free_port()),
        "SQS_PORT": str(_free_port()),
        "GRAPH_SANDBOX_PORT": str(_free_port()),
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus_local", "--no-schedule", "--isolation", isolation],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    output: list[str] = []
    for line in proc.stdout:
        output.append(line)
        if READY in line:
            break
    else:
        proc.wait()
        raise RuntimeError(f"the {isolation} stack did not start:\n" + "".join(output[-20:]))
    seconds = time.perf_counter() - started
    # Keep reading (and dropping) its log lines, or a full pipe would stall it.
    threading.Thread(target=lambda: [None for _ in proc.stdout or ()], daemon=True).start()
    try:
        yield Started(port, seconds)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _call(
    conn: http.client.HTTPConnection, method: str, path: str, body: Any = None, token: str = ""
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"null")


def _seller(port: int, email: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        status, body = _call(
            conn, "POST", "/auth/register", {"email": email, "password": "bench pass 123"}
        )
        assert status == 201, body
        token = str(body["access_token"])
        for i in range(20):
            status, body = _call(conn, "POST", "/products", {"name": f"P{i}", "price": 100}, token)
            assert status == 201, body
        return token
    finally:
        conn.close()


def _load(port: int, token: str, clients: int, seconds: float) -> list[float]:
    """Latencies (ms) of GET /products?limit=20 from ``clients`` concurrent keep-alive
    clients during ``seconds``, after each client's warm-up requests."""
    latencies: list[float] = []
    lock = threading.Lock()
    warm = threading.Barrier(clients)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        try:
            for _ in range(3):  # every environment started, connections open
                _call(conn, "GET", "/products?limit=20", token=token)
            warm.wait(timeout=120)
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                status, _ = _call(conn, "GET", "/products?limit=20", token=token)
                mine.append((time.perf_counter() - t0) * 1000)
                assert status == 200, status
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49], cuts[94]


def run(seconds: float = 2.0) -> int:
    results: dict[tuple[str, int], tuple[int, float, float]] = {}
    startup: dict[str, float] = {}
    limit = os.environ.get("LOCAL_MAX_ENVIRONMENTS") or "4"
    with (
        postgres.scratch_database("nexus_bench_isolation") as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for isolation, _ in MODES:
            with local_stack(isolation, url, Path(tmp) / isolation) as stack:
                startup[isolation] = stack.seconds
                token = _seller(stack.port, f"{isolation}@example.com")
                for clients in CLIENTS:
                    latencies = _load(stack.port, token, clients, seconds)
                    results[isolation, clients] = (len(latencies), *_percentiles(latencies))
    print(
        "Isolation bench: GET /products?limit=20 (bearer token) through make local's HTTP API,"
        f" {seconds:g} s per case, LOCAL_MAX_ENVIRONMENTS={limit}; before = environments as"
        " threads of the stack, after = each an OS process\n"
    )
    header = (
        f"{'clients':>7}  {'mode':<17}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p50 x':>8}{'p95 x':>8}"
    )
    print(header)
    print("-" * len(header))
    for clients in CLIENTS:
        _, base50, base95 = results["thread", clients]
        for isolation, when in MODES:
            n, p50, p95 = results[isolation, clients]
            print(
                f"{clients:>7}  {f'{isolation} ({when})':<17}{n:>9}{p50:>9.2f}{p95:>9.2f}"
                f"{p50 / base50:>8.2f}{p95 / base95:>8.2f}"
            )
    print(
        "\nstart-up (launch to ready line, on an existing database): "
        + ", ".join(f"{isolation} {startup[isolation]:.2f} s" for isolation, _ in MODES)
    )
    return 0
