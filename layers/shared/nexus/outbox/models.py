"""What the outbox holds and what NotifyFunction works with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["verify_email", "password_reset", "order_confirmation", "new_sale", "reconnect"]
KINDS: frozenset[str] = frozenset(
    ("verify_email", "password_reset", "order_confirmation", "new_sale", "reconnect")
)
Status = Literal["pending", "sent", "suppressed", "failed"]


def secret_context(outbox_id: str) -> str:
    """The associated data of a row's secret: a ciphertext copied onto another row (or
    another table) does not decrypt."""
    return f"outbox:{outbox_id}"


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to one claim of a row: ``claimed`` when this delivery may send it now;
    otherwise ``status`` says why not (None: no such row)."""

    status: Status | None
    claimed: bool = False
    kind: str = ""
    recipient: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    secret_ciphertext: bytes | None = None
    attempts: int = 0
    suppressed: bool = False


@dataclass(frozen=True, slots=True)
class Email:
    outbox_id: str
    kind: str
    to: str
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class SweepResult:
    relayed: int
    failed: int
    batches: int
