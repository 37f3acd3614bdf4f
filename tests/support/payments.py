"""Paying through the sandbox Stripe in the in-process tests: the sandbox records events
(it has no endpoint to send them to here); these post them to the API, signed as Stripe
signs them."""

from __future__ import annotations

import json
from typing import Any

from nexus_local.fake_stripe import FakeStripe, stripe_signature
from tests.support.api import TEST_SECRETS, Api, Reply

WEBHOOK_SECRET = TEST_SECRETS["STRIPE_WEBHOOK_SECRET"]


def post_event(
    api: Api,
    event: dict[str, Any],
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    header: str | None = None,
) -> Reply:
    """Deliver one event as Stripe does: pretty-printed JSON, ``Stripe-Signature``."""
    body = json.dumps(event, indent=2).encode()
    signature = header if header is not None else stripe_signature(secret, body, timestamp)
    return api.post(
        "/webhooks/stripe",
        body=body,
        headers={"Stripe-Signature": signature, "content-type": "application/json; charset=utf-8"},
    )


def deliver_new(api: Api, stripe: FakeStripe, seen: set[str] | None = None) -> list[Reply]:
    """Post every event the sandbox has recorded and ``seen`` lacks, oldest first."""
    done = seen if seen is not None else set()
    replies = []
    for event in stripe.events:
        if event["id"] not in done:
            done.add(event["id"])
            replies.append(post_event(api, event))
    return replies


def session_id(order: dict[str, Any]) -> str:
    """The Checkout Session behind an order's checkout_url (the sandbox's /pay/{id})."""
    url = order["checkout_url"]
    assert isinstance(url, str) and "/pay/" in url, url
    return url.rsplit("/pay/", 1)[1].split("?", 1)[0]


def pay(api: Api, stripe: FakeStripe, order: dict[str, Any]) -> list[Reply]:
    """The buyer presses Pay on the sandbox page; Stripe's events reach the API."""
    stripe.pay(session_id(order))
    return deliver_new(api, stripe, {e["id"] for e in stripe.events[:-1]})
