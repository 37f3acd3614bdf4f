"""The Facebook Login connect flow (contract §9): start (dialog URL + state), callback (code →
tokens → the accounts the user can connect), and connecting one account of a connection.

The state is 32 random bytes (URL-safe), stored as its SHA-256 with the user it was issued
to and an expiry 10 minutes on; the callback redeems it by deleting it, so it works once,
for that user only. Tokens stay on the server: the connection keeps the long-lived user
token and each account's Page token sealed (AES-GCM, the connection id as associated data),
and an account connected from it gets its own token sealed under its integration's id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from typing import Any

from nexus import crypto, db
from nexus.deadline import OutOfTime
from nexus.errors import BadGateway, Conflict, ServiceUnavailable, ValidationFailed
from nexus.graph.errors import GraphError
from nexus.identity import Identity
from nexus.ingest import queue
from nexus.ingest.job import IngestJob
from nexus.integrations.models import (
    CallbackIn,
    ConnectableAccount,
    ConnectIn,
    Connection,
    ConnectStarted,
    IntegrationIn,
)
from nexus.meta import oauth
from nexus.meta.repository import ConnectRepository, StoredConnection
from nexus.models.dates import today
from nexus.observability import logger
from nexus.settings import get_settings

STATE_LIFETIME = dt.timedelta(minutes=10)
REPOSITORY = ConnectRepository()
# Meta's answers for a code that is expired (36007), for another redirect_uri (36008) or
# already used (36009): the client's code is at fault, not Meta.
CODE_SUBCODES = frozenset({36007, 36008, 36009})
# What the 422s say (rules of issued values no schema can state: tests/e2e/schema_hooks.py).
STATE_REFUSED = "is invalid, expired, already used or not yours"
CODE_REFUSED = "was refused by Meta (expired, already used or for another redirect_uri)"
CONNECTION_GONE = "is unknown or has expired"
NOT_IN_CONNECTION = "is not an account of this connection"


def _hash(state: str) -> bytes:
    return hashlib.sha256(state.encode()).digest()


def _key(provider: str, external_id: str) -> str:
    return f"{provider}:{external_id}"


def start(
    who: Identity, body: ConnectIn, *, repo: ConnectRepository = REPOSITORY
) -> ConnectStarted:
    del body  # provider "facebook": the one dialog, which also grants Instagram
    settings = get_settings()
    if not settings.meta_app_id:
        raise ServiceUnavailable("META_APP_ID is not configured")
    state = secrets.token_urlsafe(32)
    repo.add_state(
        state_hash=_hash(state),
        organization_id=who.organization_id,
        user_id=who.user_id,
        expires_at=dt.datetime.now(dt.UTC) + STATE_LIFETIME,
    )
    return ConnectStarted(authorize_url=oauth.dialog_url(state, settings), state=state)


def _refused(loc: str, msg: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"loc": ["body", loc], "msg": msg}])


def _redeem(code: str) -> oauth.Grant:
    try:
        return oauth.redeem(code)
    except GraphError as exc:
        if exc.code == 100 and exc.subcode in CODE_SUBCODES:
            raise _refused(
                "code",
                CODE_REFUSED,
                "Meta refused the authorization code; connect again.",
            ) from exc
        logger.warning(
            "Meta failed the connect flow",
            extra={"error_class": exc.error_class.value, "error_code": exc.error_code},
        )
        raise BadGateway("Meta did not complete the connection; try again.") from exc
    except (OutOfTime, ValueError) as exc:
        logger.warning("Meta failed the connect flow", extra={"error": type(exc).__name__})
        raise BadGateway("Meta did not complete the connection; try again.") from exc


def callback(
    who: Identity, body: CallbackIn, *, repo: ConnectRepository = REPOSITORY
) -> Connection:
    if not repo.redeem_state(
        state_hash=_hash(body.state), user_id=who.user_id, organization_id=who.organization_id
    ):
        raise _refused(
            "state",
            STATE_REFUSED,
            "The connect request is not valid; start again.",
        )
    grant = _redeem(body.code)
    missing = [s for s in oauth.SCOPES if s not in grant.granted]
    required = [s for s in missing if s in oauth.REQUIRED_SCOPES]
    if required:
        raise ValidationFailed(
            f"Facebook did not grant {', '.join(required)}, which reading Page insights needs;"
            " connect again and allow them.",
            errors=[{"loc": ["scope", s], "msg": "was declined"} for s in required],
        )
    connection_id = str(uuid.uuid4())
    sealed = crypto.encrypt(
        json.dumps(
            {
                "user": grant.user_token,
                "accounts": {_key(a.provider, a.external_id): a.token for a in grant.accounts},
            }
        ),
        connection_id,
    )
    public = [
        {
            "provider": a.provider,
            "external_id": a.external_id,
            "name": a.name,
            "username": a.username,
        }
        for a in grant.accounts
    ]
    repo.add_connection(
        connection_id=connection_id,
        organization_id=who.organization_id,
        user_id=who.user_id,
        meta_user_id=grant.meta_user_id,
        granted=sorted(grant.granted),
        accounts=public,
        tokens_ciphertext=sealed,
    )
    connected = repo.connected(who.organization_id)
    logger.info(
        "Meta connection made",
        extra={"connection_id": connection_id, "accounts": len(public), "missing": missing},
    )
    return Connection(
        connection_id=connection_id,
        granted_scopes=sorted(grant.granted),
        missing_scopes=missing,
        accounts=[
            ConnectableAccount(**a, connected=(a["provider"], a["external_id"]) in connected)
            for a in public
        ],
    )


def _account(stored: StoredConnection, body: IntegrationIn) -> tuple[dict[str, Any], str]:
    for account in stored.accounts:
        if (account["provider"], account["external_id"]) == (body.provider, body.external_id):
            tokens = json.loads(crypto.decrypt(stored.tokens_ciphertext, stored.id))
            return account, str(tokens["accounts"][_key(body.provider, body.external_id)])
    raise _refused(
        "external_id",
        NOT_IN_CONNECTION,
        "That account was not among those Meta listed for this connection.",
    )


def connect_account(
    who: Identity,
    body: IntegrationIn,
    *,
    repo: ConnectRepository = REPOSITORY,
    send: queue.SendJobs | None = None,
) -> tuple[str, bool]:
    """Connect ``body``'s account from its connection: (integration id, created). A
    needs_reauth integration of it takes the new token and is active again; an active (or
    disabled) one is a 409."""
    assert body.connection_id is not None
    stored = repo.use_connection(
        connection_id=body.connection_id, organization_id=who.organization_id
    )
    if stored is None:
        raise _refused(
            "connection_id",
            CONNECTION_GONE,
            "That connection is unknown or has expired; connect again.",
        )
    account, token = _account(stored, body)
    name = body.name or str(account["name"])[:200]

    def work(conn: Any) -> tuple[str, bool]:
        found = repo.existing(
            conn,
            organization_id=who.organization_id,
            provider=body.provider,
            external_id=body.external_id,
        )
        if found is not None:
            if found.status != "needs_reauth":
                raise Conflict(f"That account is already connected ({found.status}).")
            repo.reconnect(
                conn,
                integration_id=found.id,
                token_ciphertext=crypto.encrypt(token, found.id),
                meta_user_id=stored.meta_user_id,
            )
            return found.id, False
        integration_id = str(uuid.uuid4())
        if not repo.insert(
            conn,
            integration_id=integration_id,
            organization_id=who.organization_id,
            provider=body.provider,
            external_id=body.external_id,
            name=name,
            token_ciphertext=crypto.encrypt(token, integration_id),
            meta_user_id=stored.meta_user_id,
        ):
            raise Conflict("That account is already connected.")
        return integration_id, True

    integration_id, created = db.run(work)
    logger.info(
        "integration connected from a connection",
        extra={"integration_id": integration_id, "new": created},
    )
    _first_sync(who, integration_id, send or queue.send_jobs)
    return integration_id, created


def _first_sync(who: Identity, integration_id: str, send: queue.SendJobs) -> None:
    """The first sync (posts and the account's 90-day history) starts now rather than at the
    next schedule; if the queue is unavailable the schedule does it, so this never fails the
    request."""
    job = IngestJob(
        integration_id=integration_id, organization_id=who.organization_id, snapshot_date=today()
    )
    try:
        send([job])
    except Exception as exc:  # noqa: BLE001 - best effort by design, logged
        logger.warning(
            "first sync not queued; the schedule will run it",
            extra={"integration_id": integration_id, "error": type(exc).__name__},
        )
