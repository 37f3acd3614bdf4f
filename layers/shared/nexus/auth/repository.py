"""SQL for users, organizations and login attempts. Only repositories touch psycopg."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from nexus.db import Conn


class EmailTaken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class UserRow:
    id: str
    organization_id: str
    email: str
    name: str | None
    password_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LoginState:
    user: UserRow | None
    recent_failures: int
    oldest_failure_at: datetime | None
    now: datetime


def _user(row: dict[str, Any]) -> UserRow:
    return UserRow(
        id=row["id"],
        organization_id=row["organization_id"],
        email=row["email"],
        name=row["name"],
        password_hash=row["password_hash"],
        created_at=row["created_at"],
    )


def create_user_with_organization(
    conn: Conn, *, email: str, name: str | None, password_hash: str
) -> UserRow:
    """Organization and user in one statement, so in one transaction."""
    try:
        row = conn.execute(
            """
            WITH org AS (
                INSERT INTO organizations (name) VALUES (%(org_name)s) RETURNING id
            )
            INSERT INTO users AS u (organization_id, email, name, password_hash)
            SELECT org.id, %(email)s, %(name)s, %(hash)s FROM org
            RETURNING u.id::text, u.organization_id::text, u.email, u.name, u.password_hash,
                      u.created_at
            """,
            {
                "org_name": (name or email)[:200],
                "email": email,
                "name": name,
                "hash": password_hash,
            },
        ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise EmailTaken(email) from exc
    assert row is not None
    return _user(row)


def login_state(conn: Conn, *, email_key: str, window_seconds: int) -> LoginState:
    """The user (if any) and the recent failures for this address, in one round trip."""
    row = conn.execute(
        """
        SELECT now() AS now, f.failures, f.oldest, u.id::text, u.organization_id::text,
               u.email, u.name, u.password_hash, u.created_at
        FROM (
            SELECT count(*) AS failures, min(attempted_at) AS oldest
            FROM login_attempts
            WHERE email_key = %(key)s
              AND attempted_at > now() - make_interval(secs => %(window)s)
        ) f
        LEFT JOIN users u ON lower(u.email) = %(key)s
        """,
        {"key": email_key, "window": window_seconds},
    ).fetchone()
    assert row is not None
    user = _user(row) if row["id"] is not None else None
    return LoginState(
        user=user,
        recent_failures=int(row["failures"]),
        oldest_failure_at=row["oldest"],
        now=row["now"],
    )


def record_login(conn: Conn, *, email_key: str, succeeded: bool) -> None:
    if succeeded:
        # A successful login clears the failure count for the address.
        conn.execute("DELETE FROM login_attempts WHERE email_key = %s", (email_key,))
        return
    conn.execute("INSERT INTO login_attempts (email_key) VALUES (%s)", (email_key,))


def get_user(conn: Conn, user_id: str) -> UserRow | None:
    row = conn.execute(
        "SELECT id::text, organization_id::text, email, name, password_hash, created_at"
        " FROM users WHERE id = %s",
        (user_id,),
    ).fetchone()
    return _user(row) if row else None
