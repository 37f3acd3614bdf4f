"""Encryption at rest for provider access tokens: AES-256-GCM, a random 96-bit nonce per
value, the integration's id as associated data (a ciphertext copied onto another row does
not decrypt). Stored as nonce || ciphertext || tag."""

from __future__ import annotations

import hashlib
import os

from nexus.errors import ServiceUnavailable
from nexus.secrets import resolve_secret
from nexus.settings import get_settings

_NONCE_BYTES = 12


def _key() -> bytes:
    """The AES-256 key: SHA-256 of the secret string (Secrets Manager generates printable
    secrets, not raw key bytes; the generated 64 characters carry far more than 256 bits)."""
    settings = get_settings()
    raw = resolve_secret(
        settings.token_encryption_key,
        settings.token_encryption_key_arn,
        name="token encryption key",
    )
    if len(raw) < 32:
        raise ServiceUnavailable("token encryption key must be at least 32 characters")
    return hashlib.sha256(raw.encode()).digest()


def encrypt(plaintext: str, context: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(_key()).encrypt(nonce, plaintext.encode(), context.encode())


def decrypt(blob: bytes, context: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
    return AESGCM(_key()).decrypt(nonce, sealed, context.encode()).decode()
