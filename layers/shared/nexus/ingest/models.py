"""Rows the ingestion repository returns (the message itself is nexus.ingest.job)."""

from __future__ import annotations

import datetime as dt
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
    token_ciphertext: bytes | None  # None once Meta's deauthorize callback forgot it
    provider: str = "facebook"
    # From the connect flow: our app's token, so its calls carry appsecret_proof.
    proven: bool = False
    account_last: dt.date | None = None  # the newest stored account-level day
