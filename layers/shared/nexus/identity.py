from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller, as the Lambda authorizer vouched for them."""

    user_id: str
    organization_id: str


def parse_id(value: object) -> str | None:
    """An id as the canonical UUID string, or None when it cannot be one of ours (every id
    this system issues is a UUID: rows, tokens' subjects, queue messages)."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
