"""Analytics exports: the request and answers of the two routes, the queue message, and the
rows the repository returns. Models do no I/O."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from nexus.identity import parse_id
from nexus.integrations.models import AnalyticsQuery, MetricRow
from nexus.models.common import OutModel, field_error

# The CSV's header: metric row v2's fields, in MetricRow's order (what GET /analytics/metrics
# answers), so a spreadsheet and the API name the same things.
COLUMNS: tuple[str, ...] = tuple(MetricRow.model_fields)
ExportStatus = Literal["pending", "ready", "failed", "expired"]


class ExportIn(AnalyticsQuery):
    """POST /analytics/exports: the analytics reads' range rules (inclusive, ``from`` not
    after ``to``, at most 366 days, ``integration_id`` optional and the caller's), but a body
    names both dates: no defaults."""

    # The reads' query drops "required" from its schema (both have defaults there).
    model_config = ConfigDict(extra="forbid", json_schema_extra=None)

    # Runs before DateRange's own (which would fill in the defaults).
    @model_validator(mode="before")
    @classmethod
    def _both_dates(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("from", "to"):
                if name not in data:
                    raise field_error(name, "Field required", None, title="ExportIn")
                if data[name] is None:
                    raise field_error(name, "may not be null", None, title="ExportIn")
        return data


class ExportCreated(OutModel):
    id: str
    status: Literal["pending"]


class Export(OutModel):
    """An export as its owner sees it: ``url`` (a presigned GET of the CSV) only while it is
    ready and not expired; ``row_count`` once it is ready."""

    id: str
    status: ExportStatus
    row_count: int | None
    url: str | None
    expires_at: dt.datetime


def _uuid(value: str) -> str:
    parsed = parse_id(value)
    if parsed is None:
        raise ValueError("must be a UUID")
    return parsed


Id = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_uuid)]


class ExportJob(BaseModel):
    """ExportQueue's message v1: which export to produce, and whose (the worker's claim
    checks both)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    export_id: Id
    organization_id: Id

    def body(self) -> str:
        return self.model_dump_json()


@dataclass(frozen=True, slots=True)
class StoredExport:
    """An export's row, as GET /analytics/exports/{id} reads it."""

    id: str
    status: str
    row_count: int | None
    object_key: str
    start: dt.date
    end: dt.date
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Claimed:
    """An export the worker holds (its claim, for the lease): what to read and where to
    write it."""

    id: str
    organization_id: str
    start: dt.date
    end: dt.date
    integration_id: str | None
    object_key: str


@dataclass(frozen=True, slots=True)
class NotClaimed:
    """Why the worker did not take an export: ``missing`` (no such export of that
    organization), ``done`` (ready or failed already: a redelivery), ``expired`` (its link
    time is over before it ran), ``busy`` (another delivery holds it)."""

    reason: Literal["missing", "done", "expired", "busy"]
