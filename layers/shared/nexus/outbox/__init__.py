"""The transactional outbox for email (docs/architecture.md, "Email: the outbox").

Writers call :func:`add` inside the transaction of the change that causes the email and
:func:`publish` with the ids once it committed. MaintenanceFunction's sweep
(:func:`nexus.outbox.relay.sweep`) relays whatever publish missed; NotifyFunction
(:mod:`nexus.outbox.service`) renders and sends each row once per outbox id.
"""

from __future__ import annotations

import uuid
from typing import Any

from nexus import db
from nexus.outbox import relay
from nexus.outbox.models import KINDS, secret_context
from nexus.outbox.repository import insert

__all__ = ["KINDS", "add", "publish"]


def add(
    conn: db.Conn,
    *,
    kind: str,
    recipient: str,
    payload: dict[str, Any],
    secret: str | None = None,
) -> str:
    """Write one email to the outbox inside the caller's open transaction (``conn`` from
    :func:`nexus.db.run`); returns the outbox id.

    ``kind`` is one of :data:`KINDS`; ``secret`` is a single-use link token (verify,
    reset): stored encrypted (nexus.crypto, TOKEN_ENCRYPTION_KEY, the row id as associated
    data), used only to render the link, erased once sent."""
    if kind not in KINDS:
        raise ValueError(f"unknown email kind: {kind}")
    outbox_id = str(uuid.uuid4())
    ciphertext = None
    if secret is not None:
        # Only writers of link tokens (AuthFunction) carry the crypto layer.
        from nexus import crypto

        ciphertext = crypto.encrypt(secret, secret_context(outbox_id))
    insert(
        conn,
        outbox_id=outbox_id,
        kind=kind,
        recipient=recipient,
        payload=payload,
        secret_ciphertext=ciphertext,
    )
    return outbox_id


def publish(ids: list[str]) -> None:
    """After the transaction committed: best effort hand the ids to NotifyQueue and mark
    them relayed; never raises (MaintenanceFunction's sweep relays whatever this missed)."""
    relay.publish(ids)
