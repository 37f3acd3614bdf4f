"""Meta's ``signed_request``: what Facebook Login's deauthorize and data-deletion callbacks
post (contract §9), as a form field ``signed_request``.

``signed_request = base64url(signature) "." base64url(payload)``, without padding, where
``signature = HMAC-SHA256(app secret, <the encoded payload, exactly as received>)`` and the
payload is a JSON object: ``algorithm`` (``"HMAC-SHA256"``), ``issued_at`` (Unix seconds)
and ``user_id``, the app-scoped Meta user id (``integrations.meta_user_id``).

- The signature is checked, in constant time, before anything of the payload is decoded.
- Refused with 401 (:class:`~nexus.errors.Unauthorized`): not two base64url parts (the
  standard alphabet's ``+`` and ``/``, whitespace, a length base64 cannot have, wrong
  padding), a signature that does not match, a payload that is not a UTF-8 JSON object, an
  ``algorithm`` other than ``HMAC-SHA256``, no usable ``user_id``, an ``issued_at`` that is
  not an integer. Padding is tolerated when it is the right padding (some encoders add it);
  the HMAC covers the payload as received, so a payload re-padded by anyone but the signer
  no longer verifies.
- The form itself (:func:`from_form`) is a 400 (:class:`~nexus.errors.BadRequest`) when it
  is not a form or does not carry exactly one ``signed_request``: that is a request that is
  not shaped like Meta's at all, before any question of who signed it.
- ``issued_at`` is read, never bounded: see :mod:`nexus.meta.compliance` for why.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from nexus.errors import BadRequest, Unauthorized

ALGORITHM = "HMAC-SHA256"
FIELD = "signed_request"
# Meta's are a few hundred characters; anything far longer is not one of them.
MAX_LENGTH = 8192
# A form Meta posts has one field; a few more are ignored, a flood is not parsed.
MAX_FORM_FIELDS = 16
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
# What integrations.meta_user_id holds (1-64 characters); Meta's ids are digits. Printable
# ASCII without spaces: a NUL or a control character never reaches the database.
_USER_ID = re.compile(r"[\x21-\x7e]{1,64}")

_MALFORMED = "The signed_request is malformed."


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A verified signed_request: who it is about, and when Meta issued it (if it said)."""

    user_id: str
    issued_at: int | None


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    """base64url, unpadded or correctly padded; anything else is a ValueError."""
    if not _BASE64URL.fullmatch(text):
        raise ValueError("not base64url")
    bare = text.rstrip("=")
    padded = bare + "=" * (-len(bare) % 4)
    if not bare or len(bare) % 4 == 1 or text not in (bare, padded):
        raise ValueError("not a base64 length")
    try:
        return base64.urlsafe_b64decode(padded)
    except binascii.Error as exc:  # pragma: no cover - the checks above leave none
        raise ValueError("not base64url") from exc


def sign(secret: str, payload: dict[str, Any]) -> str:
    """A signed_request as Meta makes one (tests and the local tools)."""
    encoded = _encode(json.dumps(payload, separators=(",", ":")).encode())
    mac = hmac.new(secret.encode(), encoded.encode("ascii"), hashlib.sha256).digest()
    return f"{_encode(mac)}.{encoded}"


def from_form(body: bytes) -> str:
    """The one ``signed_request`` of an ``application/x-www-form-urlencoded`` body."""
    try:
        fields = parse_qs(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError as exc:  # UnicodeDecodeError included
        raise BadRequest(
            "The request body is not a form (application/x-www-form-urlencoded)."
        ) from exc
    values = fields.get(FIELD, [])
    if len(values) != 1:
        raise BadRequest(f"The form must carry exactly one {FIELD}.")
    return values[0]


def _payload(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError, JSONDecodeError
        raise Unauthorized(_MALFORMED) from exc
    if not isinstance(data, dict):
        raise Unauthorized(_MALFORMED)
    return data


def parse(signed_request: str, secret: str) -> SignedRequest:
    """The verified request, or :class:`~nexus.errors.Unauthorized`."""
    if len(signed_request) > MAX_LENGTH:
        raise Unauthorized(_MALFORMED)
    encoded_sig, dot, encoded_payload = signed_request.partition(".")
    if not dot or not _BASE64URL.fullmatch(encoded_payload):
        raise Unauthorized(_MALFORMED)
    try:
        signature = _decode(encoded_sig)
    except ValueError as exc:
        raise Unauthorized(_MALFORMED) from exc
    expected = hmac.new(secret.encode(), encoded_payload.encode("ascii"), hashlib.sha256)
    if not hmac.compare_digest(expected.digest(), signature):
        raise Unauthorized("The signed_request's signature does not match.")
    try:
        raw = _decode(encoded_payload)
    except ValueError as exc:
        raise Unauthorized(_MALFORMED) from exc
    data = _payload(raw)
    if data.get("algorithm") != ALGORITHM:
        raise Unauthorized(f"The signed_request's algorithm is not {ALGORITHM}.")
    user_id = data.get("user_id")
    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
        raise Unauthorized("The signed_request names no user.")
    issued_at = data.get("issued_at")
    if issued_at is not None and type(issued_at) is not int:
        raise Unauthorized(_MALFORMED)
    return SignedRequest(user_id=user_id, issued_at=issued_at)
