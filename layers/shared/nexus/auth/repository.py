"""SQL for users, organizations and the login throttle. Only repositories touch psycopg."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row, kwargs_row, scalar_row

# crypto: the outbox encrypts the link tokens this module hands it; imported up front so the
# function's cold start includes it and tests/toolchain/test_layers.py requires CryptoLayer.
from nexus import crypto, db, outbox  # noqa: F401
from nexus.auth import opaque
from nexus.auth.models import LoginState, Session, Throttle, UserRow
from nexus.db.where import Where

USER_COLUMNS = sql.SQL(
    "u.id::text, u.organization_id::text, u.email, u.name, u.password_hash, u.created_at,"
    " u.email_verified_at IS NOT NULL AS email_verified"
)
# Sessions and e-mail links live this long (a session's clock restarts with each refresh).
SESSION_TTL = timedelta(days=30)
LINK_TTL = {"verify_email": timedelta(days=2), "password_reset": timedelta(minutes=30)}


class EmailTaken(Exception):
    pass


# Spend a live single-use link token of %(purpose)s; yields its user_id.
_USE_TOKEN = sql.SQL(
    "UPDATE email_tokens SET used_at = now()"
    " WHERE token_hash = %(hash)s AND purpose = %(purpose)s AND used_at IS NULL"
    " AND expires_at > now() RETURNING user_id"
)
# One rate counter (login_throttle's window rule, see migration 0003): this use counted.
_COUNT_ONE = sql.SQL(
    """
    INSERT INTO login_throttle AS t (key, window_start, attempts) VALUES (%(key)s, now(), 1)
    ON CONFLICT (key) DO UPDATE SET
        attempts = CASE WHEN t.window_start > now() - %(window)s THEN t.attempts + 1 ELSE 1 END,
        window_start = CASE WHEN t.window_start > now() - %(window)s
                            THEN t.window_start ELSE now() END
    RETURNING attempts
    """
)


def _counter(key: str, window_seconds: int) -> dict[str, Any]:
    return {"key": key, "window": timedelta(seconds=window_seconds)}


def _end_sessions(user_id: str, keep_family: str | None) -> tuple[sql.Composed, dict[str, Any]]:
    """Revoke every live refresh token of the user, but those of ``keep_family``."""
    where = Where("user_id = %(user)s AND revoked_at IS NULL", user=user_id).also(
        "family_id <> %(keep)s::uuid", keep=keep_family
    )
    query = sql.SQL("UPDATE refresh_tokens SET revoked_at = now() WHERE {}").format(where.clause())
    return query, where.params


def _link_email(conn: db.Conn, user: UserRow, purpose: str, token: str) -> str:
    """Store a single-use link token (its digest) and write its e-mail to the outbox, in the
    caller's transaction; returns the outbox id."""
    conn.execute(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, expires_at)"
        " VALUES (%s, %s, %s, now() + %s)",
        (opaque.digest(token), user.id, purpose, LINK_TTL[purpose]),
    )
    return outbox.add(
        conn, kind=purpose, recipient=user.email, payload={"name": user.name}, secret=token
    )


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
        self, *, email: str, name: str | None, password_hash: str, verify_token: str
    ) -> tuple[UserRow, str]:
        """Organization, user, verification link and its e-mail (in the outbox) in one
        transaction; returns the user and the outbox id to publish."""
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

        def work(conn: db.Conn) -> tuple[UserRow, str]:
            try:
                row = conn.cursor(row_factory=class_row(UserRow)).execute(query, params).fetchone()
            except psycopg.errors.UniqueViolation as exc:
                raise EmailTaken(email) from exc
            assert row is not None
            return row, _link_email(conn, row, "verify_email", verify_token)

        return db.run(work)

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
        client's (the IP limit counts failures). Two statements, each locking one row: one
        statement with both would lock them in no fixed order, and deadlock against
        :meth:`count_login`, which locks the address's row first (seen under a burst)."""
        db.execute("DELETE FROM login_throttle WHERE key = %s", (f"account:{email_key}",))
        db.execute(
            "UPDATE login_throttle SET attempts = greatest(attempts - 1, 0) WHERE key = %s",
            (f"ip:{client_ip}",),
        )

    # -- sessions ------------------------------------------------------------------------
    def start_session(self, *, user_id: str, token_hash: bytes) -> str:
        """A new family with its first refresh token; returns the family (session) id."""
        family = db.fetch_one(
            scalar_row,
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)"
            " VALUES (%s, gen_random_uuid(), %s, now() + %s) RETURNING family_id::text",
            (token_hash, user_id, SESSION_TTL),
        )
        assert isinstance(family, str)
        return family

    def rotate(self, *, token_hash: bytes, next_hash: bytes) -> Session | None:
        """Spend a live refresh token and issue the next of its family, in one statement: of
        two refreshes with one token, one wins and the other finds it spent."""
        return db.fetch_one(
            Session,
            """
            WITH spent AS (
                UPDATE refresh_tokens SET spent_at = now()
                WHERE token_hash = %(old)s AND spent_at IS NULL AND revoked_at IS NULL
                  AND expires_at > now()
                RETURNING family_id, user_id
            ), issued AS (
                INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)
                SELECT %(new)s, family_id, user_id, now() + %(ttl)s FROM spent
                RETURNING family_id, user_id
            )
            SELECT u.id::text AS user_id, u.organization_id::text AS organization_id,
                   i.family_id::text AS family_id
            FROM issued i JOIN users u ON u.id = i.user_id
            """,
            {"old": token_hash, "new": next_hash, "ttl": SESSION_TTL},
        )

    def revoke_family_of_spent(self, *, token_hash: bytes) -> int:
        """A spent token presented again: revoke its whole family (RFC 9700 §4.14)."""
        return db.execute(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL"
            " AND family_id = (SELECT family_id FROM refresh_tokens"
            " WHERE token_hash = %s AND spent_at IS NOT NULL)",
            (token_hash,),
        )

    def end_session(self, *, token_hash: bytes) -> None:
        db.execute(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL"
            " AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = %s)",
            (token_hash,),
        )

    def end_sessions(self, *, user_id: str, keep_family: str | None = None) -> int:
        return db.execute(*_end_sessions(user_id, keep_family))

    # -- e-mail links and passwords ----------------------------------------------------------
    def send_link(
        self, *, email_key: str, purpose: str, token: str, limit: int, window_seconds: int
    ) -> str | None:
        """A link e-mail for the account with this address, unless there is none or it had
        ``limit`` such e-mails in the window (counted atomically, as logins are); returns the
        outbox id to publish, or None when nothing is sent."""

        def work(conn: db.Conn) -> str | None:
            user = (
                conn.cursor(row_factory=class_row(UserRow))
                .execute(
                    sql.SQL("SELECT {} FROM users u WHERE lower(u.email) = %s").format(
                        USER_COLUMNS
                    ),
                    (email_key,),
                )
                .fetchone()
            )
            if user is None:
                return None
            sent = conn.execute(_COUNT_ONE, _counter(f"mail:{purpose}:{user.id}", window_seconds))
            counted = sent.fetchone()
            if counted is None or counted["attempts"] > limit:
                return None
            return _link_email(conn, user, purpose, token)

        return db.run(work)

    def verify_email(self, *, token_hash: bytes) -> UserRow | None:
        return db.fetch_one(
            UserRow,
            sql.SQL(
                """
                WITH used AS ({used})
                UPDATE users u SET email_verified_at = coalesce(u.email_verified_at, now())
                FROM used WHERE u.id = used.user_id
                RETURNING u.id::text, u.organization_id::text, u.email, u.name, u.password_hash,
                          u.created_at, true AS email_verified
                """
            ).format(used=_USE_TOKEN),
            {"hash": token_hash, "purpose": "verify_email"},
        )

    def reset_password(self, *, token_hash: bytes, password_hash: str) -> str | None:
        """Spend a reset link: the new password, the address proven (so verified), every
        session ended and the login throttle for the address cleared, in one statement."""
        return db.fetch_one(
            scalar_row,
            sql.SQL(
                """
                WITH used AS ({used}),
                changed AS (
                    UPDATE users u SET password_hash = %(password)s, updated_at = now(),
                        email_verified_at = coalesce(u.email_verified_at, now())
                    FROM used WHERE u.id = used.user_id
                    RETURNING u.id, lower(u.email) AS email_key
                ),
                ended AS (
                    UPDATE refresh_tokens r SET revoked_at = now() FROM changed
                    WHERE r.user_id = changed.id AND r.revoked_at IS NULL
                ),
                unlocked AS (
                    DELETE FROM login_throttle t USING changed
                    WHERE t.key = 'account:' || changed.email_key
                )
                SELECT id::text FROM changed
                """
            ).format(used=_USE_TOKEN),
            {"hash": token_hash, "purpose": "password_reset", "password": password_hash},
        )

    def change_password(self, *, user_id: str, password_hash: str, keep_family: str | None) -> None:
        """The new password, and every other session ended, in one transaction."""

        def work(conn: db.Conn) -> None:
            conn.execute(
                "UPDATE users SET password_hash = %s, updated_at = now() WHERE id = %s",
                (password_hash, user_id),
            )
            conn.execute(*_end_sessions(user_id, keep_family))

        db.run(work)

    def get_user(self, user_id: str) -> UserRow | None:
        query = sql.SQL("SELECT {} FROM users u WHERE u.id = %s").format(USER_COLUMNS)
        return db.fetch_one(UserRow, query, (user_id,))
