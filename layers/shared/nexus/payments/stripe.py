"""The slice of Stripe's REST API the product calls, over ``requests``.

Why not the ``stripe`` SDK: its import pulls in ``requests`` (and asyncio) eagerly, so it
costs at least what ``requests`` does, and CheckoutFunction must start within 1.10x the
import floor of Powertools + pydantic + psycopg (``make bench ARGS=coldstart``). Here
``requests`` is imported on the first call, so the store page, the order views and the
webhook never load it; the first Stripe call of an execution environment pays it once.

Wire format: form-encoded bodies with bracket keys (``line_items[0][price_data][currency]``),
``Authorization: Bearer <secret key>``, JSON answers; errors ``{"error": {"type", "code",
"message", "param"}}``. Every POST carries the caller's ``Idempotency-Key``: the same key
with the same parameters replays Stripe's first answer, so a retried checkout never makes a
second session.

Outcomes: :class:`StripeRefused` when Stripe declines the request itself (400/402: an
amount under its minimum, a charge already refunded; 404: an id it does not know) — the
caller's answer says why; :class:`StripeUnavailable` for everything that a later retry may
fix or that is ours to fix (network errors, timeouts, 429, 5xx, a concurrent request with
the same key, and a wrong key or a key reused with other parameters, which are logged as
errors) — the caller's answer is 503 + ``Retry-After``. One retry is made here, with the
same key, for a network error or a 5xx/429 that Stripe does not mark
``Stripe-Should-Retry: false``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from nexus.deadline import Deadline, OutOfTime
from nexus.observability import logger
from nexus.secrets import resolve_secret
from nexus.settings import Settings, get_settings

if TYPE_CHECKING:
    import requests

API_VERSION = "2026-10-28.endive"
RETRY_PAUSE_SECONDS = 0.5
Params = Mapping[str, Any]


class StripeUnavailable(Exception):
    """Stripe could not be reached or did not complete the request; a retry may."""


class StripeRefused(Exception):
    """Stripe answered that it will not do this (its message says why)."""

    def __init__(self, message: str, *, code: str | None, param: str | None) -> None:
        super().__init__(message)
        self.message, self.code, self.param = message, code, param


def encode(params: Params, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Stripe's form encoding: nested mappings and lists as bracket keys, booleans as
    ``true``/``false``, None left out."""
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            yield from encode(value, name)
        elif isinstance(value, list | tuple):
            present = [item for item in value if item is not None]
            for index, item in enumerate(present):
                if isinstance(item, Mapping):
                    yield from encode(item, f"{name}[{index}]")
                else:
                    yield f"{name}[{index}]", _scalar(item)
        else:
            yield name, _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_http: list[requests.Session] = []  # one per execution environment: connections are reused


def _session() -> requests.Session:
    if not _http:
        import requests

        _http.append(requests.Session())
    return _http[0]


def close_session() -> None:
    """Close the pooled connections; the next call opens a new session (a SnapStart restore
    must not reuse a socket from the snapshot)."""
    while _http:
        _http.pop().close()


class StripeClient:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    def _key(self) -> str:
        return resolve_secret(
            self.settings.stripe_secret_key,
            self.settings.stripe_secret_key_arn,
            name="Stripe secret key",
        )

    # -- the calls the product makes ------------------------------------------------------

    def create_checkout_session(self, params: Params, *, idempotency_key: str) -> dict[str, Any]:
        return self._call("POST", "/v1/checkout/sessions", params, idempotency_key)

    def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/checkout/sessions/{_path(session_id)}", None, None)

    def expire_checkout_session(self, session_id: str, *, idempotency_key: str) -> dict[str, Any]:
        path = f"/v1/checkout/sessions/{_path(session_id)}/expire"
        return self._call("POST", path, {}, idempotency_key)

    def create_refund(self, params: Params, *, idempotency_key: str) -> dict[str, Any]:
        return self._call("POST", "/v1/refunds", params, idempotency_key)

    # -- transport -------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, params: Params | None, idempotency_key: str | None
    ) -> dict[str, Any]:
        import requests  # the first Stripe call pays this import; the handler's init does not

        headers = {"Authorization": f"Bearer {self._key()}", "Stripe-Version": API_VERSION}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        url = self.settings.stripe_api_base_url.rstrip("/") + path
        body = list(encode(params)) if params is not None else None
        # Both attempts fit in the budget, well inside the function's 10 s timeout.
        deadline = Deadline.after(self.settings.stripe_budget_seconds)
        for attempt in (1, 2):
            try:
                timeout = (
                    deadline.timeout(self.settings.stripe_connect_timeout_seconds),
                    deadline.timeout(self.settings.stripe_read_timeout_seconds),
                )
            except OutOfTime as exc:
                raise StripeUnavailable("no time left for another attempt") from exc
            try:
                response = _session().request(
                    method, url, data=body, headers=headers, timeout=timeout
                )
            except requests.RequestException as exc:
                logger.warning(
                    "stripe request failed",
                    extra={"path": _route(path), "attempt": attempt, "error": type(exc).__name__},
                )
                if attempt == 1 and deadline.allows(RETRY_PAUSE_SECONDS + 1):
                    time.sleep(RETRY_PAUSE_SECONDS)
                    continue
                raise StripeUnavailable(type(exc).__name__) from exc
            if response.status_code < 400:
                return _json(response)
            if _retryable(response) and attempt == 1 and deadline.allows(RETRY_PAUSE_SECONDS + 1):
                time.sleep(RETRY_PAUSE_SECONDS)
                continue
            raise self._failure(response, path)
        raise AssertionError("unreachable")  # pragma: no cover

    def _failure(self, response: requests.Response, path: str) -> Exception:
        error = _error(response)
        extra = {
            "path": _route(path),
            "status": response.status_code,
            "stripe_code": error.get("code"),
            "stripe_type": error.get("type"),
            "request_id": response.headers.get("Request-Id"),
        }
        status = response.status_code
        if status in (400, 402, 404) and error.get("type") != "idempotency_error":
            logger.info("stripe refused the request", extra=extra)
            return StripeRefused(
                str(error.get("message") or "Stripe refused the request."),
                code=_text(error.get("code")),
                param=_text(error.get("param")),
            )
        # A wrong key (401/403) or a key reused with other parameters: ours to fix, not the
        # buyer's; 409 (a concurrent request with the key), 429, 5xx: Stripe's, for later.
        level = logger.error if status in (400, 401, 403) else logger.warning
        level("stripe request not completed", extra=extra)
        return StripeUnavailable(f"Stripe answered {status}")


def _retryable(response: requests.Response) -> bool:
    if response.headers.get("Stripe-Should-Retry") == "false":
        return False
    return response.status_code == 429 or response.status_code >= 500


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = json.loads(response.content)
    except ValueError as exc:
        raise StripeUnavailable("Stripe answered something other than JSON") from exc
    if not isinstance(data, dict):
        raise StripeUnavailable("Stripe answered something other than an object")
    return data


def _error(response: requests.Response) -> dict[str, Any]:
    try:
        error = json.loads(response.content).get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _path(identifier: str) -> str:
    from urllib.parse import quote

    return quote(identifier, safe="")


def _route(path: str) -> str:
    """The path with ids blanked, for logs."""
    parts = path.split("/")
    return "/".join("{id}" if "_" in part and i > 2 else part for i, part in enumerate(parts))
