"""The sandbox Stripe, driven as the product will drive it: form-encoded POSTs with bracket
keys, a Bearer secret key and an Idempotency-Key, over real HTTP on 127.0.0.1; its webhooks
land on a tiny local receiver that checks Stripe's signature itself."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import requests

from nexus_local.fake_stripe import FakeStripe, encode_form, parse_form, stripe_signature
from nexus_local.httpd import LocalHTTPServer

SK = "sk_test_sandbox_4eC39HqLyjWDarjtT1zdp7dc"
WHSEC = "whsec_sandbox_secret"
SUCCESS = "http://127.0.0.1:8080/success?order=ord_1"


@dataclass
class Receiver:
    """Answers each webhook with the next of ``statuses`` (then 200) and keeps what came."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]

    def wait(self, count: int, timeout: float = 3.0) -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
        return self.events()


@pytest.fixture(scope="module")
def _receiver() -> Iterator[Receiver]:
    rx = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with rx.arrived:
                status = rx.statuses.pop(0) if rx.statuses else 200
                rx.received.append((dict(self.headers), body))
                rx.arrived.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = LocalHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    rx.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe"
    yield rx
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def _sandbox(_receiver: Receiver) -> Iterator[FakeStripe]:
    fake = FakeStripe(SK, WHSEC, _receiver.url, retry_delays=(0.02, 0.05, 0.1), sweep_interval=None)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def receiver(_receiver: Receiver, _sandbox: FakeStripe) -> Receiver:
    assert _sandbox.wait_idle()
    _sandbox.reset()
    with _receiver.arrived:
        _receiver.statuses.clear()
        _receiver.received.clear()
    return _receiver


@pytest.fixture
def stripe(_sandbox: FakeStripe, receiver: Receiver) -> FakeStripe:
    """One sandbox and one receiver for the module, emptied before each test."""
    return _sandbox


def session_form(**overrides: Any) -> list[tuple[str, str]]:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 1500,
                    "product_data": {"name": "Cookbook PDF"},
                },
                "quantity": 1,
            }
        ],
        "customer_email": "buyer@example.com",
        "client_reference_id": "ord_1",
        "metadata": {"order_id": "ord_1"},
        "success_url": SUCCESS,
        "cancel_url": "http://127.0.0.1:8080/checkout/prod_1",
        "expires_at": int(time.time()) + 3600,
    }
    params.update(overrides)
    return encode_form({k: v for k, v in params.items() if v is not None})


def post(
    stripe: FakeStripe,
    path: str,
    form: list[tuple[str, str]],
    *,
    key: str | None = None,
    auth: str | None = f"Bearer {SK}",
    timeout: float = 5.0,
) -> requests.Response:
    headers = {"Authorization": auth} if auth else {}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(f"{stripe.base_url}{path}", data=form, headers=headers, timeout=timeout)


def get(stripe: FakeStripe, path: str) -> requests.Response:
    return requests.get(
        f"{stripe.base_url}{path}", headers={"Authorization": f"Bearer {SK}"}, timeout=5
    )


def create(stripe: FakeStripe, key: str | None = None, **overrides: Any) -> dict[str, Any]:
    answer = post(stripe, "/v1/checkout/sessions", session_form(**overrides), key=key)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def error_of(answer: requests.Response, status: int = 400) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    err: dict[str, Any] = answer.json()["error"]
    return err


def verify(headers: dict[str, str], body: bytes, secret: str = WHSEC) -> None:
    """What the product's webhook must do: HMAC-SHA256 over "<t>.<raw body>", recent t."""
    parts = [p.split("=", 1) for p in headers["Stripe-Signature"].split(",")]
    t = next(v for k, v in parts if k == "t")
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert any(hmac.compare_digest(v, expected) for k, v in parts if k == "v1")
    assert abs(time.time() - int(t)) < 300


# -- the wire format -------------------------------------------------------------------------
def test_bracket_forms_decode_to_nested_params() -> None:
    raw = (
        "line_items[0][price_data][currency]=usd&line_items[0][quantity]=2"
        "&line_items[1][quantity]=1&metadata[order_id]=o1&expand[]=a&expand[]=b&mode=payment"
    )
    assert parse_form(raw) == {
        "line_items": [{"price_data": {"currency": "usd"}, "quantity": "2"}, {"quantity": "1"}],
        "metadata": {"order_id": "o1"},
        "expand": ["a", "b"],
        "mode": "payment",
    }
    assert parse_form("&".join(f"{k}={v}" for k, v in encode_form(parse_form(raw)))) == (
        parse_form(raw)
    )


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = '{\n  "id": "evt_1"\n}'
    mac = hmac.new(b"whsec_x", f"1700000000.{body}".encode(), hashlib.sha256).hexdigest()
    assert stripe_signature("whsec_x", body.encode(), 1700000000) == f"t=1700000000,v1={mac}"


def test_a_session_is_created_and_retrieved(stripe: FakeStripe) -> None:
    expires_at = int(time.time()) + 3600
    session = create(stripe, key="order-ord_1", expires_at=expires_at)
    assert session["id"].startswith("cs_test_")
    assert session["object"] == "checkout.session"
    assert session["url"] == f"{stripe.base_url}/pay/{session['id']}"
    assert (session["status"], session["payment_status"]) == ("open", "unpaid")
    assert (session["amount_total"], session["currency"]) == (1500, "usd")
    assert session["expires_at"] == expires_at
    assert session["metadata"] == {"order_id": "ord_1"}
    assert session["client_reference_id"] == "ord_1"
    assert session["customer_email"] == "buyer@example.com"
    assert session["payment_intent"] is None
    assert session["livemode"] is False
    fetched = get(stripe, f"/v1/checkout/sessions/{session['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == session
    assert fetched.headers["Request-Id"].startswith("req_")
    items = get(stripe, f"/v1/checkout/sessions/{session['id']}/line_items").json()
    assert items["object"] == "list"
    assert items["data"][0]["description"] == "Cookbook PDF"
    assert items["data"][0]["amount_total"] == 1500


def test_an_unknown_session_is_404_resource_missing(stripe: FakeStripe) -> None:
    err = error_of(get(stripe, "/v1/checkout/sessions/cs_test_nope"), 404)
    assert (err["type"], err["code"]) == ("invalid_request_error", "resource_missing")
    assert "cs_test_nope" in err["message"]
    assert error_of(get(stripe, "/v1/nothing"), 404)["type"] == "invalid_request_error"


def test_the_same_idempotency_key_replays_and_refuses_other_params(stripe: FakeStripe) -> None:
    form = session_form()
    first = post(stripe, "/v1/checkout/sessions", form, key="order-ord_1")
    again = post(stripe, "/v1/checkout/sessions", form, key="order-ord_1")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(stripe.sessions) == 1
    other = session_form(expires_at=int(time.time()) + 4000)
    err = error_of(post(stripe, "/v1/checkout/sessions", other, key="order-ord_1"))
    assert err["type"] == "idempotency_error"
    assert "same parameters" in err["message"]
    err = error_of(post(stripe, "/v1/refunds", [("payment_intent", "pi_x")], key="order-ord_1"))
    assert err["type"] == "idempotency_error"
    assert "same endpoint" in err["message"]
    assert len(stripe.sessions) == 1
    fresh = post(stripe, "/v1/checkout/sessions", other, key="order-ord_1-b")
    assert fresh.json()["id"] != first.json()["id"]


def test_a_request_refused_by_validation_saves_no_idempotent_result(stripe: FakeStripe) -> None:
    bad = session_form(expires_at=int(time.time()) + 60)
    assert post(stripe, "/v1/checkout/sessions", bad, key="k1").status_code == 400
    assert post(stripe, "/v1/checkout/sessions", session_form(), key="k1").status_code == 200


@pytest.mark.parametrize("ahead,ok", [(1700, False), (1830, True), (86_370, True), (86_500, False)])
def test_expires_at_must_be_30_minutes_to_24_hours_ahead(
    stripe: FakeStripe, ahead: int, ok: bool
) -> None:
    answer = post(
        stripe, "/v1/checkout/sessions", session_form(expires_at=int(time.time()) + ahead)
    )
    if ok:
        assert answer.status_code == 200
    else:
        err = error_of(answer)
        assert (err["type"], err["param"]) == ("invalid_request_error", "expires_at")


@pytest.mark.parametrize(
    "currency,unit_amount,quantity,ok",
    [("usd", 49, 1, False), ("usd", 50, 1, True), ("eur", 49, 1, False), ("usd", 25, 2, True)],
)
def test_the_minimum_charge(
    stripe: FakeStripe, currency: str, unit_amount: int, quantity: int, ok: bool
) -> None:
    item = {
        "price_data": {
            "currency": currency,
            "unit_amount": unit_amount,
            "product_data": {"name": "Sticker"},
        },
        "quantity": quantity,
    }
    answer = post(stripe, "/v1/checkout/sessions", session_form(line_items=[item]))
    if ok:
        assert answer.json()["amount_total"] == unit_amount * quantity
    else:
        assert error_of(answer)["code"] == "amount_too_small"


@pytest.mark.parametrize(
    "overrides,param",
    [
        ({"mode": None}, "mode"),
        ({"success_url": None}, "success_url"),
        ({"line_items": None}, "line_items"),
        (
            {"line_items": [{"price_data": {"unit_amount": 900}, "quantity": 1}]},
            "line_items[0][price_data][currency]",
        ),
        (
            {
                "line_items": [
                    {
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": 900,
                            "product_data": {"description": "d"},
                        }
                    }
                ]
            },
            "line_items[0][price_data][product_data][name]",
        ),
    ],
)
def test_missing_params_are_parameter_missing(
    stripe: FakeStripe, overrides: dict[str, Any], param: str
) -> None:
    err = error_of(post(stripe, "/v1/checkout/sessions", session_form(**overrides)))
    assert (err["code"], err["param"]) == ("parameter_missing", param)


def test_unknown_and_malformed_params_are_refused(stripe: FakeStripe) -> None:
    err = error_of(post(stripe, "/v1/checkout/sessions", session_form(colour="red")))
    assert (err["code"], err["param"]) == ("parameter_unknown", "colour")
    err = error_of(post(stripe, "/v1/checkout/sessions", session_form(expires_at="soon")))
    assert (err["code"], err["param"]) == ("parameter_invalid_integer", "expires_at")
    err = error_of(post(stripe, "/v1/checkout/sessions", session_form(customer_email="x")))
    assert err["code"] == "email_invalid"


def test_a_wrong_or_missing_key_is_401(stripe: FakeStripe) -> None:
    form = session_form()
    assert post(stripe, "/v1/checkout/sessions", form, auth=None).status_code == 401
    wrong = post(stripe, "/v1/checkout/sessions", form, auth="Bearer sk_test_wrong")
    assert error_of(wrong, 401)["type"] == "invalid_request_error"
    basic = requests.post(
        f"{stripe.base_url}/v1/checkout/sessions", data=form, auth=(SK, ""), timeout=5
    )
    assert basic.status_code == 200
    assert len(stripe.sessions) == 1


# -- the hosted page and its events ----------------------------------------------------------
def test_pay_on_the_hosted_page_redirects_and_sends_a_signed_completed_event(
    stripe: FakeStripe, receiver: Receiver
) -> None:
    session = create(stripe, success_url=SUCCESS + "&session={CHECKOUT_SESSION_ID}")
    page = requests.get(session["url"], timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    for fragment in (
        'id="product-name">Cookbook PDF<',
        'id="amount" data-amount="1500">15.00 USD<',
        'id="pay-button" type="submit">Pay<',
        'id="cancel-button" type="submit">Cancel<',
        f'action="/pay/{session["id"]}/pay"',
        f'action="/pay/{session["id"]}/cancel"',
    ):
        assert fragment in page.text
    assert "http" not in page.text.split("<body>")[0].replace('name="viewport"', "")

    paid = requests.post(f"{session['url']}/pay", allow_redirects=False, timeout=5)
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"{SUCCESS}&session={session['id']}"
    now = get(stripe, f"/v1/checkout/sessions/{session['id']}").json()
    assert (now["status"], now["payment_status"]) == ("complete", "paid")
    assert now["payment_intent"].startswith("pi_")

    (event,) = receiver.wait(1)
    headers, body = receiver.received[0]
    verify(headers, body)
    assert headers["Content-Type"].startswith("application/json")
    assert event["id"].startswith("evt_")
    assert (event["object"], event["type"], event["livemode"]) == (
        "event",
        "checkout.session.completed",
        False,
    )
    assert event["api_version"] == stripe.api_version
    assert event["data"]["object"]["payment_status"] == "paid"
    assert event["data"]["object"]["metadata"] == {"order_id": "ord_1"}
    assert event["data"]["object"]["payment_intent"] == now["payment_intent"]
    assert get(stripe, f"/v1/events/{event['id']}").json() == event
    # Paying again (a double click) changes nothing and sends the buyer to success again
    again = requests.post(f"{session['url']}/pay", allow_redirects=False, timeout=5)
    assert again.status_code == 303
    assert stripe.wait_idle()
    assert len(receiver.received) == 1


def test_a_signature_with_another_secret_does_not_verify(
    stripe: FakeStripe, receiver: Receiver
) -> None:
    stripe.pay(create(stripe)["id"])
    receiver.wait(1)
    headers, body = receiver.received[0]
    with pytest.raises(AssertionError):
        verify(headers, body, secret="whsec_other")


def test_cancel_goes_back_and_leaves_the_session_open(stripe: FakeStripe) -> None:
    session = create(stripe)
    answer = requests.post(f"{session['url']}/cancel", allow_redirects=False, timeout=5)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "http://127.0.0.1:8080/checkout/prod_1"
    assert stripe.session(session["id"])["status"] == "open"


def test_expire_sends_expired_and_the_page_refuses_payment(
    stripe: FakeStripe, receiver: Receiver
) -> None:
    session = create(stripe)
    expired = post(stripe, f"/v1/checkout/sessions/{session['id']}/expire", [])
    assert expired.status_code == 200
    assert (expired.json()["status"], expired.json()["url"]) == ("expired", None)
    (event,) = receiver.wait(1)
    assert event["type"] == "checkout.session.expired"
    assert event["request"]["id"] == expired.headers["Request-Id"]
    again = post(stripe, f"/v1/checkout/sessions/{session['id']}/expire", [])
    assert error_of(again)["type"] == "invalid_request_error"
    assert requests.post(f"{session['url']}/pay", allow_redirects=False, timeout=5).status_code == (
        410
    )


def test_sessions_past_expires_at_expire_by_themselves(
    stripe: FakeStripe, receiver: Receiver
) -> None:
    early = create(stripe, expires_at=int(time.time()) + 1900)
    late = create(stripe, expires_at=int(time.time()) + 7200)
    assert stripe.advance_time(3600) == [early["id"]]
    assert get(stripe, f"/v1/checkout/sessions/{early['id']}").json()["status"] == "expired"
    assert get(stripe, f"/v1/checkout/sessions/{late['id']}").json()["status"] == "open"
    assert [e["type"] for e in receiver.wait(1)] == ["checkout.session.expired"]


def test_a_delayed_payment_completes_unpaid_then_succeeds_or_fails(
    stripe: FakeStripe, receiver: Receiver
) -> None:
    stripe.pay_async(create(stripe)["id"], succeed=True)
    stripe.pay_async(create(stripe)["id"], succeed=False)
    events = receiver.wait(4)
    assert stripe.wait_idle()
    by_type = {e["type"]: e["data"]["object"] for e in receiver.events()}
    assert len(events) == 4
    assert by_type["checkout.session.async_payment_succeeded"]["payment_status"] == "paid"
    assert by_type["checkout.session.async_payment_failed"]["payment_status"] == "unpaid"


# -- refunds ---------------------------------------------------------------------------------
def test_refunds_partial_then_full_then_refused(stripe: FakeStripe, receiver: Receiver) -> None:
    metadata = {"metadata": {"order_id": "ord_1"}}
    intent = stripe.pay(create(stripe, payment_intent_data=metadata)["id"])["payment_intent"]
    part = post(stripe, "/v1/refunds", [("payment_intent", intent), ("amount", "500")])
    assert part.status_code == 200
    refund = part.json()
    assert refund["id"].startswith("re_")
    assert (refund["object"], refund["status"], refund["amount"]) == ("refund", "succeeded", 500)
    assert refund["payment_intent"] == intent
    over = post(stripe, "/v1/refunds", [("payment_intent", intent), ("amount", "1001")])
    assert error_of(over)["code"] == "amount_too_large"
    rest = post(stripe, "/v1/refunds", [("payment_intent", intent)], key="refund-ord_1")
    assert rest.json()["amount"] == 1000
    done = post(stripe, "/v1/refunds", [("payment_intent", intent)])
    assert error_of(done)["code"] == "charge_already_refunded"

    events = receiver.wait(3)
    charges = [e["data"]["object"] for e in events if e["type"] == "charge.refunded"]
    assert [(c["amount_refunded"], c["refunded"]) for c in charges] == [(500, False), (1500, True)]
    assert all(c["object"] == "charge" and c["payment_intent"] == intent for c in charges)
    assert charges[0]["metadata"] == {"order_id": "ord_1"}  # from payment_intent_data
    for headers, body in receiver.received:
        verify(headers, body)


def test_a_refund_of_an_unknown_or_unpaid_payment_is_refused(stripe: FakeStripe) -> None:
    create(stripe)  # open, unpaid: no PaymentIntent yet
    err = error_of(post(stripe, "/v1/refunds", [("payment_intent", "pi_unknown")]))
    assert (err["code"], err["param"]) == ("resource_missing", "payment_intent")
    assert error_of(post(stripe, "/v1/refunds", []))["code"] == "parameter_missing"


# -- delivery --------------------------------------------------------------------------------
def test_a_failing_receiver_is_retried_with_backoff(stripe: FakeStripe, receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    stripe.pay(create(stripe)["id"])
    assert stripe.wait_idle()
    (event,) = stripe.events
    attempts = stripe.deliveries(event["id"])
    assert [a["status"] for a in attempts] == [500, 503, 200]
    assert [a["response"] for a in attempts] == ["", "", ""]  # what the receiver answered
    assert len({json.loads(body)["id"] for _, body in receiver.received}) == 1
    for headers, body in receiver.received:
        verify(headers, body)


def test_an_unreachable_receiver_is_retried_then_given_up() -> None:
    fake = FakeStripe(
        SK,
        WHSEC,
        "http://127.0.0.1:9/webhooks/stripe",
        retry_delays=(0.01, 0.01),
        sweep_interval=None,
    )
    fake.start()
    try:
        fake.emit("checkout.session.completed", {"object": "checkout.session", "id": "cs_x"})
        assert fake.wait_idle()
        attempts = fake.deliveries(fake.events[0]["id"])
        assert len(attempts) == 3
        assert all(a["status"] is None and a["error"] and a["response"] is None for a in attempts)
    finally:
        fake.stop()


def test_events_can_be_held_and_delivered_out_of_order_or_twice(receiver: Receiver) -> None:
    fake = FakeStripe(SK, WHSEC, receiver.url, auto_deliver=False, sweep_interval=None)
    fake.start()
    try:
        session = fake.pay(create(fake)["id"])
        post(fake, "/v1/refunds", [("payment_intent", session["payment_intent"])])
        completed, refunded = (e["id"] for e in fake.events)
        assert receiver.received == []
        assert fake.deliver(refunded) == 200
        assert fake.deliver(completed) == 200
        assert fake.deliver(completed) == 200
        assert [e["id"] for e in receiver.events()] == [refunded, completed, completed]
        listed = requests.get(f"{fake.base_url}/_sandbox/events", timeout=5).json()
        assert [e["id"] for e in listed["data"]] == [refunded, completed]  # newest first
        assert len(listed["deliveries"][completed]) == 2
        resent = requests.post(f"{fake.base_url}/_sandbox/events/{refunded}/resend", timeout=5)
        assert resent.status_code == 202
        assert fake.wait_idle()
        assert [e["id"] for e in receiver.events()][-1] == refunded
    finally:
        fake.stop()


def test_an_event_can_be_sent_by_hand(stripe: FakeStripe, receiver: Receiver) -> None:
    sent = requests.post(
        f"{stripe.base_url}/_sandbox/events",
        json={"type": "payment_intent.created", "data": {"object": {"object": "payment_intent"}}},
        timeout=5,
    )
    assert sent.status_code == 200
    (event,) = receiver.wait(1)
    assert (event["id"], event["type"]) == (sent.json()["id"], "payment_intent.created")


def test_the_sessions_are_listed_newest_first_and_by_reference(stripe: FakeStripe) -> None:
    first = create(stripe, client_reference_id="ord_1")
    second = create(stripe, client_reference_id="ord_2")
    listed = requests.get(f"{stripe.base_url}/_sandbox/sessions", timeout=5)
    assert listed.status_code == 200
    assert [s["id"] for s in listed.json()["data"]] == [second["id"], first["id"]]
    one = requests.get(
        f"{stripe.base_url}/_sandbox/sessions", params={"client_reference_id": "ord_1"}, timeout=5
    ).json()["data"]
    assert [(s["id"], s["status"]) for s in one] == [(first["id"], "open")]
    # Read-only: a POST there is no route, and nothing changed
    assert requests.post(f"{stripe.base_url}/_sandbox/sessions", timeout=5).status_code == 404
    assert len(stripe.sessions) == 2


# -- injected failures -----------------------------------------------------------------------
def test_fail_next_500_then_a_retry_with_the_same_key_makes_one_session(
    stripe: FakeStripe,
) -> None:
    stripe.fail_next(500)
    form = session_form()
    failed = post(stripe, "/v1/checkout/sessions", form, key="order-ord_1")
    assert error_of(failed, 500)["type"] == "api_error"
    assert stripe.sessions == []
    assert post(stripe, "/v1/checkout/sessions", form, key="order-ord_1").status_code == 200
    assert len(stripe.sessions) == 1
    stripe.fail_next(429)
    assert error_of(get(stripe, "/v1/events/evt_x"), 429)["type"] == "rate_limit_error"


def test_a_timeout_and_a_lost_answer(stripe: FakeStripe) -> None:
    form = session_form()
    stripe.fail_next("timeout", hang_for=2.0)
    with pytest.raises(requests.Timeout):
        post(stripe, "/v1/checkout/sessions", form, key="order-ord_1", timeout=0.1)
    assert stripe.sessions == []
    # The session is made but its answer never comes: the retry with the key replays it
    stripe.fail_next("timeout", applied=True, hang_for=2.0)
    with pytest.raises(requests.Timeout):
        post(stripe, "/v1/checkout/sessions", form, key="order-ord_1", timeout=0.1)
    (made,) = stripe.sessions
    replay = post(stripe, "/v1/checkout/sessions", form, key="order-ord_1")
    assert replay.json()["id"] == made["id"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert [entry["status"] for entry in stripe.log] == ["timeout", "timeout", 200]
