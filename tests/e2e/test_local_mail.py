"""Through the local stack: an email written to the outbox is relayed to NotifyQueue, sent by
NotifyFunction through the local SES (the sender verified at start-up) and listed at
``GET :4566/_aws/ses`` as LocalStack lists it, both parts kept."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from walkthroughs import browser

from nexus_local.stripe_cli import Sandbox, sandbox_url
from tests.support.api import TEST_SECRETS
from tests.support.stack import Stack, free_port, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    s = start_stack(tmp_path, free_port(), {"DATABASE_URL": database_url, **TEST_SECRETS})
    yield s
    assert s.stop() == 0


def _listing(stack: Stack, query: str = "") -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{stack.env['SQS_PORT']}/_aws/ses{query}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        found: list[dict[str, Any]] = json.loads(resp.read())["messages"]
    return found


def _wait_for(stack: Stack, address: str, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mine = [m for m in _listing(stack) if address in m["Destination"]["ToAddresses"]]
        if mine:
            return mine
        time.sleep(0.3)
    raise AssertionError(f"no email to {address} within {timeout} s")


def _completed_event(sandbox: Sandbox) -> str:
    """The id of the sandbox's checkout.session.completed event, once delivered (200)."""
    (event,) = [e for e in sandbox.events()["data"] if e["type"] == "checkout.session.completed"]
    attempt = sandbox.wait_delivered(event["id"])
    assert attempt is not None and attempt["status"] == 200, attempt
    return str(event["id"])


def test_a_paid_order_shows_in_the_local_mail_listing(stack: Stack) -> None:
    # Given a seller's product, bought and paid through the local stack's HTTP API
    status, _, answer = stack.call(
        "POST",
        "/auth/register",
        {"email": "mailer@example.com", "password": "correct horse battery", "name": "Mia"},
    )
    assert status == 201, answer
    token = answer["access_token"]
    status, _, product = stack.call(
        "POST", "/products", {"name": "Bread", "price": 450, "currency": "EUR"}, token=token
    )
    assert status == 201, product
    status, _, order = stack.call(
        "POST", "/checkout", {"product_id": product["id"], "email": "eater@example.com"}
    )
    assert status == 201, order
    # The buyer pays on the sandbox Stripe's page; its webhook reaches the stack, and the
    # same event is delivered twice more (as Stripe may)
    assert browser.press(browser.open_page(order["checkout_url"]), "Pay").status == 303
    sandbox = Sandbox(*sandbox_url(stack.env))
    event_id = _completed_event(sandbox)
    for _ in range(2):
        sandbox.call("POST", f"/_sandbox/events/{event_id}/resend", {})
    # Then the buyer's confirmation is listed, LocalStack's shape, both parts kept
    (confirmation,) = _wait_for(stack, "eater@example.com")
    assert confirmation.keys() >= {"Id", "Source", "Destination", "Subject", "Body", "Timestamp"}
    assert confirmation["Source"] == "no-reply@nexus-sales.local"
    assert confirmation["Subject"] == "Your order: Bread"
    assert f"{stack.web_url}/success?order={order['id']}" in confirmation["Body"]["text_part"]
    assert "<a href=" in confirmation["Body"]["html_part"]
    assert "4.50 EUR" in confirmation["Body"]["text_part"]
    deadline = time.monotonic() + 30
    while not (notes := [m for m in _listing(stack) if m["Subject"] == "New sale: Bread"]):
        assert time.monotonic() < deadline, "no new-sale note"
        time.sleep(0.3)
    assert notes[0]["Destination"]["ToAddresses"] == ["mailer@example.com"]
    assert "eater@example.com" in notes[0]["Body"]["text_part"]
    # and the banner said where to look
    assert "/_aws/ses" in stack.text()
    time.sleep(1)
    to_buyer = [
        m for m in _listing(stack) if m["Destination"]["ToAddresses"] == ["eater@example.com"]
    ]
    assert len(to_buyer) == 1
