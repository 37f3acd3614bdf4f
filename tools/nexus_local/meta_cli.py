"""``make meta ARGS="..."``: Meta's compliance callbacks, sent by hand to the running local
stack as Meta sends them when a person removes the app or asks for their data to be deleted.

    make meta ARGS="deauthorize --user 5050"     # POST /webhooks/meta/deauthorize
    make meta ARGS="data-deletion --user 5050"   # POST /webhooks/meta/data-deletion
    make meta ARGS="status <confirmation code>"  # GET /meta/data-deletion/{code}

Each callback is a form with one field, ``signed_request``, signed with the stack's
``META_APP_SECRET`` (:func:`nexus.meta.signed_request.sign`; the running stack's
``env.json``, else this shell's environment, else ``<data dir>/secrets.json``) for the
app-scoped Meta user ``--user`` (the sandbox's Dana Demo is 5050, Sam Sample 6060). The
stack's answer is printed; the exit status is 0 for a 2xx answer.

The HTTP API is found through the running stack's ``stack.json`` (``NEXUS_LOCAL_DIR``, else
``.local/``; ``PORT`` overrides), else 127.0.0.1:3000; ``--api`` overrides both.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from nexus.meta.signed_request import ALGORITHM, FIELD, sign
from nexus_local import state
from nexus_local.invoke import stack_secrets

CALLBACKS = {
    "deauthorize": "/webhooks/meta/deauthorize",
    "data-deletion": "/webhooks/meta/data-deletion",
}
FORM = "application/x-www-form-urlencoded"


class CliError(Exception):
    """A one-line error for the operator."""


def app_secret(environ: Mapping[str, str] | None = None) -> str:
    """The stack's META_APP_SECRET, found as :func:`nexus_local.invoke.stack_secrets` finds
    the stack's secrets."""
    found = stack_secrets(environ).get("META_APP_SECRET")
    if not found:
        where = state.data_dir(environ)
        raise CliError(
            f"no META_APP_SECRET in {where} (env.json, secrets.json) nor in the environment:"
            " has make local been started there?"
        )
    return found


def signed_request(secret: str, user_id: str, issued_at: int | None = None) -> str:
    """A signed_request about ``user_id``, as Meta makes one."""
    issued = int(time.time()) if issued_at is None else issued_at
    return sign(secret, {"algorithm": ALGORITHM, "issued_at": issued, "user_id": user_id})


def form(secret: str, user_id: str, issued_at: int | None = None) -> bytes:
    """The callback's body: ``signed_request=...``, form-encoded."""
    return urllib.parse.urlencode({FIELD: signed_request(secret, user_id, issued_at)}).encode()


def _send(url: str, data: bytes | None = None) -> tuple[int, Any]:
    method = "GET" if data is None else "POST"
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - local API
    if data is not None:
        request.add_header("Content-Type", FORM)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - local API
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"null")
        except ValueError:
            return exc.code, raw.decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        raise CliError(
            f"cannot reach the HTTP API at {url} (is make local running?): {exc}"
        ) from exc


def callback(api: str, name: str, user_id: str, secret: str) -> tuple[int, Any]:
    """POST one compliance callback (``deauthorize`` or ``data-deletion``) for ``user_id``."""
    return _send(api.rstrip("/") + CALLBACKS[name], form(secret, user_id))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make meta", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--api", help="the HTTP API's base URL (default: the running stack's)")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, path in CALLBACKS.items():
        sub = commands.add_parser(name, help=f"POST {path} for a Meta user")
        sub.add_argument("--user", required=True, help="the app-scoped Meta user id, e.g. 5050")
    status = commands.add_parser("status", help="GET /meta/data-deletion/{code}")
    status.add_argument("code", help="the confirmation_code data-deletion answered")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    api = (args.api or state.locate().api_url).rstrip("/")
    try:
        if args.command == "status":
            path = f"/meta/data-deletion/{urllib.parse.quote(args.code, safe='')}"
            status, body = _send(api + path)
            print(f"GET {api}{path} -> {status}")
        else:
            status, body = callback(api, args.command, args.user, app_secret())
            print(f"POST {api}{CALLBACKS[args.command]} (Meta user {args.user}) -> {status}")
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2))
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
