"""ExportFunction: writes analytics exports to ExportsBucket (ExportQueue, BatchSize 1, partial
batch responses).

Per message: one export, streamed from PostgreSQL into a multipart upload (nexus.exports.worker).
A redelivered message of an export already ready or failed is acknowledged without redoing
it; one that runs out of the invocation's time is given back (ExportsGivenBack) and, after
EXPORT_MAX_ATTEMPTS receives, failed. A message that raises anything else (the database
unreachable even to record the failure) is retried by SQS and, after maxReceiveCount, parked
in ExportDeadLetterQueue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.exports import worker
from nexus.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> str:
    try:
        outcome = worker.handle_message(
            record.body,
            receipt_handle=record.receipt_handle,
            receive_count=int(record.attributes.approximate_receive_count or 1),
            deadline=worker.time_left(lambda_context),
        )
    except worker.GivenBack as given_back:
        metrics.add_metric(name="ExportsGivenBack", unit=MetricUnit.Count, value=1)
        metrics.add_metric(
            name=f"ExportsGivenBack_{given_back.reason}", unit=MetricUnit.Count, value=1
        )
        raise
    metrics.add_metric(name=f"Exports_{outcome.status}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ExportRowsWritten", unit=MetricUnit.Count, value=outcome.rows)
    return outcome.status


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
