"""``make invoke ARGS="events/<name>.json ..."``: send SAM CLI events to the running local
stack's Lambda invoke API and print each answer, or write them ready for ``sam local invoke``.

Events in ``events/`` are static, and two things in them cannot be: a Stripe webhook's
``Stripe-Signature`` (``t=<unix>,v1=<hex HMAC-SHA256 over "<t>.<body>">`` with
``STRIPE_WEBHOOK_SECRET``, refused when older than 300 s) and a bearer token (expires in an
hour). So each event is refreshed first:

- a ``stripe-signature`` header is signed anew, now, over the event's body, as Stripe signs;
- an ``Authorization`` / ``identitySource`` value of ``Bearer {{demo_token}}`` becomes a
  fresh token for the ``--seed-demo`` seller.

The secrets are the stack's: the environment when set, else ``<data dir>/secrets.json``.
The function is found from the event and template.yaml (its route, its authorizer, its SQS
queue or its schedule) unless ``--function`` names it.

    make invoke ARGS="events/products_get.json events/webhook_stripe.json"
    make invoke ARGS="events/webhook_stripe.json --output .local/events"   # for sam local
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from nexus_local import demo, secrets, state
from nexus_local.template import App, parse

DEMO_TOKEN = "Bearer {{demo_token}}"  # noqa: S105 - a placeholder, replaced on refresh


class EventError(Exception):
    """The event cannot be sent: which function it is for is unclear, or it is not JSON."""


def _stored(path: Path, key: str | None = None) -> dict[str, str]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return dict(data.get(key) or {}) if key else dict(data)


def stack_secrets(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The secrets the local stack uses: those the running stack recorded (its env.json, which
    holds what it was started with), else this shell's environment, else its secrets file."""
    env = os.environ if environ is None else environ
    directory = state.data_dir(env)
    running = _stored(directory / state.SAM_ENV_FILE, "Parameters")
    stored = _stored(directory / "secrets.json")
    found = {
        name: running.get(name) or env.get(name) or stored.get(name, "") for name in secrets.NAMES
    }
    return {name: value for name, value in found.items() if value}


def _demo_token(jwt_secret: str) -> str:
    from nexus.auth import tokens
    from nexus.settings import get_settings

    saved = os.environ.get("JWT_SECRET")
    os.environ["JWT_SECRET"] = jwt_secret
    get_settings.cache_clear()
    try:
        token, _ = tokens.issue(demo.USER_ID, demo.ORGANIZATION_ID)
    finally:
        if saved is None:
            os.environ.pop("JWT_SECRET", None)
        else:
            os.environ["JWT_SECRET"] = saved
        get_settings.cache_clear()
    return token


def _need(values: Mapping[str, str], name: str, why: str) -> str:
    if not values.get(name):
        raise EventError(
            f"{why} needs {name}: set it, or start make local once so that"
            f" {state.data_dir() / 'secrets.json'} exists"
        )
    return values[name]


def _resigned(form: str, secret: str) -> str:
    """The form with its signed_request signed anew with ``secret`` and issued now (the
    payload, Meta user included, kept)."""
    from nexus.meta.signed_request import sign

    signed = (parse_qs(form).get("signed_request") or [""])[-1]
    encoded = signed.partition(".")[2]
    try:
        payload = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except ValueError as exc:
        raise EventError("the event's signed_request payload is not base64url JSON") from exc
    payload["issued_at"] = int(time.time())
    return urlencode({"signed_request": sign(secret, payload)})


def refresh(event: dict[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``event`` with a fresh webhook signature and demo token where it has them."""
    from nexus_local.fake_stripe import stripe_signature

    fresh: dict[str, Any] = json.loads(json.dumps(event))
    headers: dict[str, str] = fresh.get("headers") or {}
    if "stripe-signature" in headers:
        secret = _need(values, "STRIPE_WEBHOOK_SECRET", "signing the Stripe webhook")
        headers["stripe-signature"] = stripe_signature(secret, str(fresh.get("body") or ""))
    if str(fresh.get("routeKey", "")).startswith("POST /webhooks/meta/"):
        secret = _need(values, "META_APP_SECRET", "signing Meta's signed_request")
        fresh["body"] = _resigned(str(fresh.get("body") or ""), secret)
    wants_token = headers.get("authorization") == DEMO_TOKEN or DEMO_TOKEN in (
        fresh.get("identitySource") or []
    )
    if wants_token:
        bearer = "Bearer " + _demo_token(_need(values, "JWT_SECRET", "a demo token"))
        if headers.get("authorization") == DEMO_TOKEN:
            headers["authorization"] = bearer
        fresh["identitySource"] = [
            bearer if s == DEMO_TOKEN else s for s in fresh.get("identitySource") or []
        ]
    return fresh


def function_for(event: Mapping[str, Any], app: App) -> str:
    """The template function an event is for."""
    found = _api_function(event, app) or _sqs_function(event, app)
    if found:
        return found
    if "time" in event and app.schedules and "Records" not in event:
        return app.schedules[0].function_id
    raise EventError("cannot tell which function this event is for: pass --function")


def _api_function(event: Mapping[str, Any], app: App) -> str | None:
    """An authorizer request's authorizer function, or an HTTP API event's route function."""
    route_key = event.get("routeKey")
    if not route_key:
        return None
    if event.get("type") == "REQUEST":
        for route in app.routes:
            if route.route_key == route_key and route.authorizer:
                return app.authorizers[route.authorizer].function_id
        return None
    return next((r.function_id for r in app.routes if r.route_key == route_key), None)


def _sqs_function(event: Mapping[str, Any], app: App) -> str | None:
    records = event.get("Records") or []
    if not records or records[0].get("eventSource") != "aws:sqs":
        return None
    queue = str(records[0].get("eventSourceARN", "")).rsplit(":", 1)[-1]
    return next((s.function_id for s in app.sqs_sources if s.queue_id == queue), None)


@dataclass(frozen=True)
class Invocation:
    function: str
    result: Any
    function_error: str | None


def invoke(lambda_url: str, function: str, event: Any, timeout: float = 120) -> Invocation:
    """``POST /2015-03-31/functions/{function}/invocations``, as ``aws lambda invoke`` does."""
    request = urllib.request.Request(  # noqa: S310 - the local stack's own URL
        f"{lambda_url}/2015-03-31/functions/{function}/invocations",
        data=json.dumps(event).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - local URL
        body = resp.read()
        error = resp.headers.get("X-Amz-Function-Error")
    return Invocation(function, json.loads(body or b"null"), error)


def describe(result: Any) -> str:
    """An answer for people: an API response's status and JSON body, else the value."""
    if isinstance(result, dict) and "statusCode" in result:
        body = result.get("body")
        try:
            shown = json.dumps(json.loads(body), indent=2) if body else "(no body)"
        except ValueError:
            shown = str(body)
        return f"statusCode {result['statusCode']}\n{shown}"
    return json.dumps(result, indent=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make invoke", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("events", nargs="+", type=Path, help="event files, e.g. events/*.json")
    parser.add_argument("--function", help="logical id of the function (default: from the event)")
    parser.add_argument(
        "--output",
        type=Path,
        help="write the refreshed events into this folder instead of invoking (for sam local)",
    )
    args = parser.parse_args(argv)
    app = parse()
    values = stack_secrets()
    where = state.locate()
    failed = 0
    for path in args.events:
        try:
            event = json.loads(path.read_text(encoding="utf-8"))
            fresh = refresh(event, values)
            function = args.function or function_for(fresh, app)
        except (OSError, ValueError, EventError) as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            failed += 1
            continue
        if args.output:
            args.output.mkdir(parents=True, exist_ok=True)
            target = args.output / path.name
            target.write_text(json.dumps(fresh, indent=2) + "\n", encoding="utf-8")
            print(f"{target}  (for {function})")
            continue
        print(f"--> {function} <- {path}")
        try:
            done = invoke(where.lambda_url, function, fresh)
        except urllib.error.HTTPError as exc:
            print(f"error: {function}: HTTP {exc.code} {exc.read().decode()}", file=sys.stderr)
            failed += 1
            continue
        except (urllib.error.URLError, OSError) as exc:
            print(
                f"error: cannot reach the Lambda invoke API at {where.lambda_url}"
                f" (from {where.source}; is make local running?): {exc}",
                file=sys.stderr,
            )
            return 1
        if done.function_error:
            print(f"function error ({done.function_error}): {json.dumps(done.result)}")
            failed += 1
        else:
            print(describe(done.result))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
