"""Payments through the real local stack and its sandbox Stripe, as a buyer's browser, a
seller and an operator meet them: the payment page's Pay and Cancel, Stripe's signed
webhooks reaching the stack, the download, one Checkout Session per Idempotency-Key, a
refund, the expiry sweep, and `make stripe ARGS="trigger ..."`."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from walkthroughs import browser

from nexus_local.stripe_cli import Sandbox, sandbox_url
from tests.support.api import ROOT, TEST_SECRETS
from tests.support.stack import Stack, free_port, run_module, start_stack

pytestmark = pytest.mark.e2e
PASSWORD = "a long passphrase"
FILE = b"%PDF-1.7\n% the guide\n%%EOF\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Stack]:
    """One stack, with its own sandbox Stripe, for the module: tests make their own sellers."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("STRIPE_API_BASE_URL", raising=False)
        s = start_stack(
            tmp_path_factory.mktemp("payments"),
            free_port(),
            {
                "DATABASE_URL": database_url,
                **TEST_SECRETS,
                "BCRYPT_ROUNDS": "4",
                "STRIPE_SANDBOX_PORT": str(free_port()),
            },
        )
    yield s
    assert s.stop() == 0


@pytest.fixture
def sandbox(stack: Stack) -> Sandbox:
    return Sandbox(*sandbox_url(stack.env))


def _eventually(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout} s")


def _seller(stack: Stack, name: str) -> str:
    status, _, body = stack.call(
        "POST", "/auth/register", {"email": f"{name}@example.com", "password": PASSWORD}
    )
    assert status == 201, body
    return str(body["access_token"])


def _product(stack: Stack, token: str, price: int = 1900) -> dict[str, Any]:
    status, _, product = stack.call(
        "POST", "/products", {"name": "Guide", "price": price, "currency": "USD"}, token
    )
    assert status == 201, product
    return dict(product)


def _checkout(stack: Stack, product: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    body = {"product_id": product["id"], "email": "buyer@example.com"}
    status, _, order = stack.call("POST", "/checkout", body, headers=headers)
    assert status in (200, 201), order
    return dict(order)


def _buyer_view(stack: Stack, order_id: str) -> dict[str, Any]:
    status, _, view = stack.call("GET", f"/checkout/orders/{order_id}")
    assert status == 200, view
    return dict(view)


def _status_becomes(stack: Stack, order_id: str, wanted: str) -> dict[str, Any]:
    view: dict[str, Any] = _eventually(
        f"order {wanted}",
        lambda: (v := _buyer_view(stack, order_id))["status"] == wanted and v,
    )
    return view


def _event(sandbox: Sandbox, event_type: str, object_id: str) -> dict[str, Any]:
    """The sandbox's event of this type about this object, once delivered."""

    def delivered() -> dict[str, Any] | None:
        listed = sandbox.events()
        for event in listed["data"]:
            obj = event["data"]["object"]
            if event["type"] == event_type and object_id in (
                obj.get("id"),
                obj.get("payment_intent"),
            ):
                attempts = listed["deliveries"].get(event["id"]) or []
                return {**event, "attempts": attempts} if attempts else None
        return None

    found: dict[str, Any] = _eventually(f"{event_type} delivered", delivered)
    return found


def _upload(stack: Stack, token: str, product_id: str) -> None:
    ticket = {"filename": "guide.pdf", "content_type": "application/pdf", "size": len(FILE)}
    status, _, upload = stack.call("PUT", f"/products/{product_id}/file", ticket, token)
    assert status == 200, upload
    request = urllib.request.Request(upload["upload_url"], data=FILE, method=upload["method"])
    for key, value in upload["headers"].items():
        request.add_header(key, value)
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
    # The product shows the file once it is in the bucket
    status, _, shown = stack.call("GET", f"/products/{product_id}", token=token)
    assert (status, shown["file"]) == (200, {"filename": "guide.pdf", "size": len(FILE)})


def test_a_buyer_pays_on_the_sandbox_page_and_downloads_the_file(
    stack: Stack, sandbox: Sandbox
) -> None:
    # Given a product with a file, and a buyer's pending order
    token = _seller(stack, "payer")
    product = _product(stack, token)
    _upload(stack, token, product["id"])
    order = _checkout(stack, product)
    assert order["status"] == "pending" and order["checkout_url"].startswith(sandbox.base)
    assert _buyer_view(stack, order["id"])["download_url"] is None
    # When the buyer opens the payment page and presses Pay, as a browser does
    page = browser.open_page(order["checkout_url"])
    assert page.status == 200 and "19.00 USD" in page.html
    paid = browser.press(page, "Pay")
    # Then the sandbox redirects to the success page, and its signed webhook reaches the stack
    assert (paid.status, paid.location) == (
        303,
        f"{stack.web_url}/success?order={order['id']}",
    )
    view = _status_becomes(stack, order["id"], "paid")
    session_id = order["checkout_url"].rsplit("/", 1)[1]
    completed = _event(sandbox, "checkout.session.completed", session_id)
    assert completed["attempts"][0]["status"] == 200
    assert '"outcome":"applied"' in completed["attempts"][0]["response"].replace(" ", "")
    # And the download is the seller's bytes
    with urllib.request.urlopen(view["download_url"], timeout=10) as resp:
        assert resp.read() == FILE


def test_cancel_goes_back_and_leaves_the_order_pending(stack: Stack, sandbox: Sandbox) -> None:
    product = _product(stack, _seller(stack, "canceller"))
    order = _checkout(stack, product)
    cancelled = browser.press(browser.open_page(order["checkout_url"]), "Cancel")
    assert (cancelled.status, cancelled.location) == (
        303,
        f"{stack.web_url}/checkout/{product['id']}",
    )
    time.sleep(0.5)  # nothing is on its way
    assert _buyer_view(stack, order["id"])["status"] == "pending"
    (session,) = sandbox.sessions(order["id"])
    assert session["status"] == "open"
    # The page can still be paid afterwards
    assert browser.open_page(order["checkout_url"]).form("Pay")


def test_a_retried_checkout_makes_one_checkout_session(stack: Stack, sandbox: Sandbox) -> None:
    product = _product(stack, _seller(stack, "retrier"))
    first = _checkout(stack, product, key="cart-7")
    again = _checkout(stack, product, key="cart-7")
    assert (again["id"], again["checkout_url"]) == (first["id"], first["checkout_url"])
    assert [s["id"] for s in sandbox.sessions(first["id"])] == [
        first["checkout_url"].rsplit("/", 1)[1]
    ]


def test_a_refund_becomes_refunded_when_stripe_reports_it(stack: Stack, sandbox: Sandbox) -> None:
    token = _seller(stack, "refunder")
    order = _checkout(stack, _product(stack, token))
    browser.press(browser.open_page(order["checkout_url"]), "Pay")
    _status_becomes(stack, order["id"], "paid")
    status, _, answer = stack.call("POST", f"/orders/{order['id']}/refund", token=token)
    assert status == 202, answer
    _status_becomes(stack, order["id"], "refunded")
    (session,) = sandbox.sessions(order["id"])
    refunded = _event(sandbox, "charge.refunded", session["payment_intent"])
    assert refunded["data"]["object"]["refunded"] is True
    assert refunded["attempts"][0]["status"] == 200


def test_maintenance_expires_a_pending_order_past_its_expiry(
    stack: Stack, sandbox: Sandbox, database_url: str
) -> None:
    # Given a pending order whose expiry passed (more than the sweep's grace) while its
    # Checkout Session is still open at Stripe: no expired webhook came
    order = _checkout(stack, _product(stack, _seller(stack, "expirer")))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE orders SET expires_at = now() - interval '5 minutes' WHERE id = %s",
            (order["id"],),
        )
    (session,) = sandbox.sessions(order["id"])
    assert session["status"] == "open"
    # When MaintenanceFunction runs (the Lambda invoke API, as its schedule would)
    result, error = stack.invoke("MaintenanceFunction", {})
    # Then the sweep asked Stripe, expired the session there and the order here
    assert error is None, result
    assert result["expire_orders"]["checked"] == 1, result
    assert result["expire_orders"]["stripe_failures"] == 0, result
    assert _buyer_view(stack, order["id"])["status"] == "expired"
    (session,) = sandbox.sessions(order["id"])
    assert session["status"] == "expired"
    # And the payment page no longer offers to pay
    page = browser.open_page(order["checkout_url"])
    assert page.forms == [] and "expired" in page.html


def test_the_trigger_command_sends_an_event_that_the_stack_receives(stack: Stack) -> None:
    order = _checkout(stack, _product(stack, _seller(stack, "operator")))
    # A user's shell: the sandbox found through the stack's state file
    env = {k: v for k, v in stack.env.items() if k != "STRIPE_SANDBOX_PORT"}
    env["PYTHONPATH"] = f"{ROOT / 'layers/shared'}:{ROOT / 'tools'}"
    sent = run_module(
        "nexus_local.stripe_cli",
        "trigger",
        "checkout.session.completed",
        "--order",
        order["id"],
        env=env,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "the stack answered 200" in sent.stdout and '"outcome":"applied"' in sent.stdout
    assert _buyer_view(stack, order["id"])["status"] == "paid"
    event_id = sent.stdout.split()[1]
    listed = run_module("nexus_local.stripe_cli", "events", env=env)
    assert event_id in listed.stdout and "checkout.session.completed" in listed.stdout
    again = run_module("nexus_local.stripe_cli", "resend", event_id, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert '"outcome":"duplicate"' in again.stdout
    # An event type the product does not handle is answered 200, ignored
    other = run_module("nexus_local.stripe_cli", "trigger", "customer.created", env=env)
    assert other.returncode == 0 and '"outcome":"ignored"' in other.stdout
