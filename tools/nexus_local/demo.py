"""``make local ARGS=--seed-demo``: a demo seller in a known state, with fixed ids.

The ids never change, so the SAM CLI events in ``events/`` can name them: they act as this
seller (the authorizer context), on these products, this order and these integrations.
Every ``--seed-demo`` start puts the demo back as listed here (a deleted product or
integration returns, the order is pending again, the password and page tokens are re-sealed
with the current secrets); what else the demo seller created is left alone.

The rows are written directly, since the API chooses ids itself; passwords and page tokens
go through the layer's own hashing and encryption.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

log = logging.getLogger("nexus_local")

DEMO_EMAIL = "demo@nexus.local"
DEMO_PASSWORD = "nexus demo seller"  # noqa: S105 - printed in the banner on purpose
ORGANIZATION_ID = "de300000-0000-4000-8000-000000000000"
USER_ID = "de300000-0000-4000-8000-000000000001"


@dataclass(frozen=True)
class DemoProduct:
    id: str
    name: str
    description: str
    price: int
    currency: str


@dataclass(frozen=True)
class DemoIntegration:
    id: str
    external_id: str
    name: str
    token: str
    status: str


PRODUCTS = (
    DemoProduct(
        "de300000-0000-4000-8001-000000000001",
        "Sourdough course",
        "Six video lessons",
        4900,
        "USD",
    ),
    DemoProduct(
        "de300000-0000-4000-8001-000000000002", "Studio presets", "Forty presets", 1500, "EUR"
    ),
    # events/products_delete.json deletes this one
    DemoProduct(
        "de300000-0000-4000-8001-000000000003", "Retired workshop", "No longer sold", 900, "USD"
    ),
)
# A pending order for the first product: events/webhook_stripe.json pays it.
ORDER_ID = "de300000-0000-4000-8002-000000000001"
BUYER_EMAIL = "buyer@example.com"
INTEGRATIONS = (
    DemoIntegration(
        "de300000-0000-4000-8003-000000000001", "1010", "Demo Bakery", "demo-token-bakery", "active"
    ),
    # dead-letters until reconnected (events/integrations_update.json renews its token)
    DemoIntegration(
        "de300000-0000-4000-8003-000000000003",
        "3030",
        "Demo Gallery",
        "demo-token-expired",
        "active",
    ),
    # not scheduled; events/integrations_delete.json deletes it
    DemoIntegration(
        "de300000-0000-4000-8003-000000000009", "9090", "Demo Archive", "demo-token-old", "disabled"
    ),
)
# Page 2020 (demo-token-studio) is left for events/integrations_create.json to connect.


def seed(database_url: str) -> None:
    """Create the demo seller, or put it back in its known state."""
    from nexus import crypto
    from nexus.auth.passwords import hash_password

    password_hash = hash_password(DEMO_PASSWORD)
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        _account(conn, password_hash)
        for p in PRODUCTS:
            conn.execute(
                "INSERT INTO products (id, organization_id, created_by, name, description,"
                " price, currency) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,"
                " description = EXCLUDED.description, price = EXCLUDED.price,"
                " currency = EXCLUDED.currency, deleted_at = NULL, updated_at = now()",
                (p.id, ORGANIZATION_ID, USER_ID, p.name, p.description, p.price, p.currency),
            )
        first = PRODUCTS[0]
        conn.execute("DELETE FROM payment_events WHERE order_id = %s", (ORDER_ID,))
        # Pending with no Checkout Session yet, open for a day (the expiry sweep leaves it).
        conn.execute(
            "INSERT INTO orders (id, organization_id, product_id, product_name, email, status,"
            " amount, currency, expires_at)"
            " VALUES (%s, %s, %s, %s, %s, 'pending', %s, %s, now() + interval '24 hours')"
            " ON CONFLICT (id) DO UPDATE SET status = 'pending', updated_at = now(),"
            " expires_at = EXCLUDED.expires_at, stripe_session_id = NULL, checkout_url = NULL,"
            " payment_intent = NULL, fee = NULL, paid_at = NULL, refund_requested_at = NULL,"
            " refunded_at = NULL",
            (
                ORDER_ID,
                ORGANIZATION_ID,
                first.id,
                first.name,
                BUYER_EMAIL,
                first.price,
                first.currency,
            ),
        )
        for i in INTEGRATIONS:
            # A page the demo seller connected again by hand would block the restore.
            conn.execute(
                "UPDATE integrations SET deleted_at = now() WHERE organization_id = %s"
                " AND provider = 'facebook' AND external_id = %s AND id <> %s"
                " AND deleted_at IS NULL",
                (ORGANIZATION_ID, i.external_id, i.id),
            )
            conn.execute(
                "INSERT INTO integrations (id, organization_id, provider, external_id, name,"
                " access_token_ciphertext, status) VALUES (%s, %s, 'facebook', %s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,"
                " access_token_ciphertext = EXCLUDED.access_token_ciphertext,"
                " status = EXCLUDED.status, deleted_at = NULL, updated_at = now()",
                (
                    i.id,
                    ORGANIZATION_ID,
                    i.external_id,
                    i.name,
                    crypto.encrypt(i.token, i.id),
                    i.status,
                ),
            )
    log.info("demo seller ready (organization %s)", ORGANIZATION_ID)


def _account(conn: psycopg.Connection[tuple[object, ...]], password_hash: str) -> None:
    # An earlier demo seller (random ids, before they were fixed) keeps its data under
    # another address.
    moved = conn.execute(
        "UPDATE users SET email = 'demo+' || left(id::text, 8) || '@nexus.local'"
        " WHERE lower(email) = %s AND id <> %s RETURNING email",
        (DEMO_EMAIL, USER_ID),
    ).fetchone()
    if moved:
        log.info("an earlier demo seller is now %s", moved[0])
    conn.execute(
        "INSERT INTO organizations (id, name) VALUES (%s, 'Demo Seller')"
        " ON CONFLICT (id) DO NOTHING",
        (ORGANIZATION_ID,),
    )
    conn.execute(
        "INSERT INTO users (id, organization_id, email, name, password_hash)"
        " VALUES (%s, %s, %s, 'Demo Seller', %s)"
        " ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email,"
        " password_hash = EXCLUDED.password_hash, updated_at = now()",
        (USER_ID, ORGANIZATION_ID, DEMO_EMAIL, password_hash),
    )
    conn.execute("DELETE FROM login_throttle WHERE key = %s", (f"account:{DEMO_EMAIL}",))
