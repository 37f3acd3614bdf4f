from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller, as the Lambda authorizer vouched for them."""

    user_id: str
    organization_id: str
