"""``make stripe ARGS="..."``: the local stack's sandbox Stripe by hand, as ``stripe trigger``
and the Dashboard's event list do it for a real account.

    make stripe ARGS="trigger checkout.session.completed --order <order id>"
    make stripe ARGS="trigger checkout.session.expired --session cs_..."
    make stripe ARGS="trigger charge.refunded --session cs_..."   # the session's payment
    make stripe ARGS="events"                                     # recent events, deliveries
    make stripe ARGS="resend evt_..."                             # deliver one again
    make stripe ARGS="sessions"                                   # the Checkout Sessions

``trigger`` sends one event of any type, signed, to the stack's ``POST /webhooks/stripe``
(through the sandbox's ``POST /_sandbox/events``) and prints what the stack answered. Its
object is the sandbox's own session when ``--session`` names one, or the session of the
order ``--order`` names, else one made up for that order, shaped as the event type says (a
completed, paid session for ``checkout.session.completed``; an expired one for
``checkout.session.expired``; a fully refunded charge of the session's payment for
``charge.refunded``). Only the event is sent: the sandbox's session itself does not change.

The sandbox is found through the running stack's ``stack.json`` (``NEXUS_LOCAL_DIR``, else
``.local/``), else ``STRIPE_SANDBOX_PORT`` (default 3004) on 127.0.0.1; ``--url`` overrides.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from nexus_local import state, stripe_sandbox

Json = dict[str, Any]
DELIVERY_WAIT_SECONDS = 15.0
# Stripe's id prefixes of the objects a triggered event may be about (else "<object>_").
ID_PREFIXES = {"customer": "cus_", "payment_intent": "pi_", "invoice": "in_", "refund": "re_"}


class CliError(Exception):
    """A one-line error for the operator."""


def sandbox_url(environ: dict[str, str] | None = None) -> tuple[str, str]:
    """The sandbox's base URL and where it was found (for messages)."""
    env = dict(os.environ) if environ is None else environ
    directory = state.data_dir(env)
    found = state.read(directory)
    if found is not None and found.stripe_url:
        return found.stripe_url.rstrip("/"), str(directory / state.STATE_FILE)
    port = stripe_sandbox.port(env)
    return f"http://127.0.0.1:{port}", f"port {port} (no running stack in {directory})"


class Sandbox:
    def __init__(self, base: str, source: str) -> None:
        self.base, self.source = base, source

    def call(self, method: str, path: str, body: Json | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the local sandbox's own URL
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - local
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise CliError(f"{method} {path}: HTTP {exc.code} {exc.read().decode()}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise CliError(
                f"cannot reach the sandbox Stripe at {self.base} (from {self.source}; is make"
                f" local running without STRIPE_API_BASE_URL?): {exc}"
            ) from exc

    def sessions(self, order_id: str | None = None) -> list[Json]:
        query = f"?{urllib.parse.urlencode({'client_reference_id': order_id})}" if order_id else ""
        listed: list[Json] = self.call("GET", f"/_sandbox/sessions{query}")["data"]
        return listed

    def session(self, session_id: str) -> Json:
        for session in self.sessions():
            if session["id"] == session_id:
                return session
        raise CliError(f"the sandbox has no Checkout Session {session_id}")

    def events(self) -> Json:
        listed: Json = self.call("GET", "/_sandbox/events")
        return listed

    def wait_delivered(self, event_id: str, timeout: float = DELIVERY_WAIT_SECONDS) -> Json | None:
        """The event's first delivery attempt, once it is made (None if none within timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            attempts = self.events()["deliveries"].get(event_id) or []
            if attempts:
                first: Json = attempts[0]
                return first
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)


def _fake_id(prefix: str) -> str:
    return prefix + "trigger_" + secrets.token_hex(8)


def _made_up_session(order_id: str | None) -> Json:
    session: Json = {
        "id": _fake_id("cs_test_"),
        "object": "checkout.session",
        "mode": "payment",
        "livemode": False,
        "created": int(time.time()),
        "metadata": {"order_id": order_id} if order_id else {},
        "client_reference_id": order_id,
        "status": "open",
        "payment_status": "unpaid",
        "payment_intent": None,
    }
    return session


def _shaped(event_type: str, session: Json, payment_intent: str | None) -> Json:
    """The object an event of this type carries, from the session it is about."""
    intent = payment_intent or session.get("payment_intent")
    if event_type.startswith("charge."):
        amount = int(session.get("amount_total") or 0)
        refunded = event_type == "charge.refunded"
        order_id = session.get("client_reference_id")
        return {
            "id": _fake_id("ch_"),
            "object": "charge",
            "amount": amount,
            "amount_refunded": amount if refunded else 0,
            "currency": session.get("currency"),
            "metadata": {"order_id": order_id} if order_id else {},
            "paid": True,
            "payment_intent": intent or _fake_id("pi_"),
            "refunded": refunded,
            "status": "succeeded",
        }
    shaped = dict(session)
    if event_type in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        shaped.update(
            status="complete", payment_status="paid", payment_intent=intent or _fake_id("pi_")
        )
    elif event_type == "checkout.session.async_payment_failed":
        shaped.update(status="complete", payment_status="unpaid")
    elif event_type == "checkout.session.expired":
        shaped.update(status="expired", payment_status="unpaid", url=None)
    return shaped


def event_object(
    sandbox: Sandbox,
    event_type: str,
    *,
    order_id: str | None,
    session_id: str | None,
    payment_intent: str | None = None,
) -> Json:
    if not event_type.startswith(("checkout.session.", "charge.")) and not (order_id or session_id):
        kind = event_type.split(".", maxsplit=1)[0]
        return {"id": _fake_id(ID_PREFIXES.get(kind, f"{kind}_")), "object": kind}
    if session_id:
        session = sandbox.session(session_id)
    else:
        found = sandbox.sessions(order_id) if order_id else []
        session = found[0] if found else _made_up_session(order_id)
    return _shaped(event_type, session, payment_intent)


def _answer(attempt: Json | None) -> str:
    if attempt is None:
        return "no delivery yet (see: make stripe ARGS=events)"
    if attempt["status"] is None:
        return f"not delivered: {attempt['error']} (the sandbox retries)"
    return f"the stack answered {attempt['status']}: {attempt.get('response') or '(no body)'}"


def trigger(sandbox: Sandbox, args: argparse.Namespace) -> int:
    obj = event_object(
        sandbox,
        args.type,
        order_id=args.order,
        session_id=args.session,
        payment_intent=args.payment_intent,
    )
    event = sandbox.call("POST", "/_sandbox/events", {"type": args.type, "data": {"object": obj}})
    print(f"sent {event['id']} {event['type']} ({obj.get('object')} {obj.get('id')})")
    attempt = sandbox.wait_delivered(event["id"])
    print(_answer(attempt))
    return 0 if attempt is not None and attempt["status"] == 200 else 1


def list_events(sandbox: Sandbox, args: argparse.Namespace) -> int:
    listed = sandbox.events()
    for event in listed["data"][: args.limit]:
        obj = event["data"]["object"]
        attempts = listed["deliveries"].get(event["id"]) or []
        answers = ", ".join(str(a["status"] or a["error"]) for a in attempts) or "not delivered"
        when = time.strftime("%H:%M:%S", time.localtime(event["created"]))
        print(f"{when}  {event['id']}  {event['type']:<40} {obj.get('id')}  -> {answers}")
    if not listed["data"]:
        print("no events yet")
    return 0


def resend(sandbox: Sandbox, args: argparse.Namespace) -> int:
    before = len(sandbox.events()["deliveries"].get(args.event_id) or [])
    sandbox.call("POST", f"/_sandbox/events/{urllib.parse.quote(args.event_id)}/resend", {})
    deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
    attempts: list[Json] = []
    while time.monotonic() < deadline:
        attempts = sandbox.events()["deliveries"].get(args.event_id) or []
        if len(attempts) > before:
            break
        time.sleep(0.1)
    print(f"resent {args.event_id}")
    print(_answer(attempts[before] if len(attempts) > before else None))
    return 0 if len(attempts) > before and attempts[before]["status"] == 200 else 1


def list_sessions(sandbox: Sandbox, args: argparse.Namespace) -> int:
    sessions = sandbox.sessions(args.order)
    for s in sessions[: args.limit]:
        print(
            f"{s['id']}  {s['status']:<8} {s['payment_status']:<7}"
            f" order {s.get('client_reference_id')}  {s.get('url') or ''}"
        )
    if not sessions:
        print("no Checkout Sessions yet")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make stripe", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--url", help="the sandbox's base URL (default: from stack.json)")
    commands = parser.add_subparsers(dest="command", required=True)
    send = commands.add_parser("trigger", help="send one event of any type to the stack")
    send.add_argument("type", help="the event type, e.g. checkout.session.completed")
    about = send.add_mutually_exclusive_group()
    about.add_argument("--order", help="the order the event is about (its session, if any)")
    about.add_argument("--session", help="the sandbox Checkout Session the event is about")
    send.add_argument("--payment-intent", help="the payment intent (charge.* events)")
    send.set_defaults(run=trigger)
    events = commands.add_parser("events", help="recent events and their deliveries")
    events.add_argument("--limit", type=int, default=20)
    events.set_defaults(run=list_events)
    again = commands.add_parser("resend", help="deliver an event again")
    again.add_argument("event_id")
    again.set_defaults(run=resend)
    sessions = commands.add_parser("sessions", help="the Checkout Sessions, newest first")
    sessions.add_argument("--order", help="only this order's")
    sessions.add_argument("--limit", type=int, default=20)
    sessions.set_defaults(run=list_sessions)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    base, source = (args.url.rstrip("/"), "--url") if args.url else sandbox_url()
    try:
        code: int = args.run(Sandbox(base, source), args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
