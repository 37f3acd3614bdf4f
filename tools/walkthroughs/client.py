"""What the walk-throughs share: a small JSON client for the local stack's HTTP API (the
standard library only), a step printer, and the seller account they act as."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nexus_local import state

SELLER = {"email": "ann@example.com", "password": "correct horse battery", "name": "Ann"}


class WalkthroughFailed(Exception):
    """A step got an answer the walk-through does not expect."""


@dataclass
class Reply:
    status: int
    body: Any


class Api:
    def __init__(self, base: str | None = None) -> None:
        where = state.locate()
        self.base = (base or where.api_url).rstrip("/")
        self.source = where.source
        self.token: str | None = None
        self.step = 0

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        auth: bool = True,
    ) -> Reply:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if auth and self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - local API
                return Reply(resp.status, json.loads(resp.read() or b"null"))
        except urllib.error.HTTPError as err:
            return Reply(err.code, json.loads(err.read() or b"null"))
        except urllib.error.URLError as err:
            raise WalkthroughFailed(
                f"cannot reach the HTTP API at {self.base} (from {self.source});"
                f" is make local running? ({err.reason})"
            ) from err

    def expect(
        self,
        what: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        ok: tuple[int, ...] = (200,),
        **kw: Any,
    ) -> Reply:
        """One numbered step: print it and its answer; refuse an unexpected status."""
        reply = self.call(method, path, body, **kw)
        show(self.next_step(what), f"{method} {path} -> {reply.status}")
        if reply.status not in ok:
            raise WalkthroughFailed(
                f"{method} {path}: expected {ok}, got {reply.status} {reply.body}"
            )
        return reply

    def next_step(self, what: str) -> str:
        self.step += 1
        return f"{self.step}. {what}"

    def sign_in(self) -> None:
        """Register the walk-through's seller, or log in when it exists (a second run)."""
        reply = self.expect(
            "register the seller", "POST", "/auth/register", SELLER, ok=(201, 409), auth=False
        )
        if reply.status == 409:
            print("   already registered (an earlier run): logging in instead")
            credentials = {k: SELLER[k] for k in ("email", "password")}
            reply = self.expect("log in", "POST", "/auth/login", credentials, auth=False)
        self.token = str(reply.body["access_token"])


def show(title: str, detail: str = "", value: Any = None) -> None:
    print(f"{title}: {detail}" if detail else title)
    if value is not None:
        text = json.dumps(value, indent=2)
        print("\n".join("   " + line for line in text.splitlines()))


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
    """Poll ``check`` until it returns something truthy (the local event source mapping
    delivers jobs within a few seconds)."""
    print(f"   waiting for {what} ...", flush=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise WalkthroughFailed(f"gave up waiting for {what} after {timeout:.0f} s")
