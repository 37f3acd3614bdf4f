"""The `make local` server started on free ports, as a user's client sees it over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.api import ROOT, TEST_SECRETS

READY = "Nexus local stack ready"
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """``output`` keeps growing while the stack runs (a thread reads its stdout, so a chatty
    stack never blocks on a full pipe); after :meth:`stop` it holds every line."""

    proc: subprocess.Popen[str]
    base: str
    output: list[str]
    env: dict[str, str]
    reader: threading.Thread | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return Path(self.env["NEXUS_LOCAL_DIR"])

    @property
    def web_url(self) -> str:
        """The web app (web/, and /api/* to the HTTP API)."""
        return f"http://127.0.0.1:{self.env['WEB_PORT']}"

    @property
    def lambda_url(self) -> str:
        return f"http://127.0.0.1:{self.env['LAMBDA_PORT']}"

    def invoke(self, function: str, event: Any) -> tuple[Any, str | None]:
        """The Lambda invoke API: the function's answer and its X-Amz-Function-Error."""
        req = urllib.request.Request(
            f"{self.lambda_url}/2015-03-31/functions/{function}/invocations",
            data=json.dumps(event).encode(),
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null"), resp.headers.get("X-Amz-Function-Error")

    def text(self) -> str:
        return "".join(self.output)

    def sqs(self) -> Any:
        """A boto3 SQS client of the stack's local AWS endpoint."""
        import boto3

        return boto3.client(
            "sqs",
            endpoint_url=f"http://127.0.0.1:{self.env['SQS_PORT']}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

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
        """Ctrl-C and the stack's exit code; a stack that does not stop within 30 s is
        killed (its embedded PostgreSQL too) and TimeoutExpired raised."""
        try:
            code = _interrupt(self.proc, self.data_dir, timeout=30)
        finally:
            if self.reader is not None:
                self.reader.join(timeout=10)
        return code


def _signal_group(proc: subprocess.Popen[str], signum: int) -> None:
    # The stack leads a session of its own (start_new_session): its children get the signal.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signum)


def _stop_postgres(data_dir: Path) -> None:
    """Fast shutdown of an embedded PostgreSQL a killed stack left on ``data_dir``: the
    server detaches into a session of its own. The stack's guard (nexus_local.pgguard) stops
    it too once the stack is gone; this makes sure before the test goes on."""
    import psutil

    pid_file = data_dir / "pgdata" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        server = psutil.Process(pid)
        if server.name() != "postgres" or str(data_dir) not in " ".join(server.cmdline()):
            return
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    except (OSError, ValueError, IndexError, psutil.Error):
        pass


def _interrupt(proc: subprocess.Popen[str], data_dir: Path, timeout: float) -> int:
    """Ctrl-C to the stack and its exit code. If it has not stopped within ``timeout``
    seconds, it is killed, its PostgreSQL stopped, and TimeoutExpired raised."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGINT)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()
        _stop_postgres(data_dir)
        raise


def _drain(
    proc: subprocess.Popen[str], output: list[str], ready: threading.Event, settled: threading.Event
) -> None:
    """Read the stack's output until it ends: ``ready`` is set on the ready line, ``settled``
    on the ready line or the end of output (the stack has exited)."""
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            output.append(line)
            if not ready.is_set() and READY in line:
                ready.set()
                settled.set()
    finally:
        settled.set()


def stack_env(data_dir: Path, port: int, extra_env: dict[str, str]) -> dict[str, str]:
    """The environment of `make local` on free ports with its data in ``data_dir``: only what
    the caller passes, so no database URL or secrets leak in from the test session."""
    # STRIPE_API_BASE_URL: the stack serves its own sandbox Stripe, which sends its webhooks
    # to that stack (the test session's in-process sandbox sends none).
    # WEB_BASE_URL: it follows the stack's WEB_PORT (links in emails, Stripe's success_url).
    dropped = {
        "DATABASE_URL",
        "BCRYPT_ROUNDS",
        "STRIPE_API_BASE_URL",
        "WEB_BASE_URL",
        *TEST_SECRETS,
    }
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        {
            "PYTHONPATH": f"{ROOT / 'layers/shared'}:{ROOT / 'tools'}",
            "NEXUS_LOCAL_DIR": str(data_dir),
            "PORT": str(port),
            "LAMBDA_PORT": str(free_port()),
            "SQS_PORT": str(free_port()),
            "GRAPH_SANDBOX_PORT": str(free_port()),
            "STRIPE_SANDBOX_PORT": str(free_port()),
            "WEB_PORT": str(free_port()),
            **extra_env,
        }
    )
    return env


def spawn_stack(env: dict[str, str], args: Sequence[str] = ()) -> subprocess.Popen[str]:
    """`python -m nexus_local --no-schedule` (tests fire the schedule) in a session of its
    own, so a stop can signal the whole process group."""
    return subprocess.Popen(
        [sys.executable, "-m", "nexus_local", "--no-schedule", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def start_stack(
    data_dir: Path, port: int, extra_env: dict[str, str], args: Sequence[str] = ()
) -> Stack:
    """The `make local` server on free ports; ``args`` are more command-line options
    (``--seed-demo``)."""
    env = stack_env(data_dir, port, extra_env)
    proc = spawn_stack(env, args)
    output: list[str] = []
    ready, settled = threading.Event(), threading.Event()
    reader = threading.Thread(target=_drain, args=(proc, output, ready, settled), daemon=True)
    reader.start()
    # The reader sees the ready line or the end of output; a stack that hangs silently
    # runs into the deadline instead of blocking the test run.
    settled.wait(timeout=START_TIMEOUT)
    if ready.is_set():
        return Stack(proc, f"http://127.0.0.1:{port}", output, env, reader)
    # The end of output: the stack has exited (or is about to).
    why = "exited" if settled.is_set() else f"not ready within {START_TIMEOUT:.0f} s"
    try:
        why += f", exit code {_interrupt(proc, data_dir, timeout=30)}"
    except subprocess.TimeoutExpired:
        why += ", did not stop on Ctrl-C and was killed"
    reader.join(timeout=10)
    raise AssertionError(f"local stack did not become ready ({why}):\n" + "".join(output))


def run_module(
    module: str, *args: str, env: dict[str, str], timeout: float = 120, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` from the repository root, as a user's shell runs the
    project's tools, with its output captured."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )
