"""Stripe's webhook signatures: ``Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``
(several ``v1`` while a signing secret is being rolled; other schemes such as ``v0`` are
ignored) over ``"<t>.<raw body>"`` with the endpoint's signing secret, compared in constant
time, refused more than 300 s from now either way. Checked on the raw bytes before anything
is parsed."""

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
        raise Unauthorized("Missing Stripe-Signature header.")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    stamp = parts.get("t", [""])[0]
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise Unauthorized("Malformed Stripe-Signature header.")
    timestamp = int(stamp)
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > TOLERANCE_SECONDS:
        raise Unauthorized("The signature is too old.")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    digest = expected.hexdigest().encode()
    # Bytes, not str: compare_digest refuses non-ASCII text, and a header may carry any.
    candidates = (value.encode("utf-8", "replace") for value in parts.get("v1", []))
    if not any(hmac.compare_digest(digest, candidate) for candidate in candidates):
        raise Unauthorized("The signature does not match.")
