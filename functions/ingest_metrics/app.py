"""IngestMetricsFunction: SQS consumer with partial batch responses (ReportBatchItemFailures).

One failing message never fails its neighbours: each record is processed on its own and only
the ones to retry are reported. Each job runs against the invocation's remaining time: one
that cannot finish in it gives its message back (IngestJobsGivenBack) instead of the
invocation being killed mid-way.
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

from nexus.ingest import consumer
from nexus.observability import logger, metrics

# Every failed record is reported, even when all fail: the response stays a partial one.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> str:
    try:
        outcome = consumer.handle_message(
            record.body,
            receipt_handle=record.receipt_handle,
            deadline=consumer.time_left(lambda_context),
        )
    except consumer.GivenBack as given_back:
        metrics.add_metric(name="IngestJobsGivenBack", unit=MetricUnit.Count, value=1)
        metrics.add_metric(
            name=f"IngestJobsGivenBack_{given_back.reason}", unit=MetricUnit.Count, value=1
        )
        raise
    metrics.add_metric(name=f"IngestJobs_{outcome.status}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="MetricRowsWritten", unit=MetricUnit.Count, value=outcome.rows_written)
    return outcome.status


@metrics.log_metrics  # one EMF record per invocation, no API calls
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    retried = len(response.get("batchItemFailures", []))
    metrics.add_metric(name="IngestJobsRetried", unit=MetricUnit.Count, value=retried)
    return response
