"""SQL for products. Every query is scoped to the caller's organization and live rows, so
another tenant's (or a deleted) product is simply not found."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from nexus import db
from nexus.db import keyset, tenant
from nexus.pagination import Cursor
from nexus.products.models import ProductOut, StoreProductOut

COLUMNS = sql.SQL("id::text, name, description, price, currency, created_at, updated_at")
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
            row = db.fetch_one(ProductOut, query, params)
        except psycopg.errors.ForeignKeyViolation as exc:
            raise OrganizationGone(organization_id) from exc
        assert row is not None
        return row

    def page(self, *, organization_id: str, limit: int, after: Cursor | None) -> list[ProductOut]:
        return keyset.page(
            ProductOut,
            table="products",
            columns=COLUMNS,
            filters={"organization_id": organization_id},
            live_only=True,
            after=after,
            limit=limit,
        )

    def get(self, *, organization_id: str, product_id: str) -> ProductOut | None:
        query = sql.SQL(
            "SELECT {} FROM products WHERE id = %s AND organization_id = %s AND deleted_at IS NULL"
        ).format(COLUMNS)
        return db.fetch_one(ProductOut, query, (product_id, organization_id))

    def get_public(self, *, product_id: str) -> StoreProductOut | None:
        return db.fetch_one(
            StoreProductOut,
            "SELECT id::text, name, description, price, currency"
            " FROM products WHERE id = %s AND deleted_at IS NULL",
            (product_id,),
        )

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
            "UPDATE products SET {assignments}"
            " WHERE id = %(id)s AND organization_id = %(org)s AND deleted_at IS NULL"
            " RETURNING {columns}"
        ).format(assignments=sql.SQL(", ").join(assignments), columns=COLUMNS)
        params = {
            **{c: changes[c] for c in PATCHABLE if c in changes},
            "id": product_id,
            "org": organization_id,
        }
        return db.fetch_one(ProductOut, query, params)

    def soft_delete(self, *, organization_id: str, product_id: str) -> bool:
        return tenant.soft_delete("products", row_id=product_id, organization_id=organization_id)
