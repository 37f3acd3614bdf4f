"""Walk-through: from registration to a paid order.

A seller registers (or logs in, on a second run), lists a product and looks at its public
store page; a buyer checks out twice with one Idempotency-Key (one order); the payment
provider's signed webhook marks it paid; the seller sees it among the paid orders.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from nexus_local.invoke import stack_secrets
from walkthroughs.client import Api, WalkthroughFailed, show


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """``X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def run(api: Api) -> None:
    api.sign_in()
    me = api.expect("who am I", "GET", "/auth/me").body
    show("   seller", value=me)

    product = api.expect(
        "list a product (price in integer cents)",
        "POST",
        "/products",
        {"name": "Field guide", "price": 2500, "currency": "EUR"},
        ok=(201,),
    ).body
    show("   product", value=product)
    store = api.expect(
        "its public store page", "GET", f"/store/products/{product['id']}", auth=False
    ).body
    show("   store page", value=store)

    # One key per product, so that a second run (a new product) is a new cart.
    cart = {"Idempotency-Key": f"walkthrough-{product['id']}"}
    buy = {"product_id": product["id"], "email": "buyer@example.com"}
    order = api.expect(
        "a buyer checks out", "POST", "/checkout", buy, headers=cart, ok=(201,), auth=False
    ).body
    show("   order", value=order)
    again = api.expect(
        "the same Idempotency-Key and body again: the same order",
        "POST",
        "/checkout",
        buy,
        headers=cart,
        ok=(200,),
        auth=False,
    ).body
    if again["id"] != order["id"]:
        raise WalkthroughFailed(f"a replay made another order: {again['id']} != {order['id']}")
    api.expect("the buyer's view", "GET", f"/checkout/orders/{order['id']}", auth=False)

    secret = stack_secrets().get("PAYMENT_WEBHOOK_SECRET")
    if not secret:
        raise WalkthroughFailed("no PAYMENT_WEBHOOK_SECRET (environment or .local/secrets.json)")
    event = {"event_id": f"evt_{order['id']}", "type": "payment.succeeded", "order_id": order["id"]}
    body = json.dumps(event).encode()
    print(f"   signing the webhook body with PAYMENT_WEBHOOK_SECRET: {body.decode()}")
    api.expect(
        "the payment provider confirms (signed webhook)",
        "POST",
        "/webhooks/payments",
        raw=body,
        headers={"X-Signature": signature(secret, body)},
        auth=False,
    )
    paid = api.expect(
        "the buyer's view again", "GET", f"/checkout/orders/{order['id']}", auth=False
    )
    if paid.body["status"] != "paid":
        raise WalkthroughFailed(f"the order is {paid.body['status']}, not paid")
    show("   order", value=paid.body)

    orders = api.expect("the seller's paid orders", "GET", "/orders?status=paid").body
    if order["id"] not in [o["id"] for o in orders["items"]]:
        raise WalkthroughFailed("the paid order is not among the seller's paid orders")
    print(f"   {len(orders['items'])} paid order(s), this one among them")
    print(f"done: order {order['id']} is paid")
