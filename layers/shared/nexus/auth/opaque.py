"""Opaque secrets handed to a client once and stored only as a digest: refresh tokens and the
single-use tokens in e-mail links. 256 random bits each, so SHA-256 is enough (a slow hash
protects guessable secrets; these cannot be guessed)."""

from __future__ import annotations

import hashlib
import secrets


def new() -> tuple[str, bytes]:
    """A fresh token and its digest."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
