from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, Self

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
from nexus.pagination import key_cursor

ExternalId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(plain_text),
    text_schema(pattern=trimmed(1, 255)),
]
IntegrationStatus = Literal["active", "needs_reauth", "disabled"]
RunStatus = Literal["ok", "partial", "deferred", "needs_reauth", "failed"]
# Graph reports lifetime values as of now: a snapshot is meaningful for recent days only, and
# an analytics range spans at most this many days.
MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 28
# GET /analytics/metrics pages (contract §10): 1000 rows stay well under 1 MiB.
DEFAULT_METRICS_LIMIT, MAX_METRICS_LIMIT = 500, 1000


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


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


def _recent(value: dt.date | None) -> dt.date | None:
    now = today()
    if value is not None and not now - dt.timedelta(days=MAX_RANGE_DAYS) <= value <= now:
        raise PydanticCustomError("date_window", "must be within the last 366 days")
    return value


class IntegrationIn(ApiModel):
    provider: Literal["facebook"]
    external_id: ExternalId
    name: RequiredName
    access_token: AccessToken


class IntegrationPatch(ApiModel):
    name: Annotated[RequiredName | None, NOT_NULL] = None
    access_token: AccessToken | None = None
    enabled: bool | None = None


class SyncIn(ApiModel):
    # JSON has no date type: a YYYY-MM-DD string is the one accepted form.
    date: Annotated[dt.date | None, Field(strict=False), AfterValidator(_recent)] = None


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _as_date(value: Any) -> Any:
    """A YYYY-MM-DD string as a date, so defaults can be computed from it; anything else
    (``0``, ``20261130``, a timestamp) is left for the strict field to refuse."""
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value


QueryDate = Annotated[
    dt.date,
    Field(strict=True, json_schema_extra={"format": "date", "pattern": f"^{_ISO_DATE.pattern}$"}),
]


class DateRange(BaseModel):
    """``from``/``to`` query parameters: inclusive, ``to`` defaults to today and ``from`` to
    27 days before ``to``; at most 366 days apart."""

    # Both have defaults (computed in _defaults): neither is required of a client.
    model_config = ConfigDict(frozen=True, json_schema_extra=lambda s: s.pop("required", None))

    start: QueryDate = Field(alias="from")
    end: QueryDate = Field(alias="to")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        end = _as_date(data.get("to"))
        if end is None:  # absent; an empty ?to= is a value, and not a date
            end = today()
        # date.min + 27 days has no 27 days before it: clamp instead of overflowing.
        floor = dt.date.min + dt.timedelta(days=DEFAULT_RANGE_DAYS - 1)
        start = _as_date(data.get("from"))
        if start is None and isinstance(end, dt.date):
            start = max(end, floor) - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1)
        return {**data, "from": start, "to": end}

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.start > self.end:
            raise field_error("from", "must not be after 'to'", str(self.start), title="range")
        if (self.end - self.start).days > MAX_RANGE_DAYS:
            raise field_error("to", "at most 366 days after 'from'", str(self.end), title="range")
        return self


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


class AnalyticsQuery(DateRange):
    """The query of an analytics read: a date range and, optionally, one integration."""

    integration_id: IntegrationIdFilter = None


class MetricKey(BaseModel):
    """Where a page of metric rows ended: the sort key (date, content_id, integration_id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: dt.date
    content_id: Annotated[str, Field(min_length=1, max_length=255)]
    integration_id: Annotated[str, AfterValidator(_integration_id)]


class MetricsQuery(AnalyticsQuery):
    content_id: Annotated[QueryText | None, Field(max_length=255)] = None
    limit: Annotated[int, Field(ge=1, le=MAX_METRICS_LIMIT)] = DEFAULT_METRICS_LIMIT
    cursor: Annotated[MetricKey | None, key_cursor(MetricKey)] = None


class MetricPage(OutModel):
    items: list[MetricRow]
    next_cursor: str | None


class RunList(OutModel):
    items: list[Run]
