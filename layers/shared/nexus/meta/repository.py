"""SQL of the connect flow: OAuth states (single use, user-bound, expiring) and connections
(what a callback found, tokens sealed), and connecting an account from a connection."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row, scalar_row
from psycopg.types.json import Jsonb

from nexus import db

# A connection is usable for an hour after its last use; MaintenanceFunction deletes it then.
CONNECTION_TTL = dt.timedelta(hours=1)


@dataclass(frozen=True)
class StoredConnection:
    id: str
    meta_user_id: str
    accounts: list[dict[str, Any]]
    tokens_ciphertext: bytes


@dataclass(frozen=True)
class Existing:
    id: str
    status: str


class ConnectRepository:
    def add_state(
        self, *, state_hash: bytes, organization_id: str, user_id: str, expires_at: dt.datetime
    ) -> None:
        db.execute(
            "INSERT INTO meta_oauth_states (state_hash, organization_id, user_id, expires_at)"
            " VALUES (%s, %s, %s, %s)",
            (state_hash, organization_id, user_id, expires_at),
        )

    def redeem_state(self, *, state_hash: bytes, user_id: str, organization_id: str) -> bool:
        """True once for a fresh state of this user: it is deleted as it is redeemed, so a
        second use finds nothing. Another user's state is left alone (not burnt)."""
        fresh = db.fetch_one(
            scalar_row,
            "DELETE FROM meta_oauth_states"
            " WHERE state_hash = %s AND user_id = %s AND organization_id = %s"
            " RETURNING expires_at > now()",
            (state_hash, user_id, organization_id),
        )
        return bool(fresh)

    def add_connection(
        self,
        *,
        connection_id: str,
        organization_id: str,
        user_id: str,
        meta_user_id: str,
        granted: list[str],
        accounts: list[dict[str, Any]],
        tokens_ciphertext: bytes,
    ) -> None:
        db.execute(
            "INSERT INTO meta_connections (id, organization_id, user_id, meta_user_id,"
            " granted_scopes, accounts, tokens_ciphertext) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                connection_id,
                organization_id,
                user_id,
                meta_user_id,
                granted,
                Jsonb(accounts),
                tokens_ciphertext,
            ),
        )

    def connected(self, organization_id: str) -> set[tuple[str, str]]:
        """(provider, external_id) of the organization's active integrations."""
        rows = db.fetch_all(
            dict_row,
            "SELECT provider, external_id FROM integrations"
            " WHERE organization_id = %s AND deleted_at IS NULL AND status = 'active'",
            (organization_id,),
        )
        return {(r["provider"], r["external_id"]) for r in rows}

    def use_connection(
        self, *, connection_id: str, organization_id: str
    ) -> StoredConnection | None:
        """The organization's connection, if used within the last hour; marks it used."""
        row = db.fetch_one(
            dict_row,
            "UPDATE meta_connections SET last_used_at = now()"
            " WHERE id = %s AND organization_id = %s AND last_used_at > now() - %s"
            " RETURNING id::text, meta_user_id, accounts, tokens_ciphertext",
            (connection_id, organization_id, CONNECTION_TTL),
        )
        return StoredConnection(**row) if row else None

    def existing(
        self, conn: db.Conn, *, organization_id: str, provider: str, external_id: str
    ) -> Existing | None:
        """The organization's live integration of that account, locked."""
        row = conn.execute(
            "SELECT id::text, status FROM integrations WHERE organization_id = %s"
            " AND provider = %s AND external_id = %s AND deleted_at IS NULL FOR UPDATE",
            (organization_id, provider, external_id),
        ).fetchone()
        return Existing(row["id"], row["status"]) if row else None

    def reconnect(
        self, conn: db.Conn, *, integration_id: str, token_ciphertext: bytes, meta_user_id: str
    ) -> None:
        conn.execute(
            "UPDATE integrations SET access_token_ciphertext = %s, meta_user_id = %s,"
            " token_source = 'connect', status = 'active', updated_at = now() WHERE id = %s",
            (token_ciphertext, meta_user_id, integration_id),
        )

    def insert(
        self,
        conn: db.Conn,
        *,
        integration_id: str,
        organization_id: str,
        provider: str,
        external_id: str,
        name: str,
        token_ciphertext: bytes,
        meta_user_id: str,
    ) -> bool:
        """False when a concurrent request connected the same account first."""
        try:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO integrations (id, organization_id, provider, external_id, name,"
                    " access_token_ciphertext, meta_user_id, token_source)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, 'connect')",
                    (
                        integration_id,
                        organization_id,
                        provider,
                        external_id,
                        name,
                        token_ciphertext,
                        meta_user_id,
                    ),
                )
        except psycopg.errors.UniqueViolation:
            return False
        return True

    def purge(self) -> tuple[int, int]:
        """MaintenanceFunction: connections unused for an hour, states past their expiry."""
        connections = db.execute(
            "DELETE FROM meta_connections WHERE last_used_at <= now() - %s", (CONNECTION_TTL,)
        )
        states = db.execute("DELETE FROM meta_oauth_states WHERE expires_at <= now()")
        return connections, states
