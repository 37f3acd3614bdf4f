"""Analytics exports, the seller's side: requesting one (POST /analytics/exports) and asking
after it (GET /analytics/exports/{id}), with a fresh download link each time it is ready.
ExportFunction writes the CSV (nexus.exports.worker)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from nexus import pagination
from nexus.errors import ServiceUnavailable, found
from nexus.exports import queue, storage
from nexus.exports.models import Export, ExportCreated, ExportIn, ExportJob, StoredExport
from nexus.exports.repository import ExportRepository
from nexus.identity import Identity
from nexus.observability import logger
from nexus.settings import get_settings

_NOT_FOUND = "No such export."
REPOSITORY = ExportRepository()
# A download link is valid this long at most (and never past the export's expiry); asking
# again gives a fresh one.
LINK_SECONDS = 900
RETRY_AFTER_SECONDS = 5
Presign = Callable[..., str]


def create(
    who: Identity,
    body: ExportIn,
    *,
    repo: ExportRepository = REPOSITORY,
    send: queue.SendExport = queue.send,
) -> ExportCreated:
    """A pending export, queued for ExportFunction. When it cannot be queued it is failed at
    once and the caller gets a 503 to retry (no export stays pending with no message)."""
    storage.bucket()  # a 503 before anything is stored when exports are not configured
    export_id = str(uuid.uuid4())
    repo.create(
        export_id=export_id,
        organization_id=who.organization_id,
        user_id=who.user_id,
        start=body.start,
        end=body.end,
        integration_id=body.integration_id,
        object_key=storage.object_key(who.organization_id, export_id),
        expiry_hours=get_settings().export_expiry_hours,
    )
    try:
        send(ExportJob(export_id=export_id, organization_id=who.organization_id))
    except Exception as exc:
        logger.warning(
            "export not queued", extra={"export_id": export_id, "error": type(exc).__name__}
        )
        repo.mark_failed(export_id, "not queued")
        raise ServiceUnavailable(
            "Exports are briefly unavailable; retry shortly.", retry_after=RETRY_AFTER_SECONDS
        ) from exc
    logger.info("export requested", extra={"export_id": export_id})
    return ExportCreated(id=export_id, status="pending")


def filename(export: StoredExport) -> str:
    return f"metrics_{export.start.isoformat()}_{export.end.isoformat()}.csv"


def get(
    who: Identity,
    raw_id: str,
    *,
    repo: ExportRepository = REPOSITORY,
    presign: Presign = storage.download_url,
    now: datetime | None = None,
) -> Export:
    """The caller's export (another organization's, or an id that cannot be ours: 404).
    Past ``expires_at`` it is ``expired`` and has no link, whatever it was."""
    export_id = pagination.require_id(raw_id, _NOT_FOUND)
    row = found(repo.get(organization_id=who.organization_id, export_id=export_id), _NOT_FOUND)
    left = (row.expires_at - (now or datetime.now(UTC))).total_seconds()
    status = "expired" if left <= 0 else row.status
    url = None
    if status == "ready":
        expires_in = min(LINK_SECONDS, math.floor(left))
        url = presign(row.object_key, filename(row), expires_in=expires_in)
    return Export.model_validate(
        {
            "id": row.id,
            "status": status,
            "row_count": row.row_count,
            "url": url,
            "expires_at": row.expires_at,
        }
    )
