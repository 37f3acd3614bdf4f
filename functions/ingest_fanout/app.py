"""IngestFanoutFunction: on the schedule, one SQS message per active integration."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.ingest import fanout
from nexus.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = fanout.run(fanout.snapshot_date(event))
    return {
        "snapshot_date": result.snapshot_date.isoformat(),
        "jobs": result.jobs,
        "batch_calls": result.batch_calls,
    }
