"""Payment webhook signatures: ``X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` over
``"<t>.<raw body>"``, compared in constant time, refused when older than 300 s."""

from __future__ import annotations

import hashlib
import hmac
import time

from nexus.errors import Unauthorized

TOLERANCE_SECONDS = 300


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(header: str | None, body: bytes, secret: str, *, now: int | None = None) -> None:
    if not header:
        raise Unauthorized("Missing X-Signature header.")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError) as exc:
        raise Unauthorized("Malformed X-Signature header.") from exc
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > TOLERANCE_SECONDS:
        raise Unauthorized("The signature is too old.")
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    # Several v1 values are allowed so the secret can be rotated without downtime.
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise Unauthorized("The signature does not match.")
