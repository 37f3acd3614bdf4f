"""Who viewed a store page, without knowing who (the sales funnel, contract §10).

A visitor is the caller's IP and User-Agent on one UTC day, kept only as
HMAC-SHA256(VISITOR_KEY, day, IP, User-Agent): repeated views by one visitor within a day
are one row, while the row reveals neither value, and with the day inside the MAC one
visitor's rows of two days cannot be linked. Without the key, guessing an IP (the IPv4 space
is small enough to enumerate) tells nothing.

The key is its own secret, not one derived from TOKEN_ENCRYPTION_KEY: the store page's
function, the most exposed one, then never holds the key that unseals every seller's page
tokens, and rotating it costs at most one day's repeat visitors counted twice (rotating the
token key makes every stored token unreadable).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

from nexus.errors import ServiceUnavailable
from nexus.identity import Visitor
from nexus.secrets import resolve_secret
from nexus.settings import get_settings

# What the database row holds (store_views.visitor).
KEY_BYTES = 32
MIN_SECRET_CHARS = 32


def _secret() -> bytes:
    settings = get_settings()
    raw = resolve_secret(settings.visitor_key, settings.visitor_key_arn, name="visitor key")
    if len(raw) < MIN_SECRET_CHARS:
        raise ServiceUnavailable(f"visitor key must be at least {MIN_SECRET_CHARS} characters")
    return raw.encode()


def visitor_key(visitor: Visitor, day: date) -> bytes:
    """The visitor's key for ``day``: 32 bytes, the same for the same (IP, User-Agent) that
    day. Neither part holds a newline (an IP never does; HTTP header values cannot), so the
    message is unambiguous."""
    message = f"{day.isoformat()}\n{visitor.ip}\n{visitor.user_agent}"
    # A header value arrives as str; whatever it holds, hashing it must not fail.
    data = message.encode("utf-8", "backslashreplace")
    return hmac.new(_secret(), data, hashlib.sha256).digest()
