"""Starting and stopping the local stack: a stack that hangs cannot hang the test run, what
it started is stopped whatever interrupts it, and its HTTP servers stop serving before their
sockets close."""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

import tests.support.stack as stack_support
from nexus_local import __main__ as local
from tests.support.stack import free_port, spawn_stack, stack_env, start_stack

pytestmark = pytest.mark.e2e


def _fake_stack(tmp_path: Path, main: str) -> dict[str, str]:
    """A ``nexus_local`` package of its own, first on PYTHONPATH, whose ``__main__`` is
    ``main``."""
    package = tmp_path / "fake" / "nexus_local"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(main)
    return {"PYTHONPATH": str(tmp_path / "fake")}


# Starts a child (written to child.pid) and then prints nothing, for ever.
SILENT = """
import signal, subprocess, sys, time
from pathlib import Path
{ignore}
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
Path("{pid_file}").write_text(str(child.pid))
print("starting...", flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("ignores_ctrl_c", [False, True], ids=["stops", "must-be-killed"])
def test_a_silent_stack_fails_at_the_deadline_and_leaves_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ignores_ctrl_c: bool
) -> None:
    # Given a stack that never prints its ready line (and maybe ignores Ctrl-C)
    pid_file = tmp_path / "child.pid"
    ignore = "signal.signal(signal.SIGINT, signal.SIG_IGN)" if ignores_ctrl_c else ""
    env = _fake_stack(tmp_path, SILENT.format(ignore=ignore, pid_file=pid_file))
    monkeypatch.setattr(stack_support, "START_TIMEOUT", 3.0)
    real_interrupt = stack_support._interrupt
    monkeypatch.setattr(
        stack_support,
        "_interrupt",
        lambda proc, data_dir, timeout: real_interrupt(proc, data_dir, 2),
    )
    started = time.monotonic()
    # When it is started
    with pytest.raises(AssertionError) as failure:
        start_stack(tmp_path, free_port(), env)
    # Then the start fails at the deadline with what the stack printed
    assert time.monotonic() - started < 20
    assert "not ready within 3 s" in str(failure.value)
    assert "starting..." in str(failure.value)
    # And neither the stack nor its child is left running
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)


def test_a_stack_that_exits_early_fails_at_once(tmp_path: Path) -> None:
    env = _fake_stack(tmp_path, "import sys\nprint('error: boom', file=sys.stderr)\nsys.exit(1)\n")
    started = time.monotonic()
    with pytest.raises(AssertionError, match="exited") as failure:
        start_stack(tmp_path, free_port(), env)
    assert time.monotonic() - started < 20
    assert "error: boom" in str(failure.value)


class _Recorder:
    def __init__(self) -> None:
        self.shutdowns = 0


def _main_with(
    monkeypatch: pytest.MonkeyPatch, *, start: object = None, record: object = None
) -> _Recorder:
    """``main`` with a stack whose start steps are replaced; counts its shutdowns."""
    calls = _Recorder()

    def step(effect: object) -> object:
        def run(self: local.Stack) -> None:
            if isinstance(effect, BaseException):
                raise effect

        return run

    def shutdown(self: local.Stack) -> None:
        calls.shutdowns += 1

    monkeypatch.setattr(local.Stack, "check_ports", lambda self: None)
    monkeypatch.setattr(local.Stack, "start", step(start))
    monkeypatch.setattr(local.Stack, "record", step(record))
    monkeypatch.setattr(local.Stack, "banner", lambda self: None)
    monkeypatch.setattr(local.Stack, "serve", lambda self: None)
    monkeypatch.setattr(local.Stack, "shutdown", shutdown)
    monkeypatch.setattr("nexus_local.logs.configure", lambda: None)
    monkeypatch.setattr("signal.signal", lambda *args: None)
    return calls


def test_a_failure_after_start_is_one_line_and_stops_what_started(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    calls = _main_with(monkeypatch, record=OSError("disk full"))
    assert local.main(["--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["error: local stack failed to start: OSError: disk full"]
    assert calls.shutdowns == 1


def test_ctrl_c_while_starting_stops_what_started_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    calls = _main_with(monkeypatch, start=KeyboardInterrupt())
    assert local.main(["--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert out.out == "stopping...\n"
    assert out.err == ""
    assert calls.shutdowns == 1


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_shutdown_stops_serving_servers_and_closes_idle_ones(tmp_path: Path) -> None:
    args = argparse.Namespace(data_dir=tmp_path)
    # Threads already running belong to the test session (its sandbox Stripe serves forever)
    before = set(threading.enumerate())
    # Given a stack serving on two servers (the first in the serving thread)
    serving = local.Stack(args)
    serving.servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Quiet) for _ in range(2)]
    main = threading.Thread(target=serving.serve)
    main.start()
    deadline = time.monotonic() + 5
    while not serving.serving and time.monotonic() < deadline:
        time.sleep(0.01)
    serving.servers[0].shutdown()  # as Ctrl-C ends the serving thread's loop
    main.join(timeout=5)
    background = [t for t in threading.enumerate() if t not in before and "serve_forever" in t.name]
    # When it shuts down, Then that returns promptly and no serve_forever loop is left
    done = threading.Thread(target=serving.shutdown, daemon=True)
    done.start()
    done.join(timeout=5)
    assert not done.is_alive()
    for thread in background:
        thread.join(timeout=5)
        assert not thread.is_alive()
    assert all(s.socket.fileno() == -1 for s in serving.servers)
    # And a stack whose servers never served closes them without waiting on them
    idle = local.Stack(args)
    idle.servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Quiet) for _ in range(2)]
    done = threading.Thread(target=idle.shutdown, daemon=True)
    done.start()
    done.join(timeout=5)
    assert not done.is_alive()
    assert all(s.socket.fileno() == -1 for s in idle.servers)


def test_ctrl_c_while_the_real_stack_starts_stops_its_postgresql(tmp_path: Path) -> None:
    # Given the stack starting on its own embedded PostgreSQL
    env = stack_env(tmp_path, free_port(), {})
    proc = spawn_stack(env)
    try:
        pid_file = tmp_path / "pgdata" / "postmaster.pid"
        deadline = time.monotonic() + 60
        while not pid_file.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pid_file.exists()
        time.sleep(0.5)  # the migrations, moto and the rest are still to come
        # When it gets Ctrl-C before its ready line
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Then it stops quietly, PostgreSQL included
    assert proc.returncode == 0, output
    assert "Traceback" not in output
    assert not any(
        p.info["name"] == "postgres" and str(tmp_path) in " ".join(p.info["cmdline"] or [])
        for p in psutil.process_iter(attrs=["name", "cmdline"])
    )


def _postgres_on(data_dir: Path) -> list[int]:
    return [
        p.pid
        for p in psutil.process_iter(attrs=["name", "cmdline"])
        if p.info["name"] == "postgres" and str(data_dir) in " ".join(p.info["cmdline"] or [])
    ]


def _environments_of(pid: int) -> list[int]:
    """The stack's emulated execution environments (its worker processes)."""
    return [
        child.pid
        for child in psutil.Process(pid).children(recursive=True)
        if "nexus_local.worker" in " ".join(child.cmdline())
    ]


def _gone(pids: list[int], timeout: float) -> list[int]:
    """Those of ``pids`` still running after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_a_stack_killed_with_its_process_group_leaves_nothing_running(tmp_path: Path) -> None:
    # Given the stack on its own embedded PostgreSQL, with environments serving a seller
    stack = start_stack(tmp_path, free_port(), {"BCRYPT_ROUNDS": "4"})
    killed = False
    try:
        login = {"email": "killed@example.com", "password": "a long passphrase"}
        status, _, seller = stack.call("POST", "/auth/register", login)
        assert status == 201, seller
        assert stack.call("GET", "/auth/me", token=seller["access_token"])[0] == 200
        environments = _environments_of(stack.proc.pid)
        servers = _postgres_on(tmp_path)
        assert len(environments) >= 2  # the authorizer's and AuthFunction's at least
        assert servers
        # When its whole process group is killed (no chance to stop anything)
        os.killpg(stack.proc.pid, signal.SIGKILL)
        stack.proc.wait(timeout=10)
        killed = True
        # Then no environment and no PostgreSQL process is left running
        assert _gone(environments, 10) == []
        assert _gone(servers, 40) == []
        assert _postgres_on(tmp_path) == []
    finally:
        if not killed:
            stack.stop()
        elif stack.reader is not None:
            stack.reader.join(timeout=10)
    # And a fresh start on the same data works, with the data kept
    again = start_stack(tmp_path, free_port(), {"BCRYPT_ROUNDS": "4"})
    try:
        status, _, body = again.call("POST", "/auth/login", login)
        assert status == 200, body
    finally:
        assert again.stop() == 0
    # And its clean stop stops its PostgreSQL (no handle of the killed run holds it)
    assert _gone(_postgres_on(tmp_path), 30) == []


OWNER = """
import sys, time
from pathlib import Path
from nexus_local.postgres import EmbeddedPostgres
EmbeddedPostgres(Path(sys.argv[1]))
print("up", flush=True)
time.sleep(600)
"""


def test_a_server_an_earlier_run_left_running_is_reused_and_stopped(tmp_path: Path) -> None:
    import subprocess
    import sys

    import psycopg

    from nexus_local import pgguard
    from nexus_local.postgres import EmbeddedPostgres
    from tests.support.api import ROOT

    pgdata = tmp_path / "pgdata"
    # Given a server whose owner died with its guard (so it is still running, and the
    # owner's dead pid is still in its list of handles)
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(pgdata)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'layers/shared'}:{ROOT / 'tools'}"},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert owner.stdout is not None and owner.stdout.readline() == "up\n"
    for guard in psutil.Process(owner.pid).children():
        guard.kill()
    owner.kill()
    owner.wait()
    left = pgguard.postmaster(pgdata.resolve())
    assert left is not None
    # When the next run starts on the same data, Then it reuses that server
    second = EmbeddedPostgres(pgdata)
    try:
        assert left.pid in _postgres_on(pgdata.resolve())
        with psycopg.connect(second.url()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        second.stop()
    # And its stop stops it: the dead owner's handle no longer counts
    assert _gone([left.pid], 30) == []
