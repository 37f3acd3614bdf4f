"""Integrations (a seller's connected Facebook Pages) and the analytics reads."""

from __future__ import annotations

import uuid

from nexus import crypto, pagination
from nexus.errors import Conflict, NotFound, found
from nexus.identity import Identity
from nexus.ingest import queue
from nexus.ingest.job import IngestJob
from nexus.integrations.models import (
    TOP_CONTENT,
    AccountList,
    AnalyticsQuery,
    AnalyticsSummaryQuery,
    ContentKey,
    ContentPage,
    ContentQuery,
    Integration,
    IntegrationIn,
    IntegrationList,
    IntegrationPatch,
    MetricKey,
    MetricPage,
    MetricsQuery,
    Queued,
    RunList,
    Summary,
    SyncIn,
)
from nexus.integrations.repository import AlreadyConnected, IntegrationRepository
from nexus.meta import connect
from nexus.models.dates import today
from nexus.observability import logger
from nexus.settings import get_settings

_NOT_FOUND = "No such integration."
REPOSITORY = IntegrationRepository()


def _id(raw: str) -> str:
    return pagination.require_id(raw, _NOT_FOUND)


def create(
    who: Identity, body: IntegrationIn, *, repo: IntegrationRepository = REPOSITORY
) -> tuple[Integration, bool]:
    """(the integration, created): an account from a connection may instead revive a
    needs_reauth integration (not created: 200)."""
    if body.connection_id is not None:
        integration_id, created = connect.connect_account(who, body)
        row = repo.get(organization_id=who.organization_id, integration_id=integration_id)
        return found(row, _NOT_FOUND), created
    assert body.access_token is not None and body.name is not None  # IntegrationIn checks
    integration_id = str(uuid.uuid4())
    # The id is the AES-GCM associated data: a ciphertext only opens on its own row.
    sealed = crypto.encrypt(body.access_token.get_secret_value(), integration_id)
    try:
        row = repo.create(
            integration_id=integration_id,
            organization_id=who.organization_id,
            provider=body.provider,
            external_id=body.external_id,
            name=body.name,
            token_ciphertext=sealed,
        )
    except AlreadyConnected as exc:
        raise Conflict("This organization already has an integration for that page.") from exc
    logger.info("integration created", extra={"integration_id": integration_id})
    return row, True


def list_all(who: Identity, *, repo: IntegrationRepository = REPOSITORY) -> IntegrationList:
    return IntegrationList(items=repo.list_for(who.organization_id))


def update(
    who: Identity,
    raw_id: str,
    body: IntegrationPatch,
    *,
    repo: IntegrationRepository = REPOSITORY,
) -> Integration:
    integration_id = _id(raw_id)
    sealed = (
        crypto.encrypt(body.access_token.get_secret_value(), integration_id)
        if body.access_token
        else None
    )
    return found(
        repo.update(
            organization_id=who.organization_id,
            integration_id=integration_id,
            name=body.name,
            token_ciphertext=sealed,
            enabled=body.enabled,
        ),
        _NOT_FOUND,
    )


def delete(who: Identity, raw_id: str, *, repo: IntegrationRepository = REPOSITORY) -> None:
    integration_id = _id(raw_id)
    if not repo.soft_delete(organization_id=who.organization_id, integration_id=integration_id):
        raise NotFound(_NOT_FOUND)


def sync(
    who: Identity,
    raw_id: str,
    body: SyncIn | None,
    *,
    repo: IntegrationRepository = REPOSITORY,
    send: queue.SendJobs = queue.send_jobs,
) -> Queued:
    integration_id = _id(raw_id)
    row = found(
        repo.get(organization_id=who.organization_id, integration_id=integration_id), _NOT_FOUND
    )
    if row.status != "active":
        raise Conflict(f"The integration is {row.status}; it cannot be synced now.")
    snapshot = (body.date if body else None) or today()
    send(
        [
            IngestJob(
                integration_id=integration_id,
                organization_id=who.organization_id,
                snapshot_date=snapshot,
            )
        ]
    )
    return Queued(queued=True)


def metrics(
    who: Identity, query: MetricsQuery, *, repo: IntegrationRepository = REPOSITORY
) -> MetricPage:
    """A page of metric rows in (date, content_id) order; ``next_cursor`` continues it."""
    rows = repo.metrics(organization_id=who.organization_id, query=query, limit=query.limit + 1)
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        last = page[-1]
        key = MetricKey(
            date=last.date, content_id=last.content_id, integration_id=last.integration_id
        )
        next_cursor = pagination.encode_key(key)
    return MetricPage(items=page, next_cursor=next_cursor)


def runs(
    who: Identity, query: AnalyticsQuery, *, repo: IntegrationRepository = REPOSITORY
) -> RunList:
    return RunList(items=repo.runs(organization_id=who.organization_id, query=query))


def accounts(
    who: Identity, query: AnalyticsQuery, *, repo: IntegrationRepository = REPOSITORY
) -> AccountList:
    return AccountList(items=repo.accounts(organization_id=who.organization_id, query=query))


def content(
    who: Identity, query: ContentQuery, *, repo: IntegrationRepository = REPOSITORY
) -> ContentPage:
    """A page of content, newest first; ``next_cursor`` continues it."""
    rows = repo.content(organization_id=who.organization_id, query=query, limit=query.limit + 1)
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        last, at = page[-1]
        key = ContentKey(at=at, integration_id=last.integration_id, content_id=last.content_id)
        next_cursor = pagination.encode_key(key)
    return ContentPage(items=[row for row, _ in page], next_cursor=next_cursor)


def summary(
    who: Identity, query: AnalyticsSummaryQuery, *, repo: IntegrationRepository = REPOSITORY
) -> Summary:
    """Buckets of daily increases from the rollups, and the top content of the range."""
    org = who.organization_id
    return Summary(
        buckets=repo.buckets(organization_id=org, query=query),
        top_content=repo.top_content(
            organization_id=org,
            query=query,
            window_days=get_settings().ingest_window_days,
            limit=TOP_CONTENT,
        ),
    )
