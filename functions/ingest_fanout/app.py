"""IngestFanoutFunction: on the schedule, one SQS message per active integration."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.ingest import fanout
from nexus.observability import logger, metrics


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = fanout.run(fanout.snapshot_date(event))
    metrics.add_metric(name="IngestJobsQueued", unit=MetricUnit.Count, value=result.jobs)
    return {
        "snapshot_date": result.snapshot_date.isoformat(),
        "jobs": result.jobs,
        "batch_calls": result.batch_calls,
    }
