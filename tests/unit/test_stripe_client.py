"""nexus.payments.stripe: Stripe's form encoding, and the client against the sandbox Stripe
over real HTTP on 127.0.0.1 (its wire format, its errors, its idempotent replays): what it
returns, what it raises, and when it retries."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from nexus.payments import stripe as stripe_module
from nexus.payments.stripe import StripeClient, StripeRefused, StripeUnavailable, encode
from nexus.settings import get_settings
from nexus_local.fake_stripe import FakeStripe, parse_form
from tests.support.api import ROOT, TEST_SECRETS

SECRET_KEY = TEST_SECRETS["STRIPE_SECRET_KEY"]
SESSIONS = "/v1/checkout/sessions"


# -- encode --------------------------------------------------------------------------------
def _decoded(params: dict[str, Any]) -> dict[str, Any]:
    """What Stripe (the sandbox's decoder) reads from the encoded body."""
    return parse_form(urlencode(list(encode(params))))


def test_flat_params_are_name_value_pairs() -> None:
    assert list(encode({"mode": "payment", "quantity": 2})) == [
        ("mode", "payment"),
        ("quantity", "2"),
    ]


def test_nested_mappings_are_bracket_keys() -> None:
    params = {"metadata": {"order_id": "o1", "product_id": "p1"}, "a": {"b": {"c": "d"}}}
    assert list(encode(params)) == [
        ("metadata[order_id]", "o1"),
        ("metadata[product_id]", "p1"),
        ("a[b][c]", "d"),
    ]
    assert _decoded(params) == params


def test_lists_of_mappings_and_of_scalars_are_indexed() -> None:
    params = {
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 2500,
                    "product_data": {"name": "Field guide"},
                },
            },
            {"price": "price_2", "quantity": 3},
        ],
        "expand": ["payment_intent", "line_items"],
        "payment_method_types": ("card",),
    }
    assert list(encode(params)) == [
        ("line_items[0][quantity]", "1"),
        ("line_items[0][price_data][currency]", "eur"),
        ("line_items[0][price_data][unit_amount]", "2500"),
        ("line_items[0][price_data][product_data][name]", "Field guide"),
        ("line_items[1][price]", "price_2"),
        ("line_items[1][quantity]", "3"),
        ("expand[0]", "payment_intent"),
        ("expand[1]", "line_items"),
        ("payment_method_types[0]", "card"),
    ]
    assert _decoded(params) == {
        "line_items": [
            {
                "quantity": "1",
                "price_data": {
                    "currency": "eur",
                    "unit_amount": "2500",
                    "product_data": {"name": "Field guide"},
                },
            },
            {"price": "price_2", "quantity": "3"},
        ],
        "expand": ["payment_intent", "line_items"],
        "payment_method_types": ["card"],
    }


def test_booleans_are_true_and_false_and_none_is_left_out() -> None:
    params = {
        "allow_promotion_codes": True,
        "livemode": False,
        "locale": None,
        "metadata": {"order_id": "o1", "gone": None},
        "line_items": [{"price": "p", "tax_rates": None, "adjustable": False}],
    }
    pairs = list(encode(params))
    assert pairs == [
        ("allow_promotion_codes", "true"),
        ("livemode", "false"),
        ("metadata[order_id]", "o1"),
        ("line_items[0][price]", "p"),
        ("line_items[0][adjustable]", "false"),
    ]
    assert _decoded(params) == {
        "allow_promotion_codes": "true",
        "livemode": "false",
        "metadata": {"order_id": "o1"},
        "line_items": [{"price": "p", "adjustable": "false"}],
    }


def test_brackets_and_symbols_in_values_survive_the_form() -> None:
    params = {"metadata": {"note": "a&b=c [d] é+%"}, "success_url": "https://x.test/?a=1&b=2"}
    assert _decoded(params) == params


# -- the client against the sandbox --------------------------------------------------------
@pytest.fixture(scope="module")
def _sandbox() -> Iterator[FakeStripe]:
    fake = FakeStripe(
        SECRET_KEY, TEST_SECRETS["STRIPE_WEBHOOK_SECRET"], auto_deliver=False, sweep_interval=None
    )
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def sandbox(
    _sandbox: FakeStripe, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> FakeStripe:
    _sandbox.reset()
    monkeypatch.setenv("STRIPE_API_BASE_URL", _sandbox.base_url)
    monkeypatch.setattr(stripe_module, "RETRY_PAUSE_SECONDS", 0.01)  # keep retries fast
    get_settings.cache_clear()
    return _sandbox


@pytest.fixture
def client(sandbox: FakeStripe) -> StripeClient:
    return StripeClient()


def _params(amount: int = 2500, currency: str = "eur") -> dict[str, Any]:
    return {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency,
                    "unit_amount": amount,
                    "product_data": {"name": "Field guide"},
                },
            }
        ],
        "customer_email": "buyer@example.com",
        "client_reference_id": "order-1",
        "metadata": {"order_id": "order-1"},
        "payment_intent_data": {"metadata": {"order_id": "order-1"}},
        "success_url": "http://127.0.0.1:8080/success?order=order-1",
        "expires_at": int(time.time()) + 3600,
    }


def _statuses(sandbox: FakeStripe) -> list[Any]:
    return [c["status"] for c in sandbox.log]


def test_create_retrieve_and_expire_a_session(client: StripeClient, sandbox: FakeStripe) -> None:
    params = _params()
    created = client.create_checkout_session(params, idempotency_key="k-create")
    assert created["object"] == "checkout.session"
    assert (created["status"], created["amount_total"], created["currency"]) == (
        "open",
        2500,
        "eur",
    )
    assert created["url"] == f"{sandbox.base_url}/pay/{created['id']}"
    assert created["metadata"] == {"order_id": "order-1"}
    assert created["expires_at"] == params["expires_at"]
    assert sandbox.log[0]["idempotency_key"] == "k-create"

    fetched = client.retrieve_checkout_session(created["id"])
    assert (fetched["id"], fetched["status"]) == (created["id"], "open")

    expired = client.expire_checkout_session(created["id"], idempotency_key="k-expire")
    assert (expired["id"], expired["status"], expired["url"]) == (created["id"], "expired", None)
    assert client.retrieve_checkout_session(created["id"])["status"] == "expired"
    assert [(c["method"], c["path"], c["status"]) for c in sandbox.log] == [
        ("POST", SESSIONS, 200),
        ("GET", f"{SESSIONS}/{created['id']}", 200),
        ("POST", f"{SESSIONS}/{created['id']}/expire", 200),
        ("GET", f"{SESSIONS}/{created['id']}", 200),
    ]


def test_the_same_key_replays_the_first_session(client: StripeClient, sandbox: FakeStripe) -> None:
    params = _params()
    first = client.create_checkout_session(params, idempotency_key="k-same")
    again = client.create_checkout_session(params, idempotency_key="k-same")
    assert again == first
    assert len(sandbox.sessions) == 1


def test_expiring_a_session_no_longer_open_is_refused(
    client: StripeClient, sandbox: FakeStripe
) -> None:
    session = client.create_checkout_session(_params(), idempotency_key="k1")
    sandbox.pay(session["id"])
    with pytest.raises(StripeRefused, match='status of "complete"') as caught:
        client.expire_checkout_session(session["id"], idempotency_key="k2")
    assert caught.value.param == "session"
    assert _statuses(sandbox) == [200, 400]


def test_a_refund_of_a_paid_session(client: StripeClient, sandbox: FakeStripe) -> None:
    session = client.create_checkout_session(_params(), idempotency_key="k1")
    intent = sandbox.pay(session["id"])["payment_intent"]
    refund = client.create_refund(
        {"payment_intent": intent, "reason": "requested_by_customer", "metadata": {"o": "1"}},
        idempotency_key="r1",
    )
    assert (refund["object"], refund["status"], refund["amount"]) == ("refund", "succeeded", 2500)
    assert (refund["payment_intent"], refund["metadata"]) == (intent, {"o": "1"})
    assert [e["type"] for e in sandbox.events][-1] == "charge.refunded"
    # Again under another key: Stripe's code says why
    with pytest.raises(StripeRefused) as caught:
        client.create_refund({"payment_intent": intent}, idempotency_key="r2")
    assert caught.value.code == "charge_already_refunded"


def test_an_amount_under_stripes_minimum_is_refused_with_its_code(
    client: StripeClient, sandbox: FakeStripe
) -> None:
    with pytest.raises(StripeRefused) as caught:
        client.create_checkout_session(_params(amount=10), idempotency_key="k1")
    assert (caught.value.code, caught.value.param) == ("amount_too_small", "line_items")
    assert "at least 0.50 EUR" in caught.value.message
    assert str(caught.value) == caught.value.message
    assert _statuses(sandbox) == [400]  # refused, not retried


def test_an_unknown_session_is_refused_404(client: StripeClient, sandbox: FakeStripe) -> None:
    with pytest.raises(StripeRefused) as caught:
        client.retrieve_checkout_session("cs_test_nope")
    assert caught.value.code == "resource_missing"
    assert "No such checkout.session" in caught.value.message
    assert _statuses(sandbox) == [404]


def test_an_id_is_one_path_segment(client: StripeClient, sandbox: FakeStripe) -> None:
    session = client.create_checkout_session(_params(), idempotency_key="k1")
    with pytest.raises(StripeRefused):
        client.retrieve_checkout_session(f"{session['id']}/line_items")
    assert sandbox.log[-1]["path"] == f"{SESSIONS}/{session['id']}%2Fline_items"


def test_a_wrong_key_is_unavailable_and_not_retried(
    sandbox: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_wrong")
    get_settings.cache_clear()
    with pytest.raises(StripeUnavailable, match="401"):
        StripeClient().create_checkout_session(_params(), idempotency_key="k1")
    assert _statuses(sandbox) == [401]
    assert sandbox.sessions == []


def test_a_key_reused_with_other_params_is_unavailable_not_refused(
    client: StripeClient, sandbox: FakeStripe
) -> None:
    client.create_checkout_session(_params(), idempotency_key="k1")
    with pytest.raises(StripeUnavailable, match="400"):
        client.create_checkout_session(_params(amount=3000), idempotency_key="k1")
    assert _statuses(sandbox) == [200, 400]
    assert len(sandbox.sessions) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_one_failure_is_retried_with_the_same_key(
    client: StripeClient, sandbox: FakeStripe, status: int
) -> None:
    sandbox.fail_next(status)
    session = client.create_checkout_session(_params(), idempotency_key="k-retry")
    assert _statuses(sandbox) == [status, 200]
    assert [c["idempotency_key"] for c in sandbox.log] == ["k-retry", "k-retry"]
    assert [s["id"] for s in sandbox.sessions] == [session["id"]]


def test_a_get_is_retried_too(client: StripeClient, sandbox: FakeStripe) -> None:
    session = client.create_checkout_session(_params(), idempotency_key="k1")
    sandbox.fail_next(500)
    assert client.retrieve_checkout_session(session["id"])["id"] == session["id"]
    assert _statuses(sandbox) == [200, 500, 200]


def test_two_failures_are_unavailable(client: StripeClient, sandbox: FakeStripe) -> None:
    sandbox.fail_next(500, count=2)
    with pytest.raises(StripeUnavailable, match="500"):
        client.create_checkout_session(_params(), idempotency_key="k1")
    assert _statuses(sandbox) == [500, 500]
    assert sandbox.sessions == []


def test_a_made_session_whose_answer_was_lost_is_replayed_on_the_retry(
    client: StripeClient, sandbox: FakeStripe
) -> None:
    sandbox.fail_next(500, applied=True)
    session = client.create_checkout_session(_params(), idempotency_key="k1")
    assert [s["id"] for s in sandbox.sessions] == [session["id"]]
    assert _statuses(sandbox) == [500, 200]


@pytest.mark.parametrize(
    "status,error", [(409, StripeUnavailable), (402, StripeRefused), (400, StripeRefused)]
)
def test_other_failures_are_not_retried(
    client: StripeClient, sandbox: FakeStripe, status: int, error: type[Exception]
) -> None:
    sandbox.fail_next(status)
    with pytest.raises(error):
        client.create_checkout_session(_params(), idempotency_key="k1")
    assert _statuses(sandbox) == [status]


def test_a_timeout_is_retried_and_gets_the_first_answer_replayed(
    sandbox: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Stripe makes the session but its answer never comes (the client times out)
    monkeypatch.setenv("STRIPE_READ_TIMEOUT_SECONDS", "0.2")
    get_settings.cache_clear()
    sandbox.fail_next("timeout", applied=True, hang_for=2.0)
    started = time.monotonic()
    session = StripeClient().create_checkout_session(_params(), idempotency_key="k-lost")
    # Then the retry, same key, gets that session: one session, not two
    assert time.monotonic() - started < 1.0  # not the 2 s the first answer hangs
    assert [s["id"] for s in sandbox.sessions] == [session["id"]]
    assert _statuses(sandbox) == ["timeout", 200]
    assert [c["idempotency_key"] for c in sandbox.log] == ["k-lost", "k-lost"]


def test_two_timeouts_are_unavailable(sandbox: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_READ_TIMEOUT_SECONDS", "0.15")
    get_settings.cache_clear()
    sandbox.fail_next("timeout", count=2, hang_for=2.0)
    with pytest.raises(StripeUnavailable, match="Timeout"):
        StripeClient().create_checkout_session(_params(), idempotency_key="k1")
    assert _statuses(sandbox) == ["timeout", "timeout"]
    assert sandbox.sessions == []


def test_stripe_unreachable_is_unavailable(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("STRIPE_API_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(stripe_module, "RETRY_PAUSE_SECONDS", 0.01)
    get_settings.cache_clear()
    with pytest.raises(StripeUnavailable, match="ConnectionError"):
        StripeClient().retrieve_checkout_session("cs_test_1")


def test_importing_the_client_does_not_import_requests() -> None:
    # A fresh interpreter: in this one requests is long imported
    probe = "import sys; import nexus.payments.stripe; print('requests' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "layers/shared"), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "False"
