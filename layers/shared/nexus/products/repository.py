"""SQL for products. Every query is scoped to the caller's organization and live rows, so
another tenant's (or a deleted) product is simply not found."""

from __future__ import annotations

from datetime import date
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from nexus import db
from nexus.db import keyset, tenant
from nexus.pagination import Cursor
from nexus.products.models import ProductOut, ProductRecord, StoreProductOut

# What a ProductRecord reads: the answer's columns, the delivered file and a pending upload.
COLUMNS = sql.SQL(
    "id::text, name, description, price, currency, created_at, updated_at,"
    " file_name, file_size, upload_key, upload_size, upload_started_at"
)
_LIVE = sql.SQL("id = %(id)s AND organization_id = %(org)s AND deleted_at IS NULL")
_PUBLIC: LiteralString = (
    "SELECT id::text, name, description, price, currency"
    " FROM products WHERE id = %(id)s AND deleted_at IS NULL"
)
# The store view and its count in one statement: the view is inserted only when the product
# is found (a 404 is not a view); a repeat visitor that day conflicts and writes nothing.
_COUNTED: LiteralString = """
WITH product AS (
    SELECT id, name, description, price, currency
    FROM products WHERE id = %(id)s AND deleted_at IS NULL
), counted AS (
    INSERT INTO store_views (product_id, day, visitor)
    SELECT id, %(day)s, %(visitor)s FROM product
    ON CONFLICT DO NOTHING
)
SELECT id::text, name, description, price, currency FROM product
"""
# Columns PATCH may set; names come from this tuple, never from the request.
PATCHABLE = ("name", "description", "price", "currency")


class OrganizationGone(Exception):
    """The caller's organization no longer exists (its token outlived it)."""


class ProductRepository:
    def create(
        self,
        *,
        organization_id: str,
        user_id: str,
        name: str,
        description: str | None,
        price: int,
        currency: str,
    ) -> ProductOut:
        query = sql.SQL(
            "INSERT INTO products (organization_id, created_by, name, description, price,"
            " currency) VALUES (%s, %s, %s, %s, %s, %s) RETURNING {}"
        ).format(COLUMNS)
        params = (organization_id, user_id, name, description, price, currency)
        try:
            row = db.fetch_one(ProductRecord, query, params)
        except psycopg.errors.ForeignKeyViolation as exc:
            raise OrganizationGone(organization_id) from exc
        assert row is not None
        return row.out()

    def page(self, *, organization_id: str, limit: int, after: Cursor | None) -> list[ProductOut]:
        rows = keyset.page(
            ProductRecord,
            table="products",
            columns=COLUMNS,
            filters={"organization_id": organization_id},
            live_only=True,
            after=after,
            limit=limit,
        )
        return [row.out() for row in rows]

    def get(self, *, organization_id: str, product_id: str) -> ProductOut | None:
        query = sql.SQL("SELECT {} FROM products WHERE {}").format(COLUMNS, _LIVE)
        return _out(db.fetch_one(ProductRecord, query, {"id": product_id, "org": organization_id}))

    def get_public(self, *, product_id: str) -> StoreProductOut | None:
        return db.fetch_one(StoreProductOut, _PUBLIC, {"id": product_id})

    def get_public_counted(
        self, *, product_id: str, day: date, visitor: bytes
    ) -> tuple[StoreProductOut | None, str | None]:
        """The store view, and this view counted for the funnel in the same statement (one
        round trip; none when the product is not found). When counting fails (a grant, a
        lock or statement timeout, ...) the product is read again without it, on the same
        connection: the second element then names the error. A connection that broke is
        :func:`nexus.db.run`'s to retry."""
        params = {"id": product_id, "day": day, "visitor": visitor}

        def work(conn: db.Conn) -> tuple[StoreProductOut | None, str | None]:
            rows = conn.cursor(row_factory=class_row(StoreProductOut))
            try:
                return rows.execute(_COUNTED, params).fetchone(), None
            except psycopg.Error as exc:
                if conn.broken or conn.closed:
                    raise
                failure = f"{type(exc).__name__} ({exc.sqlstate})"
            return rows.execute(_PUBLIC, params).fetchone(), failure

        return db.single(work)

    def update(
        self, *, organization_id: str, product_id: str, changes: dict[str, Any]
    ) -> ProductOut | None:
        assignments: list[sql.Composable] = [
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column))
            for column in PATCHABLE
            if column in changes
        ]
        assignments.append(sql.SQL("updated_at = now()"))
        query = sql.SQL(
            "UPDATE products SET {assignments} WHERE {live} RETURNING {columns}"
        ).format(assignments=sql.SQL(", ").join(assignments), live=_LIVE, columns=COLUMNS)
        params = {
            **{c: changes[c] for c in PATCHABLE if c in changes},
            "id": product_id,
            "org": organization_id,
        }
        return _out(db.fetch_one(ProductRecord, query, params))

    def soft_delete(self, *, organization_id: str, product_id: str) -> bool:
        return tenant.soft_delete("products", row_id=product_id, organization_id=organization_id)

    # -- the product's file ------------------------------------------------------------------
    def start_upload(
        self,
        *,
        organization_id: str,
        product_id: str,
        key: str,
        filename: str,
        size: int,
        content_type: str,
    ) -> bool:
        """Record the upload handed out (replacing any earlier pending one); the delivered
        file stays until the new object is seen. False when the product is not the
        organization's live product."""
        query = sql.SQL(
            "UPDATE products SET upload_key = %(key)s, upload_name = %(name)s,"
            " upload_size = %(size)s, upload_content_type = %(type)s, upload_started_at = now()"
            " WHERE {}"
        ).format(_LIVE)
        params = {
            "key": key,
            "name": filename,
            "size": size,
            "type": content_type,
            "id": product_id,
            "org": organization_id,
        }
        return db.execute(query, params) == 1

    def promote_upload(
        self, *, organization_id: str, product_id: str, key: str
    ) -> ProductOut | None:
        """The pending upload ``key`` becomes the product's file; None when that upload is
        no longer the pending one (promoted by another read, or replaced)."""
        query = sql.SQL(
            "UPDATE products SET file_key = upload_key, file_name = upload_name,"
            " file_size = upload_size, file_content_type = upload_content_type,"
            " upload_key = NULL, upload_name = NULL, upload_size = NULL,"
            " upload_content_type = NULL, upload_started_at = NULL, updated_at = now()"
            " WHERE {} AND upload_key = %(key)s RETURNING {}"
        ).format(_LIVE, COLUMNS)
        params = {"key": key, "id": product_id, "org": organization_id}
        return _out(db.fetch_one(ProductRecord, query, params))

    def forget_upload(self, *, organization_id: str, product_id: str, key: str) -> bool:
        """Drop the pending upload ``key`` (it never arrived); False when it is not pending."""
        query = sql.SQL(
            "UPDATE products SET upload_key = NULL, upload_name = NULL, upload_size = NULL,"
            " upload_content_type = NULL, upload_started_at = NULL"
            " WHERE {} AND upload_key = %(key)s"
        ).format(_LIVE)
        params = {"key": key, "id": product_id, "org": organization_id}
        return db.execute(query, params) == 1


def _out(row: ProductRecord | None) -> ProductOut | None:
    return row.out() if row is not None else None
