"""A sandbox Stripe for tests and the local stack: the slice of Stripe's v1 REST API the
product calls, a hosted payment page, and signed webhooks.

Wire format (as Stripe's API reference and stripe-python describe it):

- requests are form-encoded with bracket keys (``line_items[0][price_data][currency]=usd``,
  ``metadata[order_id]=…``; ``a[]=x`` appends), authenticated with ``Authorization: Bearer
  sk_test_…`` (or HTTP Basic with the key as the user, as ``curl -u`` sends); anything else is
  401 with ``WWW-Authenticate``;
- answers are JSON objects with ``"object"``; errors are ``{"error": {"type", "code",
  "message", "param", "doc_url"}}`` (400 ``invalid_request_error`` for bad parameters, 404
  for an unknown id in the path, 401, 429 ``rate_limit_error``, 5xx ``api_error``); every
  answer carries ``Request-Id`` and ``Stripe-Version``;
- ``Idempotency-Key`` (POST only, per API key, up to 255 characters, kept 24 h): the first
  result is saved once the endpoint has begun to run, so a request refused by validation
  saves nothing (Stripe: "if incoming parameters fail validation … no idempotent result is
  saved"); the same key with the same parameters replays the saved answer with
  ``Idempotent-Replayed: true``; with other parameters or on another endpoint it is 400
  ``idempotency_error``. Failures injected by :meth:`FakeStripe.fail_next` stand for a
  failure in front of the API (nothing saved), unless ``applied=True``: then the request
  takes effect and only its answer is lost, so a retry with the same key replays it;
- webhook events ``{"id": "evt_…", "object": "event", "api_version", "created", "data":
  {"object": …}, "livemode": false, "pending_webhooks", "request": {"id",
  "idempotency_key"}, "type"}`` are POSTed as pretty-printed JSON (as Stripe sends them, so a
  receiver that re-serialises before verifying fails here too) with ``Stripe-Signature:
  t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``, signed afresh for each attempt,
  retried with backoff on a non-2xx answer or a connection error, from timer threads: never
  while an HTTP answer waits.

Served: ``POST /v1/checkout/sessions`` (mode=payment, ``price_data`` line items, the
minimum charge per currency → ``amount_too_small``, ``expires_at`` 30 min - 24 h ahead,
unknown parameters → ``parameter_unknown``), ``GET /v1/checkout/sessions/{id}``, ``GET
/v1/checkout/sessions/{id}/line_items``, ``POST /v1/checkout/sessions/{id}/expire``, ``POST
/v1/refunds`` (by ``payment_intent`` or ``charge``; ``amount_too_large``,
``charge_already_refunded``), ``GET /v1/events/{id}``; the hosted page ``GET /pay/{id}``
with **Pay** and **Cancel** forms; and sandbox-only ``GET /_sandbox/events``, ``POST
/_sandbox/events`` (send any event, like ``stripe trigger``), ``POST
/_sandbox/events/{id}/resend`` and ``GET /_sandbox/sessions`` (read-only: every Checkout
Session, newest first; ``?client_reference_id=`` for one order's). Open sessions expire by
themselves once ``expires_at`` has passed (a sweep every ``sweep_interval`` seconds, and
before every API call), sending ``checkout.session.expired``.

Checked against the official SDK (stripe 16.1.0, API version 2026-10-28.endive, in a
throwaway venv, not a project dependency) with ``stripe.api_base`` pointed here:
``stripe.checkout.Session.create`` with ``line_items``/``metadata``/``expires_at``
round-trips (the SDK's own bracket encoding and its automatic ``Idempotency-Key``),
``Session.retrieve`` and ``Session.expire``, ``stripe.Refund.create``; its error classes
come out as Stripe's would (``InvalidRequestError`` with ``code``/``param`` for
``amount_too_small``, ``parameter_missing``, ``resource_missing``; ``IdempotencyError`` for
a reused key; ``AuthenticationError`` for a wrong key; ``APIError`` for an injected 500);
``StripeClient(max_network_retries=2)`` retries through ``fail_next(500)`` with its own
key and makes one session, and through ``fail_next("timeout", applied=True)`` (a lost
answer) gets the first session replayed (``Idempotent-Replayed: true``);
``stripe.Webhook.construct_event(body, Stripe-Signature, secret)`` accepts every event this
sandbox delivers (completed, expired, charge.refunded), and
``WebhookSignature.generate_signature_header`` and :func:`stripe_signature` agree byte for
byte. ``payment_intent_data[metadata]`` becomes the charge's metadata, so a
``charge.refunded`` event can carry the order id.

Test controls (in-process): :meth:`FakeStripe.fail_next`, :meth:`~FakeStripe.pay` /
:meth:`~FakeStripe.pay_async`, :meth:`~FakeStripe.advance_time` / :meth:`~FakeStripe.expire_due`,
:meth:`~FakeStripe.deliver` (now, once, in any order) and ``auto_deliver=False``,
:meth:`~FakeStripe.emit`, :meth:`~FakeStripe.wait_idle`, :meth:`~FakeStripe.reset`, and the
``sessions``, ``events``, :meth:`~FakeStripe.deliveries` and ``log`` records.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import html
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import requests

from nexus_local.httpd import LocalHTTPServer

API_VERSION = "2026-10-28.endive"
MIN_EXPIRY = 30 * 60  # Checkout Sessions expire 30 minutes to 24 hours after creation
MAX_EXPIRY = 24 * 60 * 60
IDEMPOTENCY_TTL = 24 * 60 * 60
MAX_IDEMPOTENCY_KEY = 255
RESPONSE_KEPT = 2000  # characters of a webhook receiver's answer kept with its delivery
# Stripe's minimum charge amounts (in the currency's smallest unit) for the currencies a
# seller is likely to price in; Stripe refuses a Checkout Session whose total is below.
MINIMUM_CHARGE = {
    "usd": 50,
    "eur": 50,
    "aud": 50,
    "cad": 50,
    "chf": 50,
    "nzd": 50,
    "sgd": 50,
    "brl": 50,
    "inr": 50,
    "gbp": 30,
    "dkk": 250,
    "nok": 300,
    "sek": 300,
    "pln": 200,
    "czk": 1500,
    "hkd": 400,
    "mxn": 1000,
    "jpy": 50,
}
ZERO_DECIMAL = frozenset({"jpy", "krw", "vnd", "clp", "pyg", "ugx", "xaf", "xof"})
SESSION_PARAMS = frozenset(
    {
        "mode",
        "line_items",
        "customer_email",
        "client_reference_id",
        "metadata",
        "success_url",
        "cancel_url",
        "expires_at",
        "payment_method_types",
        "payment_intent_data",
        "locale",
        "submit_type",
        "allow_promotion_codes",
        "billing_address_collection",
        "customer_creation",
        "ui_mode",
        "expand",
    }
)
LINE_ITEM_PARAMS = frozenset({"price", "price_data", "quantity"})
PRICE_DATA_PARAMS = frozenset(
    {"currency", "unit_amount", "unit_amount_decimal", "product", "product_data", "tax_behavior"}
)
PRODUCT_DATA_PARAMS = frozenset({"name", "description", "images", "metadata", "tax_code"})
REFUND_PARAMS = frozenset({"payment_intent", "charge", "amount", "reason", "metadata", "expand"})
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CHECKOUT_SESSION_ID = "{CHECKOUT_SESSION_ID}"

Json = dict[str, Any]


def stripe_signature(secret: str, payload: bytes | str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends with ``payload``: ``t=<unix>,v1=<hex>``
    where v1 is HMAC-SHA256(secret, ``"<t>.<payload>"``). Tests sign their own (old, forged,
    several-``v1``) headers with it."""
    t = int(time.time()) if timestamp is None else timestamp
    body = payload.decode() if isinstance(payload, bytes) else payload
    digest = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def new_id(prefix: str, length: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


class StripeError(Exception):
    """A Stripe error answer: ``{"error": {type, code, message, param, doc_url}}``."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.kind, self.code, self.param = status, kind, code, param

    def body(self, request_id: str) -> Json:
        err: Json = {"message": str(self), "type": self.kind}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            err["param"] = self.param
        err["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": err}


def missing(param: str) -> StripeError:
    return StripeError(f"Missing required param: {param}.", code="parameter_missing", param=param)


# -- form decoding ---------------------------------------------------------------------------
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_form(raw: str) -> Json:
    """Decode a Stripe form body: bracket keys nest, all-numeric keys make lists, ``[]``
    appends; the last of repeated scalars wins, as Rack does for Stripe."""
    root: Json = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        match = _KEY.match(key)
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))] if match else [key]
        node = root
        for part in path[:-1]:
            child = node.setdefault(part or str(len(node)), {})
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1] or str(len(node))] = value
    out = _lists(root)
    return out if isinstance(out, dict) else root


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _lists(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def _unknown(params: Json, allowed: frozenset[str], prefix: str = "") -> None:
    for key in params:
        if key not in allowed:
            name = f"{prefix}[{key}]" if prefix else key
            raise StripeError(
                f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )


def _integer(value: Any, param: str, *, minimum: int = 0) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise StripeError(
            f"Invalid integer: {value}", code="parameter_invalid_integer", param=param
        )
    number = int(value)
    if number < minimum:
        raise StripeError(
            f"This value must be greater than or equal to {minimum}.",
            code="parameter_invalid_integer",
            param=param,
        )
    return number


def _string(params: Json, name: str, param: str | None = None) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise StripeError(f"Invalid string: {value!r}", param=param or name)
    return value


def _metadata(value: Any, param: str) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise StripeError("Invalid object", param=param)
    if len(value) > 50:
        raise StripeError("Metadata can have at most 50 keys.", param=param)
    out: dict[str, str] = {}
    for key, item in value.items():
        if len(key) > 40 or not isinstance(item, str) or len(item) > 500:
            raise StripeError(
                "Metadata keys are at most 40 characters and values at most 500 characters.",
                param=f"{param}[{key}]",
            )
        if item:  # an empty value unsets the key
            out[key] = item
    return out


def _url(params: Json, name: str, *, required: bool) -> str | None:
    value = _string(params, name)
    if value is None:
        if required:
            raise missing(name)
        return None
    if not re.match(r"^https?://[^\s/]+", value):
        raise StripeError("Not a valid URL", code="url_invalid", param=name)
    return value


def money(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL:
        return f"{amount} {currency.upper()}"
    return f"{amount // 100}.{amount % 100:02d} {currency.upper()}"


@dataclass
class LineItem:
    name: str
    currency: str
    unit_amount: int
    quantity: int
    description: str | None = None

    def as_json(self, item_id: str) -> Json:
        total = self.unit_amount * self.quantity
        return {
            "id": item_id,
            "object": "item",
            "amount_discount": 0,
            "amount_subtotal": total,
            "amount_tax": 0,
            "amount_total": total,
            "currency": self.currency,
            "description": self.name,
            "quantity": self.quantity,
            "price": {
                "object": "price",
                "active": False,
                "currency": self.currency,
                "type": "one_time",
                "unit_amount": self.unit_amount,
                "unit_amount_decimal": str(self.unit_amount),
            },
        }


def _line_item(index: int, raw: Any) -> LineItem:
    at = f"line_items[{index}]"
    if not isinstance(raw, dict):
        raise StripeError("Invalid object", param=at)
    _unknown(raw, LINE_ITEM_PARAMS, at)
    if raw.get("price"):
        raise StripeError(
            f"No such price: '{raw['price']}'", code="resource_missing", param=f"{at}[price]"
        )
    data = raw.get("price_data")
    if not isinstance(data, dict):
        raise missing(f"{at}[price_data]")
    _unknown(data, PRICE_DATA_PARAMS, f"{at}[price_data]")
    currency = _string(data, "currency", f"{at}[price_data][currency]")
    if currency is None:
        raise missing(f"{at}[price_data][currency]")
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise StripeError(f"Invalid currency: {currency}.", param=f"{at}[price_data][currency]")
    if data.get("unit_amount") in (None, ""):
        raise missing(f"{at}[price_data][unit_amount]")
    unit_amount = _integer(data["unit_amount"], f"{at}[price_data][unit_amount]")
    name, description = _product(data, f"{at}[price_data]")
    if raw.get("quantity") in (None, ""):
        raise missing(f"{at}[quantity]")
    quantity = _integer(raw["quantity"], f"{at}[quantity]", minimum=1)
    return LineItem(name, currency, unit_amount, quantity, description)


def _product(data: Json, at: str) -> tuple[str, str | None]:
    if data.get("product"):
        raise StripeError(
            f"No such product: '{data['product']}'", code="resource_missing", param=f"{at}[product]"
        )
    product = data.get("product_data")
    if not isinstance(product, dict):
        raise missing(f"{at}[product_data]")
    _unknown(product, PRODUCT_DATA_PARAMS, f"{at}[product_data]")
    name = _string(product, "name", f"{at}[product_data][name]")
    if name is None:
        raise missing(f"{at}[product_data][name]")
    return name, _string(product, "description")


def _line_items(params: Json) -> list[LineItem]:
    raw = params.get("line_items")
    if not raw:
        raise missing("line_items")
    if not isinstance(raw, list):
        raise StripeError("Invalid array", param="line_items")
    items = [_line_item(i, item) for i, item in enumerate(raw)]
    if len({item.currency for item in items}) > 1:
        raise StripeError(
            "All line items must use the same currency.", param="line_items[1][price_data]"
        )
    return items


def _expires_at(params: Json, now: int) -> int:
    if params.get("expires_at") in (None, ""):
        return now + MAX_EXPIRY
    expires_at = _integer(params["expires_at"], "expires_at")
    if expires_at < now + MIN_EXPIRY:
        raise StripeError(
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session "
            "creation.",
            param="expires_at",
        )
    if expires_at > now + MAX_EXPIRY:
        raise StripeError(
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            param="expires_at",
        )
    return expires_at


def _session_fields(params: Json) -> Json:
    """Everything but the line items and the expiry, checked as Stripe checks them."""
    _unknown(params, SESSION_PARAMS)
    mode = _string(params, "mode")
    if mode is None:
        raise missing("mode")
    if mode != "payment":
        raise StripeError(
            f"Invalid mode: {mode} (this sandbox serves mode=payment only)", param="mode"
        )
    if _string(params, "ui_mode") not in (None, "hosted"):
        raise StripeError("This sandbox serves ui_mode=hosted only.", param="ui_mode")
    email = _string(params, "customer_email")
    if email is not None and not EMAIL.match(email):
        raise StripeError(
            f"Invalid email address: {email}", code="email_invalid", param="customer_email"
        )
    reference = _string(params, "client_reference_id")
    if reference is not None and len(reference) > 200:
        raise StripeError(
            "client_reference_id must be at most 200 characters.", param="client_reference_id"
        )
    intent = params.get("payment_intent_data") or {}
    if not isinstance(intent, dict):
        raise StripeError("Invalid object", param="payment_intent_data")
    return {
        "mode": mode,
        "customer_email": email,
        "client_reference_id": reference,
        "metadata": _metadata(params.get("metadata"), "metadata"),
        "success_url": _url(params, "success_url", required=True),
        "cancel_url": _url(params, "cancel_url", required=False),
        "locale": _string(params, "locale"),
        "submit_type": _string(params, "submit_type"),
        "intent_metadata": _metadata(intent.get("metadata"), "payment_intent_data[metadata]"),
    }


def _minimum(total: int, currency: str) -> None:
    floor = MINIMUM_CHARGE.get(currency)
    if floor is not None and total < floor:
        raise StripeError(
            f"The Checkout Session's total amount due must add up to at least "
            f"{money(floor, currency)}",
            code="amount_too_small",
            param="line_items",
        )


# -- the sandbox's records -------------------------------------------------------------------
@dataclass
class Payment:
    """A succeeded PaymentIntent and its one charge."""

    intent_id: str
    charge_id: str
    session_id: str
    amount: int
    currency: str
    email: str | None
    metadata: dict[str, str]
    created: int
    amount_refunded: int = 0

    def charge(self) -> Json:
        return {
            "id": self.charge_id,
            "object": "charge",
            "amount": self.amount,
            "amount_captured": self.amount,
            "amount_refunded": self.amount_refunded,
            "balance_transaction": None,
            "billing_details": {"email": self.email, "name": None},
            "captured": True,
            "created": self.created,
            "currency": self.currency,
            "customer": None,
            "description": None,
            "livemode": False,
            "metadata": dict(self.metadata),
            "paid": True,
            "payment_intent": self.intent_id,
            "receipt_email": self.email,
            "refunded": self.amount_refunded >= self.amount,
            "status": "succeeded",
        }


@dataclass
class Saved:
    """An idempotent result: the endpoint and parameters it was made for, and its answer."""

    endpoint: str
    fingerprint: str
    status: int
    body: Json
    request_id: str
    created: int


@dataclass
class Failure:
    status: int | Literal["timeout"]
    applied: bool
    hang_for: float | None


@dataclass
class Call:
    """One API request as the handlers see it."""

    method: str
    path: str
    params: Json
    request_id: str
    idempotency_key: str | None
    ids: dict[str, str] = field(default_factory=dict)


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


Handler = Callable[[Call], Json]


class FakeStripe:
    """The sandbox. ``FakeStripe(secret_key, webhook_secret, webhook_url)``; ``start()``
    returns the base URL to use as ``STRIPE_API_BASE_URL``; ``stop()`` ends it.

    ``retry_delays``: the waits before the 2nd, 3rd, … delivery attempt of an event that a
    receiver refused or could not be reached for. ``auto_deliver=False`` records events
    without sending them, for a test to :meth:`deliver` them in any order, or twice;
    ``repeat`` sends each event that many times. ``sweep_interval=None`` leaves expiry to
    :meth:`expire_due` / :meth:`advance_time` alone."""

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        webhook_url: str | None = None,
        *,
        retry_delays: Sequence[float] = (1.0, 5.0, 25.0),
        auto_deliver: bool = True,
        repeat: int = 1,
        sweep_interval: float | None = 1.0,
        delivery_timeout: float = 10.0,
        api_version: str = API_VERSION,
    ) -> None:
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.retry_delays = tuple(retry_delays)
        self.auto_deliver = auto_deliver
        self.repeat = repeat
        self.sweep_interval = sweep_interval
        self.delivery_timeout = delivery_timeout
        self.api_version = api_version
        self.base_url = ""
        self.log: list[Json] = []  # every API request: method, path, idempotency key, status
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._sessions: dict[str, Json] = {}
        self._line_items: dict[str, list[LineItem]] = {}
        self._intent_metadata: dict[str, dict[str, str]] = {}
        self._payments: dict[str, Payment] = {}  # by PaymentIntent id
        self._events: dict[str, Json] = {}
        self._bodies: dict[str, bytes] = {}
        self._deliveries: dict[str, list[Json]] = {}
        self._saved: dict[tuple[str, str], Saved] = {}
        self._failures: list[Failure] = []
        self._timers: set[threading.Timer] = set()
        self._inflight = 0
        self._offset = 0.0
        self._released = threading.Event()
        self._server: LocalHTTPServer | None = None
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("POST", re.compile(r"/v1/checkout/sessions"), self._create_session),
            ("GET", re.compile(r"/v1/checkout/sessions/(?P<id>[^/]+)"), self._get_session),
            (
                "GET",
                re.compile(r"/v1/checkout/sessions/(?P<id>[^/]+)/line_items"),
                self._get_line_items,
            ),
            (
                "POST",
                re.compile(r"/v1/checkout/sessions/(?P<id>[^/]+)/expire"),
                self._expire_session,
            ),
            ("POST", re.compile(r"/v1/refunds"), self._create_refund),
            ("GET", re.compile(r"/v1/events/(?P<id>[^/]+)"), self._get_event),
        ]

    # -- clock ---------------------------------------------------------------------------
    def now(self) -> int:
        """The sandbox's clock (real time plus :meth:`advance_time`)."""
        return int(time.time() + self._offset)

    def advance_time(self, seconds: float) -> list[str]:
        """Move the sandbox's clock on; sessions whose ``expires_at`` passed expire (each
        sending ``checkout.session.expired``). Returns their ids. Signatures keep real time,
        as a receiver checks them against its own clock."""
        with self._lock:
            self._offset += seconds
        return self.expire_due()

    def expire_due(self) -> list[str]:
        with self._lock:
            now = self.now()
            due = [
                sid
                for sid, s in self._sessions.items()
                if s["status"] == "open" and s["expires_at"] <= now
            ]
            for sid in due:
                self._expire(sid, None)
            return due

    # -- test controls -------------------------------------------------------------------
    def fail_next(
        self,
        status: int | Literal["timeout"] = 500,
        count: int = 1,
        *,
        applied: bool = False,
        hang_for: float | None = None,
    ) -> None:
        """The next ``count`` API requests fail: with ``status`` (a Stripe error body; 429
        is ``rate_limit_error``, 5xx ``api_error``), or ``"timeout"``: accepted and never
        answered (for ``hang_for`` seconds, or until stop()), then the connection closes.
        ``applied=True``: the request takes effect all the same and only its answer is
        lost (its idempotent result is saved)."""
        with self._lock:
            self._failures.extend(Failure(status, applied, hang_for) for _ in range(count))

    @property
    def sessions(self) -> list[Json]:
        with self._lock:
            return [copy.deepcopy(s) for s in self._sessions.values()]

    def session(self, session_id: str) -> Json:
        with self._lock:
            return copy.deepcopy(self._sessions[session_id])

    @property
    def events(self) -> list[Json]:
        """Every event so far, oldest first."""
        with self._lock:
            return [copy.deepcopy(e) for e in self._events.values()]

    def deliveries(self, event_id: str) -> list[Json]:
        """The delivery attempts of an event: ``{attempt, at, status, error, response}``
        (``response``: the start of the receiver's answer, as the Dashboard shows it)."""
        with self._lock:
            return copy.deepcopy(self._deliveries.get(event_id, []))

    def pay(self, session_id: str) -> Json:
        """What the hosted page's Pay button does: the session completes, paid, with a new
        PaymentIntent; ``checkout.session.completed`` is sent. Returns the session."""
        with self._lock:
            session = self._open(session_id)
            self._settle(session)
            session["status"] = "complete"
            self._emit("checkout.session.completed", session, None)
            return copy.deepcopy(session)

    def pay_async(self, session_id: str, *, succeed: bool) -> Json:
        """A delayed payment method: ``checkout.session.completed`` with ``payment_status:
        "unpaid"``, then ``checkout.session.async_payment_succeeded`` (paid, with a
        PaymentIntent) or ``…async_payment_failed``."""
        with self._lock:
            session = self._open(session_id)
            session["status"] = "complete"
            session["url"] = None
            session["customer_details"] = self._customer(session)
            self._emit("checkout.session.completed", session, None)
            if succeed:
                self._settle(session)
                self._emit("checkout.session.async_payment_succeeded", session, None)
            else:
                self._emit("checkout.session.async_payment_failed", session, None)
            return copy.deepcopy(session)

    def emit(self, event_type: str, obj: Json) -> Json:
        """Record and send any event (``stripe trigger`` by hand)."""
        with self._lock:
            return copy.deepcopy(self._emit(event_type, obj, None))

    def deliver(self, event_id: str) -> int | None:
        """Send an event once more, now, in this thread (no retries): the receiver's status,
        or None when it could not be reached. With ``auto_deliver=False`` a test sends
        events in any order, or twice, with this."""
        with self._lock:
            if event_id not in self._events:
                raise KeyError(event_id)
            self._inflight += 1
        return self._attempt(event_id, len(self.deliveries(event_id)) + 1, retry=False)

    def resend(self, event_id: str) -> None:
        """Queue another delivery of an event, with retries (as the Dashboard's Resend)."""
        with self._lock:
            if event_id not in self._events:
                raise KeyError(event_id)
            self._schedule(event_id, 0.0, 1)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no delivery is pending or under way (retries included)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._timers or self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def reset(self) -> None:
        """Forget everything (sessions, payments, events, saved idempotent results, pending
        failures and deliveries, the clock's offset): one sandbox can serve many tests."""
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            for store in (
                self._sessions,
                self._line_items,
                self._intent_metadata,
                self._payments,
                self._events,
                self._bodies,
                self._deliveries,
                self._saved,
            ):
                store.clear()
            self._failures.clear()
            self.log.clear()
            self._offset = 0.0
            self._idle.notify_all()

    # -- state changes (under the lock) --------------------------------------------------
    def _open(self, session_id: str) -> Json:
        session = self._sessions.get(session_id)
        if session is None:
            raise StripeError(
                f"No such checkout.session: '{session_id}'",
                status=404,
                code="resource_missing",
                param="session",
            )
        if session["status"] == "open" and session["expires_at"] <= self.now():
            self._expire(session_id, None)
        if session["status"] != "open":
            raise StripeError(
                f"This Checkout Session is {session['status']} and can no longer be paid.",
                code="checkout_session_not_open",
            )
        return session

    def _customer(self, session: Json) -> Json:
        return {
            "address": None,
            "email": session["customer_email"] or "buyer@example.com",
            "name": "Sandbox Buyer",
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        }

    def _settle(self, session: Json) -> None:
        payment = Payment(
            intent_id=new_id("pi_"),
            charge_id=new_id("ch_"),
            session_id=session["id"],
            amount=session["amount_total"],
            currency=session["currency"],
            email=session["customer_email"],
            metadata=self._intent_metadata.get(session["id"], {}),
            created=self.now(),
        )
        self._payments[payment.intent_id] = payment
        session.update(
            payment_intent=payment.intent_id,
            payment_status="paid",
            url=None,
            customer_details=self._customer(session),
        )

    def _expire(self, session_id: str, call: Call | None) -> Json:
        session = self._sessions[session_id]
        session.update(status="expired", url=None)
        self._emit("checkout.session.expired", session, call)
        return session

    def _emit(
        self, event_type: str, obj: Json, call: Call | None, previous: Json | None = None
    ) -> Json:
        event: Json = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": self.api_version,
            "created": self.now(),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1 if self.webhook_url else 0,
            "request": {
                "id": call.request_id if call else None,
                "idempotency_key": call.idempotency_key if call else None,
            },
            "type": event_type,
        }
        if previous is not None:
            event["data"]["previous_attributes"] = previous
        self._events[event["id"]] = event
        self._bodies[event["id"]] = json.dumps(event, indent=2).encode()
        self._deliveries[event["id"]] = []
        if self.auto_deliver and self.webhook_url:
            for _ in range(self.repeat):
                self._schedule(event["id"], 0.0, 1)
        return event

    # -- webhook delivery ----------------------------------------------------------------
    def _schedule(self, event_id: str, delay: float, attempt: int) -> None:
        if self._released.is_set():
            return
        timer: threading.Timer

        def fire() -> None:
            with self._idle:
                self._timers.discard(timer)
                self._inflight += 1
            self._attempt(event_id, attempt, retry=True)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        self._timers.add(timer)
        timer.start()

    def _attempt(self, event_id: str, attempt: int, *, retry: bool) -> int | None:
        """One delivery (the caller counted it in ``_inflight``)."""
        status: int | None = None
        error: str | None = None
        response: str | None = None
        try:
            body = self._bodies[event_id]
            if self.webhook_url is None:
                error = "no webhook endpoint"
            else:
                answer = requests.post(
                    self.webhook_url,
                    data=body,
                    headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                        "Stripe-Signature": stripe_signature(self.webhook_secret, body),
                    },
                    timeout=self.delivery_timeout,
                )
                status = answer.status_code
                response = answer.text[:RESPONSE_KEPT]
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        with self._idle:
            self._inflight -= 1
            self._deliveries[event_id].append(
                {
                    "attempt": attempt,
                    "at": time.time(),
                    "status": status,
                    "error": error,
                    "response": response,
                }
            )
            ok = status is not None and 200 <= status < 300
            if retry and not ok and self.webhook_url and attempt <= len(self.retry_delays):
                self._schedule(event_id, self.retry_delays[attempt - 1], attempt + 1)
            self._idle.notify_all()
        return status

    # -- API handlers (under the lock) ---------------------------------------------------
    def _create_session(self, call: Call) -> Json:
        fields = _session_fields(call.params)
        items = _line_items(call.params)
        now = self.now()
        expires_at = _expires_at(call.params, now)
        currency = items[0].currency
        total = sum(item.unit_amount * item.quantity for item in items)
        _minimum(total, currency)
        session_id = new_id("cs_test_a1", 58)
        intent_metadata = fields.pop("intent_metadata")
        session: Json = {
            "id": session_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": None,
            "amount_subtotal": total,
            "amount_total": total,
            "automatic_tax": {"enabled": False, "liability": None, "status": None},
            "billing_address_collection": None,
            "client_secret": None,
            "created": now,
            "currency": currency,
            "customer": None,
            "customer_creation": "if_required",
            "customer_details": None,
            "expires_at": expires_at,
            "invoice": None,
            "livemode": False,
            "payment_intent": None,
            "payment_link": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted",
            "url": f"{self.base_url}/pay/{session_id}",
            **fields,
        }
        self._sessions[session_id] = session
        self._line_items[session_id] = items
        self._intent_metadata[session_id] = intent_metadata
        return session

    def _known(self, session_id: str) -> Json:
        session = self._sessions.get(session_id)
        if session is None:
            raise StripeError(
                f"No such checkout.session: '{session_id}'",
                status=404,
                code="resource_missing",
                param="session",
            )
        return session

    def _get_session(self, call: Call) -> Json:
        return self._known(call.ids["id"])

    def _get_line_items(self, call: Call) -> Json:
        session = self._known(call.ids["id"])
        items = self._line_items[session["id"]]
        return {
            "object": "list",
            "data": [item.as_json(f"li_{session['id'][-16:]}{i}") for i, item in enumerate(items)],
            "has_more": False,
            "url": f"/v1/checkout/sessions/{session['id']}/line_items",
        }

    def _expire_session(self, call: Call) -> Json:
        session = self._known(call.ids["id"])
        if session["status"] != "open":
            raise StripeError(
                f'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f'Checkout Session has a status of "{session["status"]}".',
                param="session",
            )
        return self._expire(session["id"], call)

    def _payment_for(self, params: Json) -> Payment:
        intent, charge = _string(params, "payment_intent"), _string(params, "charge")
        if intent is None and charge is None:
            raise StripeError(
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                code="parameter_missing",
                param="payment_intent",
            )
        if charge is not None:
            found = [p for p in self._payments.values() if p.charge_id == charge]
            if not found:
                raise StripeError(
                    f"No such charge: '{charge}'", code="resource_missing", param="charge"
                )
            return found[0]
        assert intent is not None
        payment = self._payments.get(intent)
        if payment is None:
            raise StripeError(
                f"No such payment_intent: '{intent}'",
                code="resource_missing",
                param="payment_intent",
            )
        return payment

    def _create_refund(self, call: Call) -> Json:
        params = call.params
        _unknown(params, REFUND_PARAMS)
        payment = self._payment_for(params)
        reason = _string(params, "reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise StripeError(f"Invalid reason: {reason}", param="reason")
        metadata = _metadata(params.get("metadata"), "metadata")
        left = payment.amount - payment.amount_refunded
        if left <= 0:
            raise StripeError(
                f"Charge {payment.charge_id} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = left
        if params.get("amount") not in (None, ""):
            amount = _integer(params["amount"], "amount", minimum=1)
        if amount > left:
            raise StripeError(
                f"Refund amount ({money(amount, payment.currency)}) is greater than "
                f"unrefunded amount on charge ({money(left, payment.currency)})",
                code="amount_too_large",
                param="amount",
            )
        previous = payment.charge()
        payment.amount_refunded += amount
        charge = payment.charge()
        self._emit(
            "charge.refunded",
            charge,
            call,
            {"amount_refunded": previous["amount_refunded"], "refunded": previous["refunded"]},
        )
        return {
            "id": new_id("re_"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": None,
            "charge": payment.charge_id,
            "created": self.now(),
            "currency": payment.currency,
            "metadata": metadata,
            "payment_intent": payment.intent_id,
            "reason": reason,
            "status": "succeeded",
        }

    def _get_event(self, call: Call) -> Json:
        event = self._events.get(call.ids["id"])
        if event is None:
            raise StripeError(
                f"No such event: '{call.ids['id']}'", status=404, code="resource_missing"
            )
        return event

    # -- the API: auth, idempotency, injected failures -----------------------------------
    def _authorised(self, header: str) -> StripeError | None:
        key = None
        if header.lower().startswith("bearer "):
            key = header[7:].strip()
        elif header.lower().startswith("basic "):
            try:
                key = base64.b64decode(header[6:]).decode().split(":", 1)[0]
            except ValueError:
                key = None
        if not key:
            return StripeError(
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
                status=401,
            )
        if not hmac.compare_digest(key, self.secret_key):
            return StripeError(f"Invalid API Key provided: {key[:8]}****{key[-4:]}", status=401)
        return None

    def _route(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        for verb, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and verb == method:
                return handler, match.groupdict()
        return None

    def api(self, call: Call, authorization: str) -> Answer:
        """Answer one API call (the HTTP layer has parsed it)."""
        headers = {"Request-Id": call.request_id, "Stripe-Version": self.api_version}
        denied = self._authorised(authorization)
        if denied is not None:
            headers["WWW-Authenticate"] = 'Bearer realm="Stripe"'
            return Answer(401, denied.body(call.request_id), headers)
        route = self._route(call.method, call.path)
        if route is None:
            return Answer(404, self._unrecognised(call), headers)
        handler, call.ids = route
        key = call.idempotency_key if call.method == "POST" else None
        if key is not None:
            headers["Idempotency-Key"] = key
        with self._lock:
            self.expire_due()
            return self._run(handler, call, key, headers)

    def _unrecognised(self, call: Call) -> Json:
        message = (
            f"Unrecognized request URL ({call.method}: {call.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/."
        )
        return {"error": {"message": message, "type": "invalid_request_error"}}

    def _run(
        self, handler: Handler, call: Call, key: str | None, headers: dict[str, str]
    ) -> Answer:
        if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
            error = StripeError(
                f"Invalid idempotency key: must be at most {MAX_IDEMPOTENCY_KEY} characters.",
                param="Idempotency-Key",
            )
            return Answer(400, error.body(call.request_id), headers)
        if key is not None:
            replay = self._replay(call, key, headers)
            if replay is not None:
                return replay
        try:
            body = copy.deepcopy(handler(call))
        except StripeError as err:
            return Answer(err.status, err.body(call.request_id), headers)
        if key is not None:
            endpoint = f"{call.method} {call.path}"
            fingerprint = _fingerprint(call.params)
            saved = Saved(endpoint, fingerprint, 200, body, call.request_id, self.now())
            self._saved[(self.secret_key, key)] = saved
        return Answer(200, body, headers)

    def _replay(self, call: Call, key: str, headers: dict[str, str]) -> Answer | None:
        saved = self._saved.get((self.secret_key, key))
        if saved is not None and saved.created + IDEMPOTENCY_TTL <= self.now():
            del self._saved[(self.secret_key, key)]
            saved = None
        if saved is None:
            return None
        endpoint = f"{call.method} {call.path}"
        if saved.endpoint != endpoint:
            message = (
                "Keys for idempotent requests can only be used for the same endpoint they were "
                f"first used for ('{saved.endpoint}' vs '{endpoint}'). Try using a key other "
                f"than '{key}' if you meant to execute a different request."
            )
        elif saved.fingerprint != _fingerprint(call.params):
            message = (
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request."
            )
        else:
            replayed = {
                **headers,
                "Idempotent-Replayed": "true",
                "Original-Request": saved.request_id,
            }
            return Answer(saved.status, copy.deepcopy(saved.body), replayed)
        error = StripeError(message, kind="idempotency_error")
        return Answer(400, error.body(call.request_id), headers)

    def _take_failure(self) -> Failure | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _failed(self, failure: Failure, call: Call) -> Answer:
        status = 500 if failure.status == "timeout" else failure.status
        if status == 429:
            error = StripeError(
                "Too many requests hit the API too quickly.",
                status=429,
                kind="rate_limit_error",
                code="rate_limit",
            )
        else:
            error = StripeError(
                "An unknown error occurred (injected by the sandbox).",
                status=status,
                kind="api_error",
            )
        return Answer(status, error.body(call.request_id), {"Request-Id": call.request_id})

    # -- hosted page and sandbox endpoints -----------------------------------------------
    def page(self, method: str, path: str) -> Answer:
        parts = [p for p in path.split("/") if p]
        with self._lock:
            session = self._sessions.get(parts[1]) if len(parts) >= 2 else None
            if session is None:
                return _html(404, "Not found", "<p id='status'>No such Checkout Session.</p>")
            if method == "GET" and len(parts) == 2:
                return self._render(session)
            if method == "POST" and len(parts) == 3 and parts[2] == "pay":
                return self._pay_button(session)
            if method == "POST" and len(parts) == 3 and parts[2] == "cancel":
                if session["cancel_url"]:
                    return _redirect(session["cancel_url"])
                return _html(200, "Cancelled", "<p id='status'>Payment cancelled.</p>")
        return _html(405, "Not allowed", "<p id='status'>Not allowed.</p>")

    def _pay_button(self, session: Json) -> Answer:
        if session["status"] == "open" and session["expires_at"] <= self.now():
            self._expire(session["id"], None)
        if session["status"] == "expired":
            return _html(410, "Expired", "<p id='status'>This Checkout Session has expired.</p>")
        if session["status"] == "open":
            self.pay(session["id"])
        return _redirect(session["success_url"].replace(CHECKOUT_SESSION_ID, session["id"]))

    def _render(self, session: Json) -> Answer:
        items = self._line_items[session["id"]]
        name = html.escape(items[0].name)
        amount = html.escape(money(session["amount_total"], session["currency"]))
        sid = html.escape(session["id"])
        if session["status"] != "open":
            body = f"<p id='status'>This Checkout Session is {session['status']}.</p>"
            return _html(200, name, body)
        email = html.escape(session["customer_email"] or "")
        body = f"""<main>
<h1 id="product-name">{name}</h1>
<p id="amount" data-amount="{session["amount_total"]}">{amount}</p>
<p id="email">{email}</p>
<form id="pay-form" method="post" action="/pay/{sid}/pay">
<button id="pay-button" type="submit">Pay</button></form>
<form id="cancel-form" method="post" action="/pay/{sid}/cancel">
<button id="cancel-button" type="submit">Cancel</button></form>
<p class="note">Sandbox Stripe: no card is charged.</p>
</main>"""
        return _html(200, f"Pay {name}", body)

    def sandbox(self, method: str, path: str, raw: bytes, query: str = "") -> Answer:
        parts = [p for p in path.split("/") if p][1:]
        if method == "GET" and parts in (["events"], ["sessions"]):
            return Answer(200, self._listing(parts[0], query))
        if method == "POST" and parts == ["events"]:
            try:
                sent = json.loads(raw or b"{}")
                event = self.emit(str(sent["type"]), dict(sent["data"]["object"]))
            except (ValueError, KeyError, TypeError):
                return Answer(400, {"error": "expected {type, data: {object}}"})
            return Answer(200, event)
        if method == "POST" and len(parts) == 3 and parts[0] == "events" and parts[2] == "resend":
            try:
                self.resend(parts[1])
            except KeyError:
                return Answer(404, {"error": f"no such event {parts[1]}"})
            return Answer(202, {"id": parts[1], "queued": True})
        return Answer(404, {"error": "unknown sandbox route"})

    def _listing(self, what: str, query: str) -> Json:
        """``GET /_sandbox/events`` (with every event's deliveries) or ``/_sandbox/sessions``
        (``?client_reference_id=``: one order's), newest first."""
        with self._lock:
            if what == "events":
                data = [copy.deepcopy(e) for e in reversed(self._events.values())]
                deliveries = copy.deepcopy(self._deliveries)
                return {"object": "list", "data": data, "deliveries": deliveries}
            sessions = [copy.deepcopy(s) for s in reversed(self._sessions.values())]
        wanted = parse_form(query).get("client_reference_id")
        if isinstance(wanted, str):
            sessions = [s for s in sessions if s["client_reference_id"] == wanted]
        return {"object": "list", "data": sessions}

    # -- HTTP ----------------------------------------------------------------------------
    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serve on ``host:port`` (0: any free port); returns the base URL."""
        stripe = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                answer = stripe.answer(self, self.rfile.read(length) if length else b"")
                if answer is None:
                    self.close_connection = True
                else:
                    self._send(answer)

            def _send(self, answer: Answer) -> None:
                if isinstance(answer.body, bytes):
                    data = answer.body
                else:
                    data = json.dumps(answer.body, indent=2).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", f"{answer.content_type}; charset=utf-8")
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = LocalHTTPServer((host, port), RequestHandler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.base_url = f"http://{host}:{self._server.server_address[1]}"
        if self.sweep_interval:
            threading.Thread(target=self._sweep, daemon=True).start()
        return self.base_url

    def answer(self, request: BaseHTTPRequestHandler, raw: bytes) -> Answer | None:
        split = urlsplit(request.path)
        if split.path.startswith("/v1/"):
            return self.http_api(request, split.path, split.query, raw)
        if split.path.startswith("/pay/"):
            return self.page(request.command, split.path)
        if split.path.startswith("/_sandbox/"):
            return self.sandbox(request.command, split.path, raw, split.query)
        return Answer(404, {"error": "not found"})

    def http_api(
        self, request: BaseHTTPRequestHandler, path: str, query: str, raw: bytes
    ) -> Answer | None:
        """An API request off the wire; None: leave it unanswered (an injected timeout)."""
        params = parse_form(raw.decode() if request.command == "POST" else query)
        call = Call(
            method=request.command,
            path=path,
            params=params,
            request_id=new_id("req_", 14),
            idempotency_key=request.headers.get("Idempotency-Key") or None,
        )
        failure = self._take_failure()
        if failure is None or failure.applied:
            answer = self.api(call, request.headers.get("Authorization") or "")
        if failure is not None:  # in front of the API: an applied call's answer is lost
            answer = self._failed(failure, call)
        self._record(call, answer.status, failure)
        if failure is not None and failure.status == "timeout":
            self._released.wait(failure.hang_for)
            return None
        return answer

    def _record(self, call: Call, status: int, failure: Failure | None) -> None:
        with self._lock:
            self.log.append(
                {
                    "method": call.method,
                    "path": call.path,
                    "idempotency_key": call.idempotency_key,
                    "status": "timeout" if failure and failure.status == "timeout" else status,
                    "request_id": call.request_id,
                }
            )

    def _sweep(self) -> None:
        assert self.sweep_interval
        while not self._released.wait(self.sweep_interval):
            self.expire_due()

    def stop(self) -> None:
        self._released.set()  # hung requests end unanswered; no new deliveries
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeStripe:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _fingerprint(params: Json) -> str:
    return json.dumps(params, sort_keys=True)


def _redirect(location: str) -> Answer:
    return Answer(303, b"", {"Location": location}, "text/plain")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Sandbox Stripe</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f6f9fc; color: #30313d; }}
main {{ max-width: 24rem; margin: 4rem auto; padding: 2rem; background: #fff;
  border-radius: 8px; box-shadow: 0 2px 8px rgba(0,0,0,.08); }}
#amount {{ font-size: 2rem; font-weight: 600; }}
button {{ width: 100%; padding: .75rem; margin-top: .75rem; font-size: 1rem;
  border-radius: 6px; border: 1px solid #635bff; cursor: pointer; }}
#pay-button {{ background: #635bff; color: #fff; }}
#cancel-button {{ background: #fff; color: #635bff; }}
.note {{ font-size: .8rem; color: #6a7383; }}
</style></head>
<body>{body}</body></html>
"""


def _html(status: int, title: str, body: str) -> Answer:
    return Answer(status, PAGE.format(title=title, body=body).encode(), {}, "text/html")


def _iter_pairs(params: Json, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Encode nested params back to Stripe's bracket form (for tests and tools)."""
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, dict):
            yield from _iter_pairs(value, name)
        elif isinstance(value, list):
            yield from _iter_pairs({str(i): v for i, v in enumerate(value)}, name)
        else:
            yield name, str(value)


def encode_form(params: Json) -> list[tuple[str, str]]:
    """``{"metadata": {"order_id": "o1"}}`` → ``[("metadata[order_id]", "o1")]``."""
    return list(_iter_pairs(params))
