"""SQL for orders and payment events."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.rows import kwargs_row, scalar_row

from nexus import db, outbox
from nexus.checkout.models import (
    BuyerOrderRow,
    Order,
    OrderStatus,
    PaymentOutcome,
    StoredOrder,
)
from nexus.db import keyset
from nexus.pagination import Cursor

COLUMNS = sql.SQL("id::text, product_id::text, email, name, status, amount, currency, created_at")
_O_COLUMNS = sql.SQL(
    "o.id::text, o.product_id::text, o.email, o.name, o.status, o.amount, o.currency,"
    " o.created_at, o.request_hash"
)


# What the paid order's two emails need: the order, and the seller organization's users.
_PAID_MAIL = """
SELECT o.id::text AS order_id, o.email AS buyer_email, o.name AS buyer_name, o.product_name,
       o.amount, o.currency, u.email AS seller_email, u.name AS seller_name
FROM orders o LEFT JOIN users u ON u.organization_id = o.organization_id
WHERE o.id = %s
ORDER BY u.id
"""


def _paid_emails(conn: db.Conn, order_id: str) -> list[str]:
    """The order confirmation to the buyer and a new-sale note to each of the seller's
    users, written in the transaction that makes the order paid: the transition happens
    once (the order row is locked, pending → paid), so they are written once however often
    the event is delivered."""
    rows = conn.execute(_PAID_MAIL, (order_id,)).fetchall()
    first = rows[0]
    sale = {
        "order_id": first["order_id"],
        "product_name": first["product_name"],
        "amount": first["amount"],
        "currency": first["currency"],
    }
    ids = [
        outbox.add(
            conn,
            kind="order_confirmation",
            recipient=first["buyer_email"],
            payload={**sale, "name": first["buyer_name"]},
        )
    ]
    ids += [
        outbox.add(
            conn,
            kind="new_sale",
            recipient=row["seller_email"],
            payload={**sale, "buyer_email": first["buyer_email"], "name": row["seller_name"]},
        )
        for row in rows
        if row["seller_email"]
    ]
    return ids


class IllegalTransition(Exception):
    def __init__(self, previous: str) -> None:
        super().__init__(previous)
        self.previous = previous


def _stored(*, created: bool, request_hash: str | None, **order: Any) -> StoredOrder:
    return StoredOrder(created=created, order=Order(**order), request_hash=request_hash)


class CheckoutRepository:
    def checkout(
        self,
        *,
        product_id: str,
        email: str,
        name: str | None,
        idempotency_key: str | None,
        request_hash: str | None,
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
                                         amount, currency, idempotency_key, request_hash)
                SELECT p.organization_id, p.id, p.name, %(email)s, %(name)s, p.price,
                       p.currency, %(key)s, %(hash)s
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
            "SELECT id::text, status, amount, currency, product_id::text, product_name"
            " FROM orders WHERE id = %s",
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

    def seller_get(self, *, organization_id: str, order_id: str) -> Order | None:
        query = sql.SQL("SELECT {} FROM orders WHERE id = %s AND organization_id = %s").format(
            COLUMNS
        )
        return db.fetch_one(Order, query, (order_id, organization_id))

    def apply_payment_event(
        self, *, event_id: str, event_type: str, order_id: str, new_status: OrderStatus
    ) -> PaymentOutcome:
        """In one transaction: lock the order, record the event once, move pending → the
        new status, and on paid write the buyer's confirmation and the seller's note to the
        outbox (published after the commit). An illegal transition raises
        :class:`IllegalTransition` inside the transaction, so the refused event is not
        recorded and a retry of it is refused again rather than silently accepted."""

        mail: list[str] = []

        def work(conn: db.Conn) -> PaymentOutcome:
            mail.clear()  # db.run may run work again on a fresh connection
            scalar = conn.cursor(row_factory=scalar_row)
            current: OrderStatus | None = scalar.execute(
                "SELECT status FROM orders WHERE id = %s FOR UPDATE", (order_id,)
            ).fetchone()
            if current is None:
                return PaymentOutcome(found=False, duplicate=False, status=None, previous=None)
            inserted = scalar.execute(
                "INSERT INTO payment_events (event_id, order_id, type) VALUES (%s, %s, %s)"
                " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                (event_id, order_id, event_type),
            ).fetchone()
            if inserted is None:
                return PaymentOutcome(found=True, duplicate=True, status=current, previous=current)
            if current != "pending":
                raise IllegalTransition(current)
            conn.execute(
                "UPDATE orders SET status = %s, updated_at = now() WHERE id = %s",
                (new_status, order_id),
            )
            if new_status == "paid":
                mail.extend(_paid_emails(conn, order_id))
            return PaymentOutcome(
                found=True, duplicate=False, status=new_status, previous="pending"
            )

        outcome = db.run(work)
        # After the commit, best effort (never raises): the outbox sweep relays what it misses.
        outbox.publish(mail)
        return outcome
