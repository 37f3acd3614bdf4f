"""Keyset pagination, newest first, over (created_at, id).

The query is composed with only the predicates in use (no ``%s IS NULL OR ...`` catch-alls)
so the planner walks the (organization_id, created_at DESC, id DESC) index and stops after
``limit + 1`` rows; the extra row tells whether another page exists.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from nexus.db import fetch_all
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
    where: list[sql.Composable] = [
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name)) for name in filters
    ]
    params: dict[str, Any] = dict(filters)
    if live_only:
        where.append(sql.SQL("deleted_at IS NULL"))
    if after is not None:
        where.append(sql.SQL("(created_at, id) < (%(after_t)s, %(after_i)s::uuid)"))
        params.update(after_t=after.created_at, after_i=after.id)
    params["limit"] = limit + 1
    query = sql.SQL(
        "SELECT {columns} FROM {table} WHERE {where}"
        " ORDER BY created_at DESC, id DESC LIMIT %(limit)s"
    ).format(columns=columns, table=sql.Identifier(table), where=sql.SQL(" AND ").join(where))
    return fetch_all(row, query, params)
