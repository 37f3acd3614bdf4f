"""Rows the ingestion repository returns (the message itself is nexus.ingest.job)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Schedulable:
    """An integration the fan-out queues a job for."""

    id: str
    organization_id: str


@dataclass(frozen=True, slots=True)
class Target:
    """A job's integration, as the consumer needs it."""

    integration_id: str
    organization_id: str
    external_id: str
    status: str
    deleted: bool
    token_ciphertext: bytes
