"""SQL for integrations, ingestion runs and the analytics reads (organization-scoped)."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg

from nexus.db import Conn


class AlreadyConnected(Exception):
    pass


_RUN = (
    "r.integration_id::text, r.date, r.status, r.content_total, r.content_failed,"
    " r.finished_at, r.error_code"
)
_INTEGRATION = (
    "i.id::text, i.provider, i.external_id, i.name, i.status, i.created_at,"
    " to_jsonb(lr) AS last_run"
)
# The newest run of each integration, in the same statement as the integration.
_LAST_RUN = (
    "LEFT JOIN LATERAL (SELECT r.integration_id::text, r.date, r.status, r.content_total,"
    " r.content_failed, r.finished_at, r.error_code FROM ingestion_runs r"
    " WHERE r.integration_id = i.id ORDER BY r.date DESC LIMIT 1) lr ON true"
)


def create(
    conn: Conn,
    *,
    integration_id: str,
    organization_id: str,
    provider: str,
    external_id: str,
    name: str,
    token_ciphertext: bytes,
) -> dict[str, Any]:
    try:
        row = conn.execute(
            "INSERT INTO integrations AS i (id, organization_id, provider, external_id, name,"
            " access_token_ciphertext) VALUES (%s, %s, %s, %s, %s, %s)"
            " RETURNING i.id::text, i.provider, i.external_id, i.name, i.status, i.created_at,"
            " NULL::jsonb AS last_run",
            (integration_id, organization_id, provider, external_id, name, token_ciphertext),
        ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise AlreadyConnected(external_id) from exc
    assert row is not None
    return row


def list_for(conn: Conn, organization_id: str) -> list[dict[str, Any]]:
    return conn.execute(
        f"SELECT {_INTEGRATION} FROM integrations i {_LAST_RUN}"  # noqa: S608 - constants
        " WHERE i.organization_id = %s AND i.deleted_at IS NULL ORDER BY i.created_at, i.id",
        (organization_id,),
    ).fetchall()


def get(conn: Conn, *, organization_id: str, integration_id: str) -> dict[str, Any] | None:
    return conn.execute(
        f"SELECT {_INTEGRATION} FROM integrations i {_LAST_RUN}"  # noqa: S608 - constants
        " WHERE i.id = %s AND i.organization_id = %s AND i.deleted_at IS NULL",
        (integration_id, organization_id),
    ).fetchone()


def update(
    conn: Conn,
    *,
    organization_id: str,
    integration_id: str,
    name: str | None,
    token_ciphertext: bytes | None,
    enabled: bool | None,
) -> dict[str, Any] | None:
    """A new token moves needs_reauth back to active; enabled toggles disabled/active."""
    return conn.execute(
        f"""
        WITH i AS (
            UPDATE integrations SET
                name = COALESCE(%(name)s::text, name),
                access_token_ciphertext = COALESCE(%(token)s::bytea, access_token_ciphertext),
                status = CASE
                    WHEN %(enabled)s::boolean IS FALSE THEN 'disabled'
                    WHEN %(enabled)s::boolean IS TRUE AND status = 'disabled' THEN 'active'
                    WHEN %(token)s::bytea IS NOT NULL AND status = 'needs_reauth' THEN 'active'
                    ELSE status END,
                updated_at = now()
            WHERE id = %(id)s AND organization_id = %(org)s AND deleted_at IS NULL
            RETURNING *
        )
        SELECT {_INTEGRATION} FROM i {_LAST_RUN}
        """,  # noqa: S608 - constants
        {
            "name": name,
            "token": token_ciphertext,
            "enabled": enabled,
            "id": integration_id,
            "org": organization_id,
        },
    ).fetchone()


def soft_delete(conn: Conn, *, organization_id: str, integration_id: str) -> bool:
    cur = conn.execute(
        "UPDATE integrations SET deleted_at = now(), updated_at = now()"
        " WHERE id = %s AND organization_id = %s AND deleted_at IS NULL",
        (integration_id, organization_id),
    )
    return cur.rowcount == 1


def metrics(
    conn: Conn,
    *,
    organization_id: str,
    integration_id: str | None,
    content_id: str | None,
    start: date,
    end: date,
) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT integration_id::text, content_id, date, impressions, reach, reactions,"
        " video_views, clicks, comments, shares FROM analytics_daily_metrics"
        " WHERE organization_id = %(org)s AND deleted_at IS NULL"
        "   AND date BETWEEN %(start)s AND %(end)s"
        "   AND (%(integration)s::uuid IS NULL OR integration_id = %(integration)s::uuid)"
        "   AND (%(content)s::text IS NULL OR content_id = %(content)s)"
        " ORDER BY date, integration_id, content_id",
        {
            "org": organization_id,
            "integration": integration_id,
            "content": content_id,
            "start": start,
            "end": end,
        },
    ).fetchall()


def runs(
    conn: Conn, *, organization_id: str, integration_id: str | None, start: date, end: date
) -> list[dict[str, Any]]:
    return conn.execute(
        f"SELECT {_RUN} FROM ingestion_runs r"  # noqa: S608 - constant column list
        " WHERE r.organization_id = %(org)s AND r.date BETWEEN %(start)s AND %(end)s"
        "   AND (%(integration)s::uuid IS NULL OR r.integration_id = %(integration)s::uuid)"
        " ORDER BY r.date, r.integration_id",
        {"org": organization_id, "integration": integration_id, "start": start, "end": end},
    ).fetchall()
