from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from nexus.models.common import AccessToken, ApiModel, OutModel, RequiredName, plain_text

ExternalId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(plain_text),
]
IntegrationStatus = Literal["active", "needs_reauth", "disabled"]
RunStatus = Literal["ok", "partial", "deferred", "needs_reauth", "failed"]


class IntegrationIn(ApiModel):
    provider: Literal["facebook"]
    external_id: ExternalId
    name: RequiredName
    access_token: AccessToken


class IntegrationPatch(ApiModel):
    name: RequiredName | None = None
    access_token: AccessToken | None = None
    enabled: bool | None = None


class SyncIn(ApiModel):
    # JSON has no date type: a YYYY-MM-DD string is the one accepted form.
    date: Annotated[dt.date | None, Field(strict=False)] = None


class Run(OutModel):
    integration_id: str
    date: dt.date
    status: RunStatus
    content_total: int
    content_failed: int
    finished_at: dt.datetime | None
    error_code: str | None


class Integration(OutModel):
    id: str
    provider: str
    external_id: str
    name: str
    status: IntegrationStatus
    created_at: dt.datetime
    last_run: Run | None


class IntegrationList(OutModel):
    items: list[Integration]


class Queued(OutModel):
    queued: bool


class MetricRow(OutModel):
    integration_id: str
    content_id: str
    date: dt.date
    impressions: int | None
    reach: int | None
    reactions: int | None
    video_views: int | None
    clicks: int | None
    comments: int | None
    shares: int | None


class MetricList(OutModel):
    items: list[MetricRow]


class RunList(OutModel):
    items: list[Run]
