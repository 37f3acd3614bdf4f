"""Versioned SQL migrations, applied in file-name order, each in its own transaction.

A session-level advisory lock serialises concurrent runners (two deploys, or the local stack
and a test session on one database). Used by ``make local``, the test session and (later)
the deploy-time migration function.
"""

from __future__ import annotations

from importlib import resources

import psycopg

# Arbitrary constant shared by every runner of this schema.
_LOCK_ID = 7_305_117_001


def available() -> list[tuple[str, str]]:
    folder = resources.files("nexus.db") / "migrations"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text(encoding="utf-8")) for f in files]


def migrate(conn: psycopg.Connection[object]) -> list[str]:
    """Apply pending migrations; return the versions applied by this call."""
    applied: list[str] = []
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {
            row[0]  # type: ignore[index]
            for row in conn.execute("SELECT version FROM schema_migrations").fetchall()
        }
        for version, sql in available():
            if version in done:
                continue
            with conn.transaction():
                conn.execute(sql.encode())
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            applied.append(version)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied


def main() -> int:
    """``python -m nexus.db.migrate``: apply pending migrations to ``$DATABASE_URL``."""
    import os
    import sys

    url = os.environ.get("DATABASE_URL")
    if not url:
        print("error: set DATABASE_URL to the database to migrate", file=sys.stderr)
        return 2
    with psycopg.connect(url, autocommit=True) as conn:
        applied = migrate(conn)
    print(f"applied: {', '.join(applied) or 'nothing pending'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
