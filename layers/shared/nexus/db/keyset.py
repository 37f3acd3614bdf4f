"""Keyset pagination, newest first, over (created_at, id).

The query is composed with only the predicates in use (no ``%s IS NULL OR ...`` catch-alls)
so the planner walks the (organization_id, created_at DESC, id DESC) index and stops after
``limit + 1`` rows; the extra row tells whether another page exists.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from nexus.db import fetch_all
from nexus.db.where import Where
from nexus.pagination import Cursor


def page[R](
    row: type[R],
    *,
    table: str,
    columns: sql.Composable,
    filters: dict[str, Any],
    live_only: bool,
    after: Cursor | None,
    limit: int,
) -> list[R]:
    """``table`` and ``columns`` are constants of the calling repository; filter values are
    always parameters."""
    where = Where("deleted_at IS NULL" if live_only else "true", limit=limit + 1)
    where.predicates += [
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name)) for name in filters
    ]
    where.params.update(filters)
    if after is not None:
        where.also(
            "(created_at, id) < (%(after_t)s, %(after_i)s::uuid)",
            after_t=after.created_at,
            after_i=after.id,
        )
    query = sql.SQL(
        "SELECT {columns} FROM {table} WHERE {where}"
        " ORDER BY created_at DESC, id DESC LIMIT %(limit)s"
    ).format(columns=columns, table=sql.Identifier(table), where=where.clause())
    return fetch_all(row, query, where.params)
