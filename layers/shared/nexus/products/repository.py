"""SQL for products. Every query is scoped to the caller's organization and live rows, so
another tenant's (or a deleted) product is simply not found."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from nexus.db import Conn, keyset
from nexus.pagination import Cursor

_COLUMNS = "id::text, name, description, price, currency, created_at, updated_at"
# Columns PATCH may set; names come from this tuple, never from the request.
PATCHABLE = ("name", "description", "price", "currency")


def create(
    conn: Conn,
    *,
    organization_id: str,
    user_id: str,
    name: str,
    description: str | None,
    price: int,
    currency: str,
) -> dict[str, Any]:
    row = conn.execute(
        "INSERT INTO products (organization_id, created_by, name, description, price, currency)"  # noqa: S608 - constant columns
        " VALUES (%s, %s, %s, %s, %s, %s)"
        f" RETURNING {_COLUMNS}",
        (organization_id, user_id, name, description, price, currency),
    ).fetchone()
    assert row is not None
    return row


def page(
    conn: Conn, *, organization_id: str, limit: int, after: Cursor | None
) -> list[dict[str, Any]]:
    return keyset.page(
        conn,
        table="products",
        columns=_COLUMNS,
        filters={"organization_id": organization_id},
        live_only=True,
        after=after,
        limit=limit,
    )


def get(conn: Conn, *, organization_id: str, product_id: str) -> dict[str, Any] | None:
    return conn.execute(
        f"SELECT {_COLUMNS}"  # noqa: S608 - constant column list
        " FROM products WHERE id = %s AND organization_id = %s AND deleted_at IS NULL",
        (product_id, organization_id),
    ).fetchone()


def get_public(conn: Conn, *, product_id: str) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT id::text, name, description, price, currency"
        " FROM products WHERE id = %s AND deleted_at IS NULL",
        (product_id,),
    ).fetchone()


def update(
    conn: Conn, *, organization_id: str, product_id: str, changes: dict[str, Any]
) -> dict[str, Any] | None:
    assignments: list[sql.Composable] = [
        sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column))
        for column in PATCHABLE
        if column in changes
    ]
    assignments.append(sql.SQL("updated_at = now()"))
    query = sql.SQL(
        "UPDATE products SET {assignments}"
        " WHERE id = %(id)s AND organization_id = %(org)s AND deleted_at IS NULL"
        " RETURNING {columns}"
    ).format(assignments=sql.SQL(", ").join(assignments), columns=sql.SQL(_COLUMNS))
    params = {
        **{c: changes[c] for c in PATCHABLE if c in changes},
        "id": product_id,
        "org": organization_id,
    }
    return conn.execute(query, params).fetchone()


def soft_delete(conn: Conn, *, organization_id: str, product_id: str) -> bool:
    cur = conn.execute(
        "UPDATE products SET deleted_at = now(), updated_at = now()"
        " WHERE id = %s AND organization_id = %s AND deleted_at IS NULL",
        (product_id, organization_id),
    )
    return cur.rowcount == 1
