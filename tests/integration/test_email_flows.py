"""Emails caused by other domains, end to end in-process (PostgreSQL + moto SQS and SES): a
paid order mails the buyer and the seller once however often its event arrives, and an
integration that becomes needs_reauth mails a reconnect note once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nexus.outbox import relay
from nexus.settings import get_settings
from nexus_local.fake_graph import FakeGraph
from nexus_local.fake_stripe import FakeStripe
from tests.integration.test_checkout import checkout
from tests.support.api import Api
from tests.support.mail import SENDER, Mail
from tests.support.payments import post_event, session_id
from tests.support.queues import Queues, connect, fire_schedule


@pytest.fixture
def mail(queues: Queues, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mail]:
    """NotifyQueue and SES inside the queues fixture's moto."""
    m = Mail()
    for key, value in {
        "EMAIL_FROM": SENDER,
        "NOTIFY_QUEUE_URL": m.url,
        "WEB_BASE_URL": "http://127.0.0.1:8080",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield m


def sale_mail(mail: Mail) -> list[dict[str, Any]]:
    """What was sent, less the registration's verification emails (the auth domain's)."""
    return [m for m in mail.sent() if "Confirm your email" not in m["subject"]]


def test_a_paid_order_processed_three_times_mails_buyer_and_seller_once(
    api: Api, stripe: FakeStripe, mail: Mail, conn: Any, as_role: Any
) -> None:
    # Given a seller's product and a buyer's pending order
    seller = api.seller("seller@example.com")
    product = api.product(seller, name="Cake class", price=2999, currency="USD")
    order = checkout(api, product["id"]).json()
    # When Stripe delivers its paid event three times, and a late expiry event comes too
    session = stripe.pay(session_id(order))
    paid = stripe.events[-1]
    replies = [post_event(api, paid) for _ in range(3)]
    late = post_event(
        api, stripe.emit("checkout.session.expired", {**session, "status": "expired"})
    )
    assert [r.json()["outcome"] for r in replies] == ["applied", "duplicate", "duplicate"]
    assert (late.status, late.json()["outcome"]) == (200, "unchanged")
    # Then two outbox rows were written, both relayed after the commit
    rows = conn.execute(
        "SELECT kind, recipient, relayed_at IS NOT NULL FROM outbox WHERE kind <> 'verify_email'"
    ).fetchall()
    assert sorted(rows) == [
        ("new_sale", "seller@example.com", True),
        ("order_confirmation", "buyer@example.com", True),
    ]
    # When NotifyFunction drains the queue, and the sweep runs a long while later
    mail.deliver()
    conn.execute("UPDATE outbox SET relayed_at = now() - interval '1 day'")
    as_role("nexus_maintenance")
    assert relay.sweep().relayed == 0  # sent rows are never relayed again
    # Then exactly one confirmation to the buyer and one note to the seller went
    sent = sorted(sale_mail(mail), key=lambda m: m["to"])
    assert [(m["to"], m["subject"]) for m in sent] == [
        (["buyer@example.com"], "Your order: Cake class"),
        (["seller@example.com"], "New sale: Cake class"),
    ]
    assert f"http://127.0.0.1:8080/success?order={order['id']}" in sent[0]["body"]
    assert "29.99 USD" in sent[1]["body"] and "buyer@example.com" in sent[1]["body"]


def test_an_integration_that_needs_reauth_mails_one_reconnect_note(
    api: Api, mail: Mail, queues: Queues, graph: FakeGraph, conn: Any
) -> None:
    # Given a page whose token expired
    seller = api.seller("owner@example.com")
    graph.pages["222"].error = {"message": "expired", "type": "OAuthException", "code": 190}
    connect(api, seller, graph.pages["222"])
    # When its ingest job runs, and runs again (redelivered, and scheduled once more)
    fire_schedule()
    queues.deliver()
    conn.execute("UPDATE integrations SET updated_at = now()")
    fire_schedule()
    queues.deliver()
    # Then one reconnect email was written and sent, naming the page
    assert conn.execute("SELECT kind FROM outbox WHERE kind <> 'verify_email'").fetchall() == [
        ("reconnect",)
    ]
    mail.deliver()
    assert mail.deliver() == {"batchItemFailures": []}
    (sent,) = sale_mail(mail)
    assert sent["to"] == ["owner@example.com"]
    assert sent["subject"] == "Reconnect your Facebook Page 222 to Nexus Sales"
    assert "http://127.0.0.1:8080/dashboard/integrations" in sent["body"]
