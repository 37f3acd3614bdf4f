"""SQL for orders: checkout, the buyer's and the seller's views, the seller's ledger."""

from __future__ import annotations

from datetime import date
from typing import Any

from psycopg import sql
from psycopg.rows import kwargs_row

from nexus import db
from nexus.checkout.models import BuyerOrderRow, FunnelDay, Order, StoredOrder, SummaryItem
from nexus.db import keyset
from nexus.pagination import Cursor

# Day bounds in UTC: [from 00:00, to + 1 day 00:00).
_SUMMARY = """
WITH bounds AS (
    SELECT (%(from)s::date)::timestamp AT TIME ZONE 'UTC' AS lo,
           (%(to)s::date + 1)::timestamp AT TIME ZONE 'UTC' AS hi
), paid AS (
    SELECT o.currency, count(*) AS paid_orders, sum(o.amount) AS gross, sum(o.fee) AS fees
    FROM orders o, bounds b
    WHERE o.organization_id = %(org)s AND o.paid_at >= b.lo AND o.paid_at < b.hi
    GROUP BY o.currency
), refunds AS (
    SELECT o.currency, sum(o.amount) AS refunded
    FROM orders o, bounds b
    WHERE o.organization_id = %(org)s AND o.refunded_at >= b.lo AND o.refunded_at < b.hi
    GROUP BY o.currency
)
SELECT currency::text,
       coalesce(p.paid_orders, 0)::int AS paid_orders,
       coalesce(p.gross, 0)::bigint AS gross,
       coalesce(r.refunded, 0)::bigint AS refunded,
       coalesce(p.fees, 0)::bigint AS fees,
       (coalesce(p.gross, 0) - coalesce(p.fees, 0) - coalesce(r.refunded, 0))::bigint AS net
FROM paid p FULL JOIN refunds r USING (currency)
ORDER BY currency
"""

# The funnel of one of the organization's live products, one row per UTC day from..to (zeros
# where nothing happened); no row at all when the product is not theirs. Each count is a
# range scan of its own index: store_views' primary key, orders (product_id, created_at) and
# (product_id, paid_at).
_FUNNEL = """
WITH product AS (
    SELECT id FROM products
    WHERE id = %(product)s AND organization_id = %(org)s AND deleted_at IS NULL
), bounds AS (
    SELECT (%(from)s::date)::timestamp AT TIME ZONE 'UTC' AS lo,
           (%(to)s::date + 1)::timestamp AT TIME ZONE 'UTC' AS hi
), views AS (
    SELECT v.day, count(*) AS n
    FROM store_views v JOIN product p ON v.product_id = p.id
    WHERE v.day BETWEEN %(from)s::date AND %(to)s::date
    GROUP BY v.day
), checkouts AS (
    SELECT (o.created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n
    FROM orders o JOIN product p ON o.product_id = p.id, bounds b
    WHERE o.created_at >= b.lo AND o.created_at < b.hi
    GROUP BY 1
), paid AS (
    SELECT (o.paid_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n
    FROM orders o JOIN product p ON o.product_id = p.id, bounds b
    WHERE o.paid_at >= b.lo AND o.paid_at < b.hi
    GROUP BY 1
)
SELECT d.day::date AS date,
       coalesce(v.n, 0)::int AS views,
       coalesce(c.n, 0)::int AS checkouts,
       coalesce(y.n, 0)::int AS paid
FROM product,
     generate_series(%(from)s::date, %(to)s::date, interval '1 day') AS d (day)
     LEFT JOIN views v ON v.day = d.day::date
     LEFT JOIN checkouts c ON c.day = d.day::date
     LEFT JOIN paid y ON y.day = d.day::date
ORDER BY d.day
"""

# The payment page only while there is something to pay.
COLUMNS = sql.SQL(
    "id::text, product_id::text, email, name, status, amount, currency, created_at,"
    " CASE WHEN status = 'pending' THEN checkout_url END AS checkout_url, expires_at"
)
_O_COLUMNS = sql.SQL(
    "o.id::text, o.product_id::text, o.email, o.name, o.status, o.amount, o.currency,"
    " o.created_at, CASE WHEN o.status = 'pending' THEN o.checkout_url END AS checkout_url,"
    " o.expires_at, o.request_hash, o.product_name"
)


def _stored(
    *, created: bool, request_hash: str | None, product_name: str, **order: Any
) -> StoredOrder:
    return StoredOrder(
        created=created, order=Order(**order), request_hash=request_hash, product_name=product_name
    )


class CheckoutRepository:
    def checkout(
        self,
        *,
        product_id: str,
        email: str,
        name: str | None,
        idempotency_key: str | None,
        request_hash: str | None,
        session_minutes: int,
    ) -> StoredOrder | None:
        """One statement: the amount is the product's price read inside it (never the
        client's). None when the product does not exist.

        With an idempotency key already used, the existing order comes back instead (created
        is false). Only when that order was committed after this statement's snapshot does
        neither branch return a row: the caller then reads it with :meth:`by_idempotency_key`.
        """
        query = sql.SQL(
            """
            WITH new AS (
                INSERT INTO orders AS o (organization_id, product_id, product_name, email, name,
                                         amount, currency, idempotency_key, request_hash,
                                         expires_at)
                SELECT p.organization_id, p.id, p.name, %(email)s, %(name)s, p.price,
                       p.currency, %(key)s, %(hash)s,
                       date_trunc('second', now()) + make_interval(mins => %(minutes)s)
                FROM products p
                WHERE p.id = %(product_id)s AND p.deleted_at IS NULL
                ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                RETURNING {columns}
            )
            SELECT true AS created, * FROM new
            """
        ).format(columns=_O_COLUMNS)
        if idempotency_key is not None:
            query += sql.SQL(
                """
                UNION ALL
                SELECT false, {columns} FROM orders o
                WHERE o.idempotency_key = %(key)s AND NOT EXISTS (SELECT 1 FROM new)
                """
            ).format(columns=_O_COLUMNS)
        params = {
            "product_id": product_id,
            "email": email,
            "name": name,
            "key": idempotency_key,
            "hash": request_hash,
            "minutes": session_minutes,
        }
        return db.fetch_one(kwargs_row(_stored), query, params)

    def by_idempotency_key(self, key: str) -> StoredOrder | None:
        query = sql.SQL(
            "SELECT false AS created, {} FROM orders o WHERE o.idempotency_key = %s"
        ).format(_O_COLUMNS)
        return db.fetch_one(kwargs_row(_stored), query, (key,))

    def buyer_view(self, order_id: str) -> BuyerOrderRow | None:
        return db.fetch_one(
            BuyerOrderRow,
            "SELECT o.id::text, o.status, o.amount, o.currency, o.product_id::text,"
            " o.product_name, p.file_key, p.file_name, p.upload_key, p.upload_name,"
            " p.upload_size"
            " FROM orders o JOIN products p ON p.id = o.product_id WHERE o.id = %s",
            (order_id,),
        )

    def seller_page(
        self, *, organization_id: str, status: str | None, limit: int, after: Cursor | None
    ) -> list[Order]:
        filters: dict[str, Any] = {"organization_id": organization_id}
        if status is not None:
            filters["status"] = status
        return keyset.page(
            Order,
            table="orders",
            columns=COLUMNS,
            filters=filters,
            live_only=False,
            after=after,
            limit=limit,
        )

    def order(self, order_id: str) -> Order | None:
        query = sql.SQL("SELECT {} FROM orders WHERE id = %s").format(COLUMNS)
        return db.fetch_one(Order, query, (order_id,))

    def seller_get(self, *, organization_id: str, order_id: str) -> Order | None:
        query = sql.SQL("SELECT {} FROM orders WHERE id = %s AND organization_id = %s").format(
            COLUMNS
        )
        return db.fetch_one(Order, query, (order_id, organization_id))

    def summary(self, *, organization_id: str, start: date, end: date) -> list[SummaryItem]:
        """The seller's ledger per currency for UTC days start..end: payments and their fees
        dated when paid, refunds when refunded."""
        return db.fetch_all(
            SummaryItem, _SUMMARY, {"org": organization_id, "from": start, "to": end}
        )

    def funnel(
        self, *, organization_id: str, product_id: str, start: date, end: date
    ) -> list[FunnelDay]:
        """Views, checkouts started and orders paid per UTC day start..end of the
        organization's product; empty when it is not the organization's (live) product."""
        params = {"org": organization_id, "product": product_id, "from": start, "to": end}
        return db.fetch_all(FunnelDay, _FUNNEL, params)
