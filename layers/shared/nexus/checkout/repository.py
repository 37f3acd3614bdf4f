"""SQL for orders and payment events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nexus.db import Conn, keyset
from nexus.pagination import Cursor

_ORDER_COLUMNS = "id::text, product_id::text, email, name, status, amount, currency, created_at"


@dataclass(frozen=True, slots=True)
class CheckoutOutcome:
    order: dict[str, Any] | None
    created: bool
    request_hash: str | None


def checkout(
    conn: Conn,
    *,
    product_id: str,
    email: str,
    name: str | None,
    idempotency_key: str | None,
    request_hash: str | None,
) -> CheckoutOutcome:
    """One statement: the amount is the product's price read inside it (never the client's).

    With an idempotency key already used, the existing order comes back instead (created is
    false). Only when that order was committed after this statement's snapshot does neither
    branch return a row: the caller then reads it with :func:`by_idempotency_key`.
    """
    row = conn.execute(
        """
        WITH new AS (
            INSERT INTO orders AS o (organization_id, product_id, product_name, email, name,
                                     amount, currency, idempotency_key, request_hash)
            SELECT p.organization_id, p.id, p.name, %(email)s, %(name)s, p.price, p.currency,
                   %(key)s, %(hash)s
            FROM products p
            WHERE p.id = %(product_id)s AND p.deleted_at IS NULL
            ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING o.id::text, o.product_id::text, o.email, o.name, o.status, o.amount,
                      o.currency, o.created_at, o.request_hash
        )
        SELECT true AS created, * FROM new
        UNION ALL
        SELECT false, o.id::text, o.product_id::text, o.email, o.name, o.status, o.amount,
               o.currency, o.created_at, o.request_hash
        FROM orders o
        WHERE %(key)s::text IS NOT NULL AND o.idempotency_key = %(key)s
          AND NOT EXISTS (SELECT 1 FROM new)
        """,
        {
            "product_id": product_id,
            "email": email,
            "name": name,
            "key": idempotency_key,
            "hash": request_hash,
        },
    ).fetchone()
    if row is None:
        return CheckoutOutcome(order=None, created=False, request_hash=None)
    created = bool(row.pop("created"))
    stored_hash = row.pop("request_hash")
    return CheckoutOutcome(order=row, created=created, request_hash=stored_hash)


def by_idempotency_key(conn: Conn, key: str) -> CheckoutOutcome:
    row = conn.execute(
        f"SELECT {_ORDER_COLUMNS}, request_hash FROM orders WHERE idempotency_key = %s",  # noqa: S608
        (key,),
    ).fetchone()
    if row is None:
        return CheckoutOutcome(order=None, created=False, request_hash=None)
    stored_hash = row.pop("request_hash")
    return CheckoutOutcome(order=row, created=False, request_hash=stored_hash)


def buyer_view(conn: Conn, order_id: str) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT id::text, status, amount, currency, product_id::text, product_name"
        " FROM orders WHERE id = %s",
        (order_id,),
    ).fetchone()


def seller_page(
    conn: Conn, *, organization_id: str, status: str | None, limit: int, after: Cursor | None
) -> list[dict[str, Any]]:
    filters = {"organization_id": organization_id}
    if status is not None:
        filters["status"] = status
    return keyset.page(
        conn,
        table="orders",
        columns=_ORDER_COLUMNS,
        filters=filters,
        live_only=False,
        after=after,
        limit=limit,
    )


def seller_get(conn: Conn, *, organization_id: str, order_id: str) -> dict[str, Any] | None:
    return conn.execute(
        f"SELECT {_ORDER_COLUMNS} FROM orders WHERE id = %s AND organization_id = %s",  # noqa: S608
        (order_id, organization_id),
    ).fetchone()


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    found: bool
    duplicate: bool
    status: str | None
    previous: str | None


def apply_payment_event(
    conn: Conn, *, event_id: str, order_id: str, new_status: str
) -> PaymentOutcome:
    """In one transaction: lock the order, record the event once, move pending → new status.

    The caller raises (rolling back) on an illegal transition, so a refused event is not
    recorded and a retry of it is refused again rather than silently accepted.
    """
    order = conn.execute(
        "SELECT status FROM orders WHERE id = %s FOR UPDATE", (order_id,)
    ).fetchone()
    if order is None:
        return PaymentOutcome(found=False, duplicate=False, status=None, previous=None)
    inserted = conn.execute(
        "INSERT INTO payment_events (event_id, order_id, type) VALUES (%s, %s, %s)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        (event_id, order_id, "payment.succeeded" if new_status == "paid" else "payment.failed"),
    ).fetchone()
    if inserted is None:
        return PaymentOutcome(
            found=True, duplicate=True, status=order["status"], previous=order["status"]
        )
    if order["status"] != "pending":
        return PaymentOutcome(found=True, duplicate=False, status=None, previous=order["status"])
    conn.execute(
        "UPDATE orders SET status = %s, updated_at = now() WHERE id = %s", (new_status, order_id)
    )
    return PaymentOutcome(found=True, duplicate=False, status=new_status, previous="pending")
