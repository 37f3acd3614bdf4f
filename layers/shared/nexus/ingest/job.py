"""IngestJob v1: the one message schema shared by the fan-out (producer) and the ingestion
consumer. Never reuse an API model or a database row as a message.

A message that fails this model can never succeed, so the consumer parks it in the
dead-letter queue at its first receive (contract §6): ids that are not UUIDs, a snapshot
date outside [today - 400 days, today + 1], an unknown schema version.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from nexus.identity import parse_id

OLDEST_DAYS = 400


def _uuid(value: str) -> str:
    parsed = parse_id(value)
    if parsed is None:
        raise ValueError("must be a UUID")
    return parsed


def _in_window(value: date) -> date:
    today = datetime.now(UTC).date()
    if not today - timedelta(days=OLDEST_DAYS) <= value <= today + timedelta(days=1):
        raise ValueError(f"must be within the last {OLDEST_DAYS} days (or tomorrow)")
    return value


Id = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_uuid)]


class IngestJob(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    integration_id: Id
    organization_id: Id
    snapshot_date: Annotated[date, AfterValidator(_in_window)]

    def body(self) -> str:
        return self.model_dump_json()
