"""ExportQueue (``EXPORT_QUEUE_URL``): the request's message to ExportFunction, and the
worker giving a message back when it runs out of time. Through the clients nexus.aws makes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nexus import aws
from nexus.errors import ServiceUnavailable
from nexus.exports.models import ExportJob
from nexus.ingest import queue as ingest_queue
from nexus.settings import get_settings

SendExport = Callable[[ExportJob], None]


def queue_url() -> str:
    url = get_settings().export_queue_url
    if not url:
        raise ServiceUnavailable("Exports are not configured.")
    return url


def send(job: ExportJob, *, sqs: Any = None) -> None:
    (sqs or aws.client("sqs")).send_message(QueueUrl=queue_url(), MessageBody=job.body())


def give_back(receipt_handle: str, seconds: int) -> bool:
    """Make the message visible again in ``seconds`` (False when SQS could not be told: it
    then returns after the queue's visibility timeout)."""
    return ingest_queue.give_back(receipt_handle, seconds, url=queue_url())
