"""Versioned SQL migrations, applied in file-name order, each in its own transaction.

A session-level advisory lock serialises concurrent runners (two deploys, or the local stack
and a test session on one database). The wait for it, and for any table lock a migration
needs, is bounded by ``lock_timeout``: a runner that cannot get in fails with
:class:`MigrationLocked` instead of hanging a deploy until CloudFormation gives up. Used by
``make local``, the test session, ``make migrate`` and the deploy-time MigrationFunction.

The advisory lock is per database, while roles and their settings (0002_roles.sql) are the
whole server's: two databases of one server migrating at once can collide on those shared
catalogs (a duplicate key, "tuple concurrently updated"). Such a migration rolled back as a
whole, so it is applied again, up to :data:`ATTEMPTS` times; the second try finds the other
runner's roles and skips them.
"""

from __future__ import annotations

import time
from importlib import resources

import psycopg
from psycopg.rows import scalar_row

# Arbitrary constant shared by every runner of this schema.
_LOCK_ID = 7_305_117_001
LOCK_WAIT_SECONDS = 60
ATTEMPTS = 3
# What a race with another database's migration on the server's shared catalogs looks like.
_RACES = (
    psycopg.errors.UniqueViolation,
    psycopg.errors.InternalError_,  # XX000 "tuple concurrently updated"
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
)


class MigrationLocked(Exception):
    """Another runner held the migration lock (or a table a migration needs) too long."""


def available() -> list[tuple[str, str]]:
    folder = resources.files("nexus.db") / "migrations"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text(encoding="utf-8")) for f in files]


def migrate(
    conn: psycopg.Connection[object], *, lock_wait_seconds: float = LOCK_WAIT_SECONDS
) -> list[str]:
    """Apply pending migrations; return the versions applied by this call."""
    applied: list[str] = []
    conn.autocommit = True
    # This connection is the migration's own (never an app connection behind RDS Proxy), so
    # a session setting is fine here.
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{lock_wait_seconds}s",))
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
    except psycopg.errors.LockNotAvailable as exc:
        raise MigrationLocked(
            f"another migration has held the schema lock for over {lock_wait_seconds:g} s;"
            " retry when it has finished"
        ) from exc
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        # scalar_row: whatever row factory the connection has (the app's is dict_row).
        versions = conn.cursor(row_factory=scalar_row).execute(
            "SELECT version FROM schema_migrations"
        )
        done = set(versions.fetchall())
        for version, sql in available():
            if version in done:
                continue
            _apply(conn, version, sql, lock_wait_seconds)
            applied.append(version)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied


def _apply(conn: psycopg.Connection[object], version: str, sql: str, lock_wait: float) -> None:
    """One migration and its schema_migrations row in one transaction, tried again when it
    lost a race on the server's shared catalogs (see the module's docstring)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with conn.transaction():
                conn.execute(sql.encode())
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            return
        except psycopg.errors.LockNotAvailable as exc:
            raise MigrationLocked(
                f"migration {version} waited over {lock_wait:g} s for a table lock"
                " (a long query or transaction holds it); nothing of it was applied"
            ) from exc
        except _RACES:
            if attempt == ATTEMPTS:
                raise
            time.sleep(0.1 * attempt)


def main() -> int:
    """``python -m nexus.db.migrate``: apply pending migrations to ``$DATABASE_URL``."""
    import os
    import sys

    url = os.environ.get("DATABASE_URL")
    if not url:
        print("error: set DATABASE_URL to the database to migrate", file=sys.stderr)
        return 2
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            applied = migrate(conn)
    except MigrationLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"applied: {', '.join(applied) or 'nothing pending'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
