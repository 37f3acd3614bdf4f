"""SQL for users, organizations and login attempts. Only repositories touch psycopg."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import kwargs_row

from nexus import db
from nexus.auth.models import LoginState, UserRow

USER_COLUMNS = sql.SQL(
    "u.id::text, u.organization_id::text, u.email, u.name, u.password_hash, u.created_at"
)


class EmailTaken(Exception):
    pass


def _login_state(
    *, now: datetime, failures: int, oldest: datetime | None, **user: Any
) -> LoginState:
    """The failure count with the user, whose columns are all null for an unknown address."""
    return LoginState(
        user=UserRow(**user) if user["id"] is not None else None,
        recent_failures=failures,
        oldest_failure_at=oldest,
        now=now,
    )


class AuthRepository:
    def create_user_with_organization(
        self, *, email: str, name: str | None, password_hash: str
    ) -> UserRow:
        """Organization and user in one statement, so in one transaction."""
        query = sql.SQL(
            """
            WITH org AS (
                INSERT INTO organizations (name) VALUES (%(org_name)s) RETURNING id
            )
            INSERT INTO users AS u (organization_id, email, name, password_hash)
            SELECT org.id, %(email)s, %(name)s, %(hash)s FROM org
            RETURNING {}
            """
        ).format(USER_COLUMNS)
        params = {
            "org_name": (name or email)[:200],
            "email": email,
            "name": name,
            "hash": password_hash,
        }
        try:
            row = db.fetch_one(UserRow, query, params)
        except psycopg.errors.UniqueViolation as exc:
            raise EmailTaken(email) from exc
        assert row is not None
        return row

    def login_state(self, *, email_key: str, window_seconds: int) -> LoginState:
        """The user (if any) and the recent failures for this address, in one round trip."""
        query = sql.SQL(
            """
            SELECT now() AS now, f.failures, f.oldest, {}
            FROM (
                SELECT count(*) AS failures, min(attempted_at) AS oldest
                FROM login_attempts
                WHERE email_key = %(key)s
                  AND attempted_at > now() - make_interval(secs => %(window)s)
            ) f
            LEFT JOIN users u ON lower(u.email) = %(key)s
            """
        ).format(USER_COLUMNS)
        params = {"key": email_key, "window": window_seconds}
        state = db.fetch_one(kwargs_row(_login_state), query, params)
        assert state is not None
        return state

    def record_login(self, *, email_key: str, succeeded: bool) -> None:
        if succeeded:
            # A successful login clears the failure count for the address.
            db.execute("DELETE FROM login_attempts WHERE email_key = %s", (email_key,))
            return
        db.execute("INSERT INTO login_attempts (email_key) VALUES (%s)", (email_key,))

    def get_user(self, user_id: str) -> UserRow | None:
        query = sql.SQL("SELECT {} FROM users u WHERE u.id = %s").format(USER_COLUMNS)
        return db.fetch_one(UserRow, query, (user_id,))
