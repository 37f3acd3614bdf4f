"""IngestJob v1: the one message schema shared by the fan-out (producer) and the ingestion
consumer. Never reuse an API model or a database row as a message."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class IngestJob(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    integration_id: Annotated[str, Field(min_length=1, max_length=64)]
    organization_id: Annotated[str, Field(min_length=1, max_length=64)]
    snapshot_date: date

    def body(self) -> str:
        return self.model_dump_json()
