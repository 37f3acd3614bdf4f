"""JWT issue and verification (PyJWT, HS256 pinned). Imported by the authorizer, so it must
stay free of psycopg, bcrypt and boto3."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from nexus.identity import parse_id
from nexus.secrets import resolve_secret
from nexus.settings import Settings, get_settings

ALGORITHM = "HS256"
_REQUIRED = ["sub", "org", "iat", "exp", "iss", "aud"]


class InvalidToken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: str
    organization_id: str
    expires_at: int
    # The session (refresh-token family) the token was issued for.
    session_id: str | None = None


def signing_key(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return resolve_secret(settings.jwt_secret, settings.jwt_secret_arn, name="JWT signing key")


def issue(
    user_id: str, organization_id: str, *, session_id: str | None = None, now: int | None = None
) -> tuple[str, int]:
    settings = get_settings()
    issued_at = int(time.time()) if now is None else now
    ttl = settings.jwt_ttl_seconds
    claims = {
        "sub": user_id,
        "org": organization_id,
        "iat": issued_at,
        "exp": issued_at + ttl,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": uuid.uuid4().hex,
    }
    if session_id is not None:
        claims["sid"] = session_id
    return jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM), ttl


def verify(token: str) -> Claims:
    settings = get_settings()
    try:
        claims = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[ALGORITHM],  # pinned: "none" or any other alg is refused
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": _REQUIRED},
            leeway=5,
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from exc
    # Validly signed is not enough: every claim a function will trust must have its shape.
    user_id, organization_id = parse_id(claims.get("sub")), parse_id(claims.get("org"))
    if user_id is None or organization_id is None:
        raise InvalidToken("bad subject")
    exp, iat = _numeric(claims.get("exp")), _numeric(claims.get("iat"))
    if exp is None or iat is None:
        raise InvalidToken("bad times")
    if exp - iat > settings.jwt_ttl_seconds:
        raise InvalidToken("lifetime too long")
    session_id = parse_id(claims["sid"]) if "sid" in claims else None
    if "sid" in claims and session_id is None:
        raise InvalidToken("bad session")
    return Claims(
        user_id=user_id, organization_id=organization_id, expires_at=int(exp), session_id=session_id
    )


def _numeric(value: object) -> float | None:
    """A JWT NumericDate (seconds, possibly fractional), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
