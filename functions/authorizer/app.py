"""AuthorizerFunction: HTTP API Lambda authorizer, simple responses, payload format 2.0.

Verifies the bearer JWT and hands ``user_id`` and ``organization_id`` to the route's function
through the authorizer context. Loads no psycopg, bcrypt or boto3 at import.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.auth import tokens
from nexus.errors import NexusError
from nexus.observability import logger

_DENY: dict[str, Any] = {"isAuthorized": False}


def _bearer(event: dict[str, Any]) -> str | None:
    sources = event.get("identitySource") or []
    header = sources[0] if sources else (event.get("headers") or {}).get("authorization")
    if not isinstance(header, str):
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    token = _bearer(event)
    if token is None:
        logger.info("authorization denied", extra={"reason": "scheme"})
        return _DENY
    try:
        claims = tokens.verify(token)
    except tokens.InvalidToken as exc:
        logger.info("authorization denied", extra={"reason": str(exc)})
        return _DENY
    except NexusError:
        logger.exception("authorizer misconfigured")
        return _DENY
    return {
        "isAuthorized": True,
        "context": {
            "user_id": claims.user_id,
            "organization_id": claims.organization_id,
            "session_id": claims.session_id or "",
        },
    }
