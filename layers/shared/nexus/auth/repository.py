"""SQL for users, organizations and the login throttle. Only repositories touch psycopg."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import kwargs_row

from nexus import db
from nexus.auth.models import LoginState, Throttle, UserRow

USER_COLUMNS = sql.SQL(
    "u.id::text, u.organization_id::text, u.email, u.name, u.password_hash, u.created_at"
)


class EmailTaken(Exception):
    pass


def _login_state(
    *,
    now: datetime,
    account_attempts: int,
    account_since: datetime,
    client_attempts: int,
    client_since: datetime,
    **user: Any,
) -> LoginState:
    """The counters with the user, whose columns are all null for an unknown address."""
    return LoginState(
        user=UserRow(**user) if user["id"] is not None else None,
        account=Throttle(account_attempts, account_since),
        client=Throttle(client_attempts, client_since),
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

    def count_login(self, *, email_key: str, client_ip: str, window_seconds: int) -> LoginState:
        """Count this attempt for the address and for the client IP, and return both counts
        with the user (if any), in one statement: concurrent attempts on a key queue on its
        row lock, so each sees the count the one before it left (see migration 0003)."""
        query = sql.SQL(
            """
            WITH counted AS (
                INSERT INTO login_throttle AS t (key, window_start, attempts)
                VALUES (%(account)s, now(), 1), (%(client)s, now(), 1)
                ON CONFLICT (key) DO UPDATE SET
                    attempts = CASE WHEN t.window_start > now() - %(window)s
                                    THEN t.attempts + 1 ELSE 1 END,
                    window_start = CASE WHEN t.window_start > now() - %(window)s
                                        THEN t.window_start ELSE now() END
                RETURNING key, attempts, window_start
            )
            SELECT now() AS now,
                   a.attempts AS account_attempts, a.window_start AS account_since,
                   c.attempts AS client_attempts, c.window_start AS client_since,
                   {}
            FROM counted a
            JOIN counted c ON c.key = %(client)s
            LEFT JOIN users u ON lower(u.email) = %(email)s
            WHERE a.key = %(account)s
            """
        ).format(USER_COLUMNS)
        params = {
            "account": f"account:{email_key}",
            "client": f"ip:{client_ip}",
            "email": email_key,
            "window": timedelta(seconds=window_seconds),
        }
        state = db.fetch_one(kwargs_row(_login_state), query, params)
        assert state is not None
        return state

    def login_succeeded(self, *, email_key: str, client_ip: str) -> None:
        """A proven password clears the address's count and takes this attempt off the
        client's (the IP limit counts failures)."""
        db.execute(
            """
            WITH cleared AS (DELETE FROM login_throttle WHERE key = %(account)s)
            UPDATE login_throttle SET attempts = greatest(attempts - 1, 0) WHERE key = %(client)s
            """,
            {"account": f"account:{email_key}", "client": f"ip:{client_ip}"},
        )

    def get_user(self, user_id: str) -> UserRow | None:
        query = sql.SQL("SELECT {} FROM users u WHERE u.id = %s").format(USER_COLUMNS)
        return db.fetch_one(UserRow, query, (user_id,))
