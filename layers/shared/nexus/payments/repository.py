"""SQL for an order's payment: applying what Stripe says (webhook events, the expiry sweep,
checkout), the session a checkout made, refund requests and the expiry sweep's reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from psycopg.rows import dict_row

from nexus import db, outbox
from nexus.identity import parse_id
from nexus.payments.state import Change, OrderStatus, allowed

Outcome = Literal["applied", "duplicate", "unchanged", "not_found"]


@dataclass(frozen=True, slots=True)
class Applied:
    outcome: Outcome
    order_id: str | None
    status: OrderStatus | None


@dataclass(frozen=True, slots=True)
class Due:
    """A pending order past its expiry, for the sweep."""

    order_id: str
    session_id: str | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RefundTarget:
    order_id: str
    status: OrderStatus
    payment_intent: str | None
    amount: int


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
    Stripe reports it."""
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


_LOCK_BY_ID = "SELECT id::text, status, stripe_session_id FROM orders WHERE id = %s FOR UPDATE"
_LOCK_BY_INTENT = (
    "SELECT id::text, status, stripe_session_id FROM orders WHERE payment_intent = %s FOR UPDATE"
)
# Round half up: the fee is a whole number of the currency's smallest unit.
_PAY = """
UPDATE orders SET status = 'paid', updated_at = now(), paid_at = now(),
       payment_intent = %(intent)s, stripe_session_id = coalesce(stripe_session_id, %(session)s),
       fee = (amount * %(bps)s + 5000) / 10000
WHERE id = %(id)s
"""
_SET_STATUS = {
    "failed": "UPDATE orders SET status = 'failed', updated_at = now() WHERE id = %(id)s",
    "expired": "UPDATE orders SET status = 'expired', updated_at = now() WHERE id = %(id)s",
    "refunded": "UPDATE orders SET status = 'refunded', updated_at = now(), refunded_at = now()"
    " WHERE id = %(id)s",
}


class PaymentsRepository:
    def apply(
        self,
        change: Change,
        *,
        fee_bps: int,
        event_id: str | None = None,
        event_type: str | None = None,
    ) -> Applied:
        """In one transaction: lock the order, record the event once (when there is one),
        move the order if the state machine allows it (paid: store the payment intent and
        the fee, and write the order's emails to the outbox, published after the commit)."""
        order_id = parse_id(change.order_id) if change.order_id else None
        if order_id is None and change.payment_intent is None:
            return Applied("not_found", None, None)
        mail: list[str] = []

        def work(conn: db.Conn) -> Applied:
            mail.clear()  # db.run may run work again on a fresh connection
            cur = conn.cursor(row_factory=dict_row)
            if order_id is not None:
                row = cur.execute(_LOCK_BY_ID, (order_id,)).fetchone()
            else:
                row = cur.execute(_LOCK_BY_INTENT, (change.payment_intent,)).fetchone()
            if row is None:
                return Applied("not_found", None, None)
            found_id, current = row["id"], row["status"]
            if event_id is not None:
                inserted = cur.execute(
                    "INSERT INTO payment_events (event_id, order_id, type) VALUES (%s, %s, %s)"
                    " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                    (event_id, found_id, event_type),
                ).fetchone()
                if inserted is None:
                    return Applied("duplicate", found_id, current)
            ours = row["stripe_session_id"]
            foreign = ours is not None and change.session_id not in (None, ours)
            if foreign or change.target is None or not allowed(current, change.target):
                return Applied("unchanged", found_id, current)
            params = {
                "id": found_id,
                "intent": change.payment_intent,
                "session": change.session_id,
                "bps": fee_bps,
            }
            if change.target == "paid":
                cur.execute(_PAY, params)
                mail.extend(_paid_emails(conn, found_id))
            else:
                cur.execute(_SET_STATUS[change.target], params)
            return Applied("applied", found_id, change.target)

        applied = db.run(work)
        # After the commit, best effort (never raises): the outbox sweep relays what it misses.
        outbox.publish(mail)
        return applied

    def save_session(self, *, order_id: str, session_id: str, url: str) -> bool:
        """Record the Checkout Session a pending order's checkout made; false when the order
        is no longer pending (the sweep expired it meanwhile) or has another session."""
        return (
            db.execute(
                "UPDATE orders SET stripe_session_id = %s, checkout_url = %s, updated_at = now()"
                " WHERE id = %s AND status = 'pending'"
                " AND coalesce(stripe_session_id, %s) = %s",
                (session_id, url, order_id, session_id, session_id),
            )
            == 1
        )

    def due_for_expiry(
        self, *, grace_seconds: int, limit: int, after: Due | None = None
    ) -> list[Due]:
        """Pending orders whose expiry passed more than ``grace_seconds`` ago (Stripe's own
        expiry and its webhook get that long to come first), oldest first, after ``after``
        (so an order Stripe keeps pending, its payment still processing, is not read again
        in the same sweep)."""
        return db.fetch_all(
            Due,
            "SELECT id::text AS order_id, stripe_session_id AS session_id, expires_at"
            " FROM orders WHERE status = 'pending'"
            " AND expires_at < now() - make_interval(secs => %(grace)s)"
            " AND (%(at)s::timestamptz IS NULL OR (expires_at, id) > (%(at)s, %(id)s::uuid))"
            " ORDER BY expires_at, id LIMIT %(limit)s",
            {
                "grace": grace_seconds,
                "limit": limit,
                "at": after.expires_at if after else None,
                "id": after.order_id if after else None,
            },
        )

    def refund_target(self, *, organization_id: str, order_id: str) -> RefundTarget | None:
        return db.fetch_one(
            RefundTarget,
            "SELECT id::text AS order_id, status, payment_intent, amount FROM orders"
            " WHERE id = %s AND organization_id = %s",
            (order_id, organization_id),
        )

    def refund_requested(self, order_id: str) -> None:
        db.execute(
            "UPDATE orders SET refund_requested_at = coalesce(refund_requested_at, now()),"
            " updated_at = now() WHERE id = %s",
            (order_id,),
        )
