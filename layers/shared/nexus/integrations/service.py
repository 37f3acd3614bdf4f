"""Integrations (a seller's connected Facebook Pages) and the analytics reads."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from nexus import crypto, db, pagination
from nexus.errors import Conflict, NotFound, ValidationFailed
from nexus.identity import Identity
from nexus.ingest import queue
from nexus.ingest.job import IngestJob
from nexus.integrations import repository as repo
from nexus.integrations.models import (
    Integration,
    IntegrationIn,
    IntegrationList,
    IntegrationPatch,
    MetricList,
    MetricRow,
    Queued,
    Run,
    RunList,
    SyncIn,
)
from nexus.observability import logger

_NOT_FOUND = "No such integration."
MAX_RANGE_DAYS = 366


def _integration(row: dict[str, Any]) -> Integration:
    last = row.pop("last_run")
    return Integration(**row, last_run=Run(**last) if last else None)


def _id(raw: str) -> str:
    return pagination.require_id(raw, _NOT_FOUND)


def create(who: Identity, body: IntegrationIn) -> Integration:
    integration_id = str(uuid.uuid4())
    # The id is the AES-GCM associated data: a ciphertext only opens on its own row.
    sealed = crypto.encrypt(body.access_token.get_secret_value(), integration_id)
    try:
        row = db.single(
            lambda conn: repo.create(
                conn,
                integration_id=integration_id,
                organization_id=who.organization_id,
                provider=body.provider,
                external_id=body.external_id,
                name=body.name,
                token_ciphertext=sealed,
            )
        )
    except repo.AlreadyConnected as exc:
        raise Conflict("This organization already has an integration for that page.") from exc
    logger.info("integration created", extra={"integration_id": integration_id})
    return _integration(row)


def list_all(who: Identity) -> IntegrationList:
    rows = db.single(lambda conn: repo.list_for(conn, who.organization_id))
    return IntegrationList(items=[_integration(r) for r in rows])


def update(who: Identity, raw_id: str, body: IntegrationPatch) -> Integration:
    integration_id = _id(raw_id)
    if "name" in body.model_fields_set and body.name is None:
        raise ValidationFailed(
            "The request is not valid.",
            errors=[{"loc": ["body", "name"], "msg": "may not be null"}],
        )
    sealed = (
        crypto.encrypt(body.access_token.get_secret_value(), integration_id)
        if body.access_token
        else None
    )
    row = db.single(
        lambda conn: repo.update(
            conn,
            organization_id=who.organization_id,
            integration_id=integration_id,
            name=body.name,
            token_ciphertext=sealed,
            enabled=body.enabled,
        )
    )
    if row is None:
        raise NotFound(_NOT_FOUND)
    return _integration(row)


def delete(who: Identity, raw_id: str) -> None:
    integration_id = _id(raw_id)
    if not db.single(
        lambda conn: repo.soft_delete(
            conn, organization_id=who.organization_id, integration_id=integration_id
        )
    ):
        raise NotFound(_NOT_FOUND)


def sync(who: Identity, raw_id: str, body: SyncIn | None) -> Queued:
    integration_id = _id(raw_id)
    row = db.single(
        lambda conn: repo.get(
            conn, organization_id=who.organization_id, integration_id=integration_id
        )
    )
    if row is None:
        raise NotFound(_NOT_FOUND)
    if row["status"] != "active":
        raise Conflict(f"The integration is {row['status']}; it cannot be synced now.")
    snapshot = (body.date if body and body.date else None) or datetime.now(UTC).date()
    today = datetime.now(UTC).date()
    if not today - timedelta(days=MAX_RANGE_DAYS) <= snapshot <= today:
        # Graph reports lifetime values as of now: a snapshot is meaningful for recent days.
        raise ValidationFailed(
            "The request is not valid.",
            errors=[{"loc": ["body", "date"], "msg": "must be within the last 366 days"}],
        )
    job = IngestJob(
        integration_id=integration_id,
        organization_id=who.organization_id,
        snapshot_date=snapshot,
    )
    queue.send_jobs([job])
    return Queued(queued=True)


def _range(start: date | None, end: date | None) -> tuple[date, date]:
    end = end or datetime.now(UTC).date()
    # date.min + 27 days has no 27 days before it: clamp instead of overflowing.
    start = start or max(end, date.min + timedelta(days=27)) - timedelta(days=27)
    if start > end:
        raise ValidationFailed(
            "The request is not valid.",
            errors=[{"loc": ["query", "from"], "msg": "must not be after 'to'"}],
        )
    if (end - start).days > MAX_RANGE_DAYS:
        raise ValidationFailed(
            "The request is not valid.",
            errors=[{"loc": ["query", "to"], "msg": "at most 366 days after 'from'"}],
        )
    return start, end


def _optional_id(raw: str | None) -> str | None:
    if raw is None:
        return None
    parsed = pagination.parse_id(raw)
    if parsed is None:
        raise ValidationFailed(
            "The request is not valid.",
            errors=[{"loc": ["query", "integration_id"], "msg": "is not an integration id"}],
        )
    return parsed


def metrics(
    who: Identity,
    integration_id: str | None,
    content_id: str | None,
    start: date | None,
    end: date | None,
) -> MetricList:
    first, last = _range(start, end)
    wanted = _optional_id(integration_id)
    rows = db.single(
        lambda conn: repo.metrics(
            conn,
            organization_id=who.organization_id,
            integration_id=wanted,
            content_id=content_id,
            start=first,
            end=last,
        )
    )
    return MetricList(items=[MetricRow(**r) for r in rows])


def runs(
    who: Identity, integration_id: str | None, start: date | None, end: date | None
) -> RunList:
    first, last = _range(start, end)
    wanted = _optional_id(integration_id)
    rows = db.single(
        lambda conn: repo.runs(
            conn, organization_id=who.organization_id, integration_id=wanted, start=first, end=last
        )
    )
    return RunList(items=[Run(**r) for r in rows])
