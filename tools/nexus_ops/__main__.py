"""`nexus` operator CLI: ``python -m nexus_ops <command>`` (``make ops ARGS=...``).

Queues are found from ``--stack`` (a deployed stack's outputs, with AWS credentials) or from
``INGEST_QUEUE_URL`` / ``INGEST_DLQ_URL`` (the local stack prints them).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def _queues(args: argparse.Namespace, sqs: Any) -> tuple[str, str]:
    if args.stack:
        import boto3

        outputs = boto3.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0][
            "Outputs"
        ]
        by_key = {o["OutputKey"]: o["OutputValue"] for o in outputs}
        return by_key["IngestQueueUrl"], by_key["IngestDeadLetterQueueUrl"]
    queue, dlq = os.environ.get("INGEST_QUEUE_URL"), os.environ.get("INGEST_DLQ_URL")
    if not queue or not dlq:
        raise SystemExit("error: give --stack NAME or set INGEST_QUEUE_URL and INGEST_DLQ_URL")
    return queue, dlq


def _depth(sqs: Any, url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nexus", description=__doc__)
    parser.add_argument("--stack", help="deployed stack name (queue URLs from its outputs)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("queues", help="show ingest queue and dead-letter queue depths")
    redrive = sub.add_parser("redrive", help="move dead-lettered jobs back to the ingest queue")
    redrive.add_argument("--only", choices=["transient", "throttled"], help="only this class")
    redrive.add_argument("--rate", type=int, default=100, help="messages/s for the move task")
    args = parser.parse_args(argv)

    import boto3

    from nexus_ops.redrive import RedriveRefused
    from nexus_ops.redrive import redrive as run_redrive

    sqs = boto3.client("sqs")
    queue_url, dlq_url = _queues(args, sqs)
    if args.command == "queues":
        for name, url in (("IngestQueue", queue_url), ("IngestDeadLetterQueue", dlq_url)):
            visible, in_flight = _depth(sqs, url)
            print(f"{name:<24} {visible:>6} waiting {in_flight:>6} in flight")
        return 0

    def progress(moved: int, kept: int) -> None:
        print(f"\rmoved {moved}, kept {kept}", end="", flush=True)

    try:
        result = run_redrive(
            sqs,
            dlq_url=dlq_url,
            queue_url=queue_url,
            only=args.only,
            rate=args.rate,
            progress=progress,
        )
    except RedriveRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result.method == "move-task":
        print(f"started message move task {result.task_handle} (SQS moves them at ≤ {args.rate}/s)")
    else:
        print(f"\nredrive done: moved {result.moved}, kept {result.kept} in the dead-letter queue")
    return 0


if __name__ == "__main__":
    sys.exit(main())
