"""NotifyFunction: sends the outbox's emails (NotifyQueue, partial batch responses) and
records SES's bounces and complaints (the configuration set's SNS topic).

Per message: one outbox id, delivered at most once per claim (nexus.outbox.service). A
transient SES failure reports the message as a batch item failure, visible again after a
doubling delay (ChangeMessageVisibility), and after maxReceiveCount it is parked in
NotifyDeadLetterQueue (``nexus_ops redrive --queue notify`` resends it). A message that is
not an outbox id is acknowledged and logged: retrying it cannot help.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.observability import logger, metrics
from nexus.outbox import relay, service

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> str:
    try:
        outbox_id = service.outbox_id_of(record.body)
    except ValueError:
        logger.warning("not an outbox message", extra={"message_id": record.message_id})
        metrics.add_metric(name="EmailsInvalid", unit=MetricUnit.Count, value=1)
        return "invalid"
    try:
        outcome = service.deliver(outbox_id)
    except service.RetryLater as later:
        metrics.add_metric(name="EmailsRetried", unit=MetricUnit.Count, value=1)
        relay.delay(record.receipt_handle, later.delay)
        raise
    metrics.add_metric(name=f"Emails_{outcome}", unit=MetricUnit.Count, value=1)
    return outcome


def _feedback(event: dict[str, Any]) -> dict[str, Any]:
    suppressed = sum(service.record_feedback(r["Sns"]["Message"]) for r in event["Records"])
    metrics.add_metric(name="EmailAddressesSuppressed", unit=MetricUnit.Count, value=suppressed)
    return {"suppressed": suppressed}


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    records = event.get("Records") or []
    if records and records[0].get("EventSource") == "aws:sns":
        return _feedback(event)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
