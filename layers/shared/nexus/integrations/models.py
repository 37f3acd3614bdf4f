from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from nexus.identity import UUID, parse_id
from nexus.models.common import (
    NO_NUL,
    NOT_NULL,
    AccessToken,
    ApiModel,
    OutModel,
    QueryText,
    RequiredName,
    field_error,
    plain_text,
    text_schema,
    trimmed,
)
from nexus.models.dates import DateRange, today
from nexus.pagination import key_cursor

ExternalId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(plain_text),
    text_schema(pattern=trimmed(1, 255)),
]
IntegrationStatus = Literal["active", "needs_reauth", "disabled"]
RunStatus = Literal["ok", "partial", "deferred", "needs_reauth", "failed"]
# GET /analytics/metrics pages (contract §10): 1000 rows stay well under 1 MiB.
DEFAULT_METRICS_LIMIT, MAX_METRICS_LIMIT = 500, 1000
DEFAULT_CONTENT_LIMIT = 100  # messages can be long: 1000 of 5000 characters stay under 6 MB


def _integration_id(value: str | None) -> str | None:
    if value is None:
        return None
    parsed = parse_id(value)
    if parsed is None:
        raise PydanticCustomError("integration_id", "is not an integration id")
    return parsed


# An optional ?integration_id= filter, as the canonical UUID string.
IntegrationIdFilter = Annotated[
    Annotated[str, StringConstraints(max_length=64), text_schema(format="uuid", pattern=UUID)]
    | None,
    AfterValidator(_integration_id),
]


# Post insights are lifetime totals: Graph serves today's, never a past day's (contract §10).
NOT_TODAY = "must be today (UTC): insights cannot be fetched for another day"


def _today_only(value: dt.date | None) -> dt.date | None:
    if value is not None and value != today():
        raise PydanticCustomError("date_today", NOT_TODAY)
    return value


Provider = Literal["facebook", "instagram"]
# IntegrationIn's two forms (rules across fields: tests/e2e/schema_hooks.py).
TOKEN_WITH_CONNECTION = "must not be given with connection_id"  # noqa: S105 - a message
TOKEN_NEEDED = "is required without connection_id"  # noqa: S105 - a message
NAME_NEEDED = "is required with access_token"
ConnectionId = Annotated[
    Annotated[str, StringConstraints(max_length=64), text_schema(format="uuid", pattern=UUID)],
    AfterValidator(_integration_id),
]


class IntegrationIn(ApiModel):
    """Either v1's manual form (``name`` and a pasted ``access_token``) or an account chosen
    from a connection (``connection_id``; the token comes from the connection, the name from
    Meta unless given)."""

    provider: Provider
    external_id: ExternalId
    name: RequiredName | None = None
    access_token: AccessToken | None = None
    connection_id: ConnectionId | None = None

    @model_validator(mode="after")
    def _one_token_source(self) -> IntegrationIn:
        if self.connection_id is not None:
            if self.access_token is not None:
                raise field_error(
                    "access_token",
                    TOKEN_WITH_CONNECTION,
                    None,
                    title="IntegrationIn",
                )
            return self
        if self.access_token is None:
            raise field_error("access_token", TOKEN_NEEDED, None, title="IntegrationIn")
        if self.name is None:
            raise field_error("name", NAME_NEEDED, None, title="IntegrationIn")
        return self


class ConnectIn(ApiModel):
    provider: Literal["facebook"]


class ConnectStarted(OutModel):
    authorize_url: str
    state: str


class CallbackIn(ApiModel):
    code: Annotated[
        str,
        StringConstraints(min_length=1, max_length=2048),
        AfterValidator(plain_text),
        text_schema(minLength=1, maxLength=2048, pattern=NO_NUL),
    ]
    state: Annotated[
        str,
        StringConstraints(min_length=1, max_length=256),
        AfterValidator(plain_text),
        text_schema(minLength=1, maxLength=256, pattern=NO_NUL),
    ]


class ConnectableAccount(OutModel):
    provider: Provider
    external_id: str
    name: str
    username: str | None
    connected: bool


class Connection(OutModel):
    connection_id: str
    granted_scopes: list[str]
    missing_scopes: list[str]
    accounts: list[ConnectableAccount]


class IntegrationPatch(ApiModel):
    name: Annotated[RequiredName | None, NOT_NULL] = None
    access_token: AccessToken | None = None
    enabled: bool | None = None


class SyncIn(ApiModel):
    # JSON has no date type: a YYYY-MM-DD string is the one accepted form.
    date: Annotated[dt.date | None, Field(strict=False), AfterValidator(_today_only)] = None


class Run(OutModel):
    """A job's run, keyed by its snapshot date; ``observed_date`` is the UTC day its values
    were observed (and the day its rows are stored under): later than ``date`` for a late
    job or a redrive."""

    integration_id: str
    date: dt.date
    observed_date: dt.date | None
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
    """Metric row v2 (contract §10): NULL where the provider or media type has none;
    ``impressions`` holds Meta's "views"."""

    integration_id: str
    provider: str
    content_id: str
    date: dt.date
    impressions: int | None
    reach: int | None
    reactions: int | None
    video_views: int | None
    clicks: int | None
    comments: int | None
    shares: int | None
    saves: int | None
    profile_visits: int | None
    follows: int | None


class AccountRow(OutModel):
    integration_id: str
    provider: str
    date: dt.date
    followers: int | None
    follows: int | None
    views: int | None
    reach: int | None
    engagements: int | None


class AccountList(OutModel):
    items: list[AccountRow]


class AnalyticsQuery(DateRange):
    """The query of an analytics read: a date range and, optionally, one integration."""

    integration_id: IntegrationIdFilter = None


class MetricKey(BaseModel):
    """Where a page of metric rows ended: the sort key (date, content_id, integration_id)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    date: dt.date
    content_id: Annotated[str, Field(min_length=1, max_length=255)]
    integration_id: Annotated[str, AfterValidator(_integration_id)]


class MetricsQuery(AnalyticsQuery):
    content_id: Annotated[QueryText | None, Field(max_length=255)] = None
    limit: Annotated[int, Field(ge=1, le=MAX_METRICS_LIMIT)] = DEFAULT_METRICS_LIMIT
    cursor: Annotated[MetricKey | None, key_cursor(MetricKey)] = None


class ContentRow(OutModel):
    integration_id: str
    provider: str
    content_id: str
    created_at: dt.datetime | None
    message: str | None
    permalink_url: str | None
    media_type: str | None


class ContentKey(BaseModel):
    """Where a page of content ended: (sort time, integration_id, content_id), newest first."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    at: dt.datetime
    integration_id: Annotated[str, AfterValidator(_integration_id)]
    content_id: Annotated[str, Field(min_length=1, max_length=255)]


class ContentQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    integration_id: IntegrationIdFilter = None
    limit: Annotated[int, Field(ge=1, le=MAX_METRICS_LIMIT)] = DEFAULT_CONTENT_LIMIT
    cursor: Annotated[ContentKey | None, key_cursor(ContentKey)] = None


class ContentPage(OutModel):
    items: list[ContentRow]
    next_cursor: str | None


Granularity = Literal["day", "week", "month"]
TOP_CONTENT = 10


class AnalyticsSummaryQuery(AnalyticsQuery):
    granularity: Granularity = "day"


class Bucket(OutModel):
    """Each metric's increase over the bucket's days, summed over content (reach is not:
    unique counts do not add)."""

    start: dt.date
    end: dt.date
    views: int
    reactions: int
    comments: int
    shares: int
    saves: int
    clicks: int


class TopContent(ContentRow):
    views_increase: int
    metrics: MetricRow  # its latest observation in the range


class Summary(OutModel):
    buckets: list[Bucket]
    top_content: list[TopContent]


class MetricPage(OutModel):
    items: list[MetricRow]
    next_cursor: str | None


class RunList(OutModel):
    items: list[Run]
