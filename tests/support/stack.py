"""The `make local` server started on free ports, as a user's client sees it over HTTP."""

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.api import ROOT, TEST_SECRETS

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
    env: dict[str, str]

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
    """The `make local` server on free ports (the schedule off: tests fire it)."""
    # Only what the caller passes: no database URL or secrets leak in from the test session.
    dropped = {"DATABASE_URL", "BCRYPT_ROUNDS", *TEST_SECRETS}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        {
            "PYTHONPATH": f"{ROOT / 'layers/shared'}:{ROOT / 'tools'}",
            "NEXUS_LOCAL_DIR": str(data_dir),
            "PORT": str(port),
            "LAMBDA_PORT": str(free_port()),
            "SQS_PORT": str(free_port()),
            "GRAPH_SANDBOX_PORT": str(free_port()),
            **extra_env,
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus_local", "--no-schedule"],
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
            return Stack(proc, f"http://127.0.0.1:{port}", output, env)
    proc.kill()
    raise AssertionError("local stack did not become ready:\n" + "".join(output))
