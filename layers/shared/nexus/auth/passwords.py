"""Password policy and hashing.

bcrypt reads only the first 72 bytes (bcrypt 5 raises past that), yet the contract accepts
up to 128 characters of any script, never truncated. So bcrypt hashes a fixed-length digest
of the whole password: base64(HMAC-SHA256(pepper, NFC(password))), 44 ASCII bytes. The
pepper lives outside the database (Secrets Manager / environment).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

import bcrypt

from nexus.auth.policy import normalise
from nexus.secrets import resolve_secret
from nexus.settings import get_settings


def _pepper() -> bytes:
    settings = get_settings()
    value = resolve_secret(
        settings.password_pepper, settings.password_pepper_arn, name="password pepper"
    )
    return value.encode()


def _prehash(password: str) -> bytes:
    digest = hmac.new(_pepper(), normalise(password).encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest)


def hash_password(password: str) -> str:
    rounds = get_settings().bcrypt_rounds
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds=rounds)).decode()


def verify_password(password: str, stored_hash: str) -> bool:
    try:
        return bcrypt.checkpw(_prehash(password), stored_hash.encode())
    except ValueError:
        return False


@lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> str:
    return bcrypt.hashpw(b"timing-equaliser", bcrypt.gensalt(rounds=rounds)).decode()


def burn_verify(password: str) -> None:
    """Spend the same time as a real verification (for unknown e-mail addresses)."""
    bcrypt.checkpw(_prehash(password), _dummy_hash(get_settings().bcrypt_rounds).encode())
