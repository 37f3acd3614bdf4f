"""SQL for Meta's compliance callbacks: forgetting a Meta user's tokens, erasing everything
of theirs, and the data-deletion requests' status (contract §9).

A Meta user's data is every integration whose ``meta_user_id`` is theirs, live or soft
deleted, with what hangs off it (content, post metrics, account days, runs), and their
connect-flow connections. Each callback is one transaction (:func:`nexus.db.run`): an
error leaves nothing half done, and a repeat after a dropped connection is safe.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from psycopg import sql

from nexus import db


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What a deauthorize changed: live integrations now needs_reauth without a token (the
    user's deleted ones lose theirs too), and connections deleted."""

    integrations: int
    connections: int


@dataclass(frozen=True, slots=True)
class Erased:
    """Rows a data deletion removed, by table."""

    integrations: int
    content: int
    metrics: int
    account_days: int
    runs: int
    rollups: int
    connections: int


@dataclass(frozen=True, slots=True)
class Deletion:
    confirmation_code: str
    status: str
    requested_at: dt.datetime
    completed_at: dt.datetime | None


# Every integration of the user, deleted ones too: a forgotten token is forgotten everywhere,
# and a disabled one becomes needs_reauth as well (re-enabling it must not make an active
# integration without a token; only a new token revives needs_reauth). Counted: the live.
FORGET_TOKENS = """
WITH forgotten AS (
    UPDATE integrations SET status = 'needs_reauth', access_token_ciphertext = NULL,
        updated_at = now()
    WHERE meta_user_id = %(user)s
    RETURNING deleted_at
)
SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS live FROM forgotten
"""
DELETE_CONNECTIONS = "DELETE FROM meta_connections WHERE meta_user_id = %(user)s"

# Locked first: an ingest job storing a snapshot for one of them (its inserts take a key
# share lock on the integration) either finishes before the erase reads the children or
# waits for it, and then fails on the foreign key instead of leaving rows behind.
LOCK_INTEGRATIONS = """
SELECT id, organization_id FROM integrations WHERE meta_user_id = %(user)s
ORDER BY id FOR UPDATE
"""
# The children, by (organization, integration): the keys their indexes lead with.
_CHILDREN = {
    name: sql.SQL(
        "DELETE FROM {} WHERE organization_id = ANY(%(orgs)s::uuid[])"
        " AND integration_id = ANY(%(ids)s::uuid[])"
    ).format(sql.Identifier(table))
    for name, table in (
        ("metrics", "analytics_daily_metrics"),
        ("account_days", "analytics_account_daily"),
        ("content", "analytics_content"),
        ("runs", "ingestion_runs"),
        ("rollups", "analytics_rollup_daily"),
    )
}
# The erased ids stay known (migration 0010), so a job queued before the erase is skipped.
DELETE_INTEGRATIONS = """
WITH erased AS (
    DELETE FROM integrations WHERE id = ANY(%(ids)s::uuid[]) RETURNING id, organization_id
)
INSERT INTO erased_integrations (id, organization_id)
SELECT id, organization_id FROM erased
ON CONFLICT (id) DO NOTHING
"""
RECORD_REQUEST = """
INSERT INTO meta_data_deletions (confirmation_code, meta_user_id)
VALUES (%(code)s, %(user)s)
"""
# clock_timestamp(): requested_at is the transaction's start (now()), completed_at its end.
MARK_COMPLETE = """
UPDATE meta_data_deletions
SET status = 'complete', integrations = %(integrations)s, completed_at = clock_timestamp()
WHERE confirmation_code = %(code)s
"""


class ComplianceRepository:
    def forget(self, meta_user_id: str) -> Forgotten:
        """Deauthorize: the user's integrations need reauth and keep no token; their
        connections go."""

        def work(conn: db.Conn) -> Forgotten:
            params = {"user": meta_user_id}
            row = conn.execute(FORGET_TOKENS, params).fetchone()
            integrations = int(row["live"]) if row else 0
            connections = conn.execute(DELETE_CONNECTIONS, params).rowcount
            return Forgotten(integrations=integrations, connections=connections)

        return db.run(work)

    def erase(self, *, meta_user_id: str, confirmation_code: str) -> Erased:
        """Data deletion: the request is recorded, everything of the user's is deleted and
        the request marked complete with the number of integrations erased, in one
        transaction."""

        def work(conn: db.Conn) -> Erased:
            user = {"user": meta_user_id}
            conn.execute(RECORD_REQUEST, {**user, "code": confirmation_code})
            locked = conn.execute(LOCK_INTEGRATIONS, user).fetchall()
            keys = {
                "ids": [row["id"] for row in locked],
                "orgs": sorted({row["organization_id"] for row in locked}),
            }
            counts = dict.fromkeys(_CHILDREN, 0)
            integrations = 0
            if locked:  # a repeated request finds nothing left: no statement to run
                counts = {name: conn.execute(q, keys).rowcount for name, q in _CHILDREN.items()}
                integrations = conn.execute(DELETE_INTEGRATIONS, keys).rowcount
            connections = conn.execute(DELETE_CONNECTIONS, user).rowcount
            conn.execute(MARK_COMPLETE, {"code": confirmation_code, "integrations": integrations})
            return Erased(integrations=integrations, connections=connections, **counts)

        return db.run(work)

    def deletion(self, confirmation_code: str) -> Deletion | None:
        return db.fetch_one(
            Deletion,
            "SELECT confirmation_code, status, requested_at, completed_at"
            " FROM meta_data_deletions WHERE confirmation_code = %s",
            (confirmation_code,),
        )
