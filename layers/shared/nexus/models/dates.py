"""Dates in queries: ``from``/``to`` as YYYY-MM-DD, inclusive, with defaults and bounds.
Shared by the analytics reads and the seller's ledger, and kept apart from either domain's
models so a function loads only what it uses."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nexus.models.common import field_error

# Graph reports lifetime values as of now: a snapshot is meaningful for recent days only, and
# an analytics range spans at most this many days.
MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 28


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


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
    model_config = ConfigDict(
        frozen=True,
        defer_build=True,  # see nexus.models.common
        json_schema_extra=lambda s: s.pop("required", None),
    )

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
