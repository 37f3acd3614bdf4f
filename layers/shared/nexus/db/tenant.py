"""Statements shared by every tenant-scoped table (``organization_id``, ``deleted_at``)."""

from __future__ import annotations

from psycopg import sql

from nexus.db import execute


def soft_delete(table: str, *, row_id: str, organization_id: str) -> bool:
    """Mark one of the organization's live rows deleted; False when there was none (another
    tenant's row is simply not found). ``table`` is a constant of the calling repository."""
    query = sql.SQL(
        "UPDATE {} SET deleted_at = now(), updated_at = now()"
        " WHERE id = %s AND organization_id = %s AND deleted_at IS NULL"
    ).format(sql.Identifier(table))
    return execute(query, (row_id, organization_id)) == 1
