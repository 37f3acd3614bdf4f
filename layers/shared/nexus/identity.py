from __future__ import annotations

import re
import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller, as the Lambda authorizer vouched for them."""

    user_id: str
    organization_id: str
    # The session (refresh-token family) the caller's access token belongs to.
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class Visitor:
    """An anonymous caller of a public route as the platform sees them: the client IP
    (nexus.http.client_ip) and the User-Agent header ("" when absent)."""

    ip: str
    user_agent: str


# The form every id this system issues is written in (RFC 9562's, either case). uuid.UUID
# alone also takes braces, "urn:uuid:" and bare hex, which no id of ours ever looks like.
UUID = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
_UUID = re.compile(UUID)


def parse_id(value: object) -> str | None:
    """An id as the canonical UUID string, or None when it cannot be one of ours (every id
    this system issues is a UUID: rows, tokens' subjects, queue messages)."""
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        return None
    return str(uuid.UUID(value))
