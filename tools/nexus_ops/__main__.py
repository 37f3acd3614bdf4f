"""`nexus` operator CLI: ``make ops ARGS="<command>"`` (``python -m nexus_ops``).

Where it acts:
- ``--local``: the running local stack, found through the file ``make local`` writes when it
  is up (``$NEXUS_LOCAL_DIR/stack.json``, by default ``.local/stack.json``), so whatever ports
  it was started on; ``LAMBDA_PORT`` / ``SQS_PORT`` override it, and without the file the
  defaults are 127.0.0.1:3001 (Lambda invoke API) and 127.0.0.1:4566 (SQS);
- ``--stack NAME``: a deployed stack, with AWS credentials (queues and functions from the
  stack's outputs and resources);
- otherwise ``INGEST_QUEUE_URL`` / ``INGEST_DLQ_URL`` and boto3's own configuration.

Commands: ``queues [--queue ingest|notify|export]`` (depths), ``redrive [--queue
ingest|notify|export] [--only transient]`` (``notify``: failed emails back to NotifyQueue;
``NOTIFY_QUEUE_URL`` / ``NOTIFY_DLQ_URL`` without --local or --stack; ``export`` likewise with
``EXPORT_*``), ``fire [--date D]`` (run the
fan-out now, as the schedule would), ``sync ID [--date D]`` (queue one integration's job;
reads its organization from ``DATABASE_URL``, with ``--local`` the stack's database),
``migrate`` (apply migrations to ``DATABASE_URL``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from nexus_local import state

# A synchronous invoke waits for the function: the fan-out's Timeout (300 s) and a little.
INVOKE_READ_TIMEOUT = 310.0


def _client(service: str, args: argparse.Namespace) -> Any:
    """A boto3 client with the layer's timeouts and bounded retries (nexus.aws)."""
    from nexus import aws

    read_timeout = INVOKE_READ_TIMEOUT if service == "lambda" else None
    if args.local:
        local = state.locate()
        endpoint = local.lambda_url if service == "lambda" else local.sqs_url
        return aws.client(
            service,
            read_timeout=read_timeout,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - the local stack's dummy key
        )
    return aws.client(service, read_timeout=read_timeout)


def _stack(args: argparse.Namespace) -> dict[str, str]:
    from nexus import aws

    cfn = aws.client("cloudformation")
    outputs = cfn.describe_stacks(StackName=args.stack)["Stacks"][0]["Outputs"]
    found = {o["OutputKey"]: o["OutputValue"] for o in outputs}
    resources = cfn.describe_stack_resource(
        StackName=args.stack, LogicalResourceId="IngestFanoutFunction"
    )["StackResourceDetail"]
    found["IngestFanoutFunction"] = resources["PhysicalResourceId"]
    return found


# --queue: the work queue, its dead-letter queue, and the variables naming them otherwise.
QUEUES = {
    "ingest": ("IngestQueue", "IngestDeadLetterQueue", "INGEST_QUEUE_URL", "INGEST_DLQ_URL"),
    "notify": ("NotifyQueue", "NotifyDeadLetterQueue", "NOTIFY_QUEUE_URL", "NOTIFY_DLQ_URL"),
    "export": ("ExportQueue", "ExportDeadLetterQueue", "EXPORT_QUEUE_URL", "EXPORT_DLQ_URL"),
}


def _queues(args: argparse.Namespace, sqs: Any) -> tuple[str, str]:
    name, dlq_name, queue_var, dlq_var = QUEUES[getattr(args, "queue", None) or "ingest"]
    if args.local:
        return (
            sqs.get_queue_url(QueueName=name)["QueueUrl"],
            sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"],
        )
    if args.stack:
        found = _stack(args)
        return found[f"{name}Url"], found[f"{dlq_name}Url"]
    queue, dlq = os.environ.get(queue_var), os.environ.get(dlq_var)
    if not queue or not dlq:
        raise SystemExit(f"error: use --local, --stack NAME, or set {queue_var} and {dlq_var}")
    return queue, dlq


def _depth(sqs: Any, url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def local_waiting() -> dict[str, int]:
    """Messages waiting (visible) in each ingest queue of the running local stack."""
    args = argparse.Namespace(local=True, stack=None)
    sqs = _client("sqs", args)
    queue, dlq = _queues(args, sqs)
    return {"IngestQueue": _depth(sqs, queue)[0], "IngestDeadLetterQueue": _depth(sqs, dlq)[0]}


def _fire(args: argparse.Namespace) -> int:
    when = (
        f"{args.date}T00:00:00Z" if args.date else datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    name = _stack(args)["IngestFanoutFunction"] if args.stack else "IngestFanoutFunction"
    response = _client("lambda", args).invoke(
        FunctionName=name,
        Payload=json.dumps({"source": "nexus.cli", "time": when}).encode(),
    )
    payload = response["Payload"].read().decode()
    if response.get("FunctionError"):
        print(f"error: the fan-out failed: {payload}", file=sys.stderr)
        return 1
    print(f"fan-out: {payload}")
    return 0


def _sync(args: argparse.Namespace, sqs: Any, queue_url: str) -> int:
    import psycopg

    from nexus.ingest import queue
    from nexus.ingest.job import IngestJob

    url = os.environ.get("DATABASE_URL") or (state.locate().database_url if args.local else None)
    if not url:
        print("error: set DATABASE_URL to find the integration's organization", file=sys.stderr)
        return 2
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT organization_id::text FROM integrations"
            " WHERE id::text = %s AND deleted_at IS NULL",
            (args.integration_id,),
        ).fetchone()
    if row is None:
        print(f"error: no integration {args.integration_id}", file=sys.stderr)
        return 1
    snapshot = args.date or datetime.now(UTC).date().isoformat()
    job = IngestJob.model_validate(
        {
            "integration_id": args.integration_id,
            "organization_id": row[0],
            "snapshot_date": snapshot,
        }
    )
    queue.send_jobs([job], sqs=sqs, url=queue_url)
    print(f"queued {args.integration_id} for {snapshot}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nexus", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--local",
        action="store_true",
        help="act on the running local stack: its endpoints from $NEXUS_LOCAL_DIR/stack.json"
        " (default .local/stack.json, written by make local); LAMBDA_PORT / SQS_PORT"
        " override; without the file 127.0.0.1:3001 (Lambda) and 127.0.0.1:4566 (SQS)",
    )
    where.add_argument("--stack", help="deployed stack name")
    sub = parser.add_subparsers(dest="command", required=True)
    queues = sub.add_parser("queues", help="show a queue's and its dead-letter queue's depths")
    redrive = sub.add_parser(
        "redrive", help="move dead-lettered messages back to their queue (jobs, or emails)"
    )
    for command in (queues, redrive):
        command.add_argument(
            "--queue",
            choices=sorted(QUEUES),
            default="ingest",
            help="ingest: IngestDeadLetterQueue -> IngestQueue (default); notify: failed emails,"
            " NotifyDeadLetterQueue -> NotifyQueue (each is sent at most once: the outbox id);"
            " export: ExportDeadLetterQueue -> ExportQueue (an export already done is not redone)",
        )
    # The classes a dead-lettered job can have: SQS dead-letters transient (and throttled)
    # jobs after maxReceiveCount without an error_class; the consumer marks the rest permanent.
    redrive.add_argument(
        "--only",
        choices=["transient"],
        help="only jobs SQS dead-lettered after maxReceiveCount (leave permanent ones parked)",
    )
    redrive.add_argument("--rate", type=int, default=100, help="messages/s for the move task")
    fire = sub.add_parser("fire", help="run the scheduled fan-out now")
    fire.add_argument("--date", help="snapshot date YYYY-MM-DD (default: today, UTC)")
    sync = sub.add_parser("sync", help="queue one integration's ingestion job now")
    sync.add_argument("integration_id")
    sync.add_argument("--date", help="snapshot date YYYY-MM-DD (default: today, UTC)")
    sub.add_parser("migrate", help="apply pending migrations to DATABASE_URL")
    args = parser.parse_args(argv)

    if args.command == "migrate":
        from nexus.db.migrate import main as migrate

        return migrate()
    from botocore.exceptions import EndpointConnectionError

    try:
        return _run(args)
    except EndpointConnectionError as exc:
        found = f" (from {state.locate().source}; is make local running?)" if args.local else ""
        print(f"error: cannot reach {exc.kwargs.get('endpoint_url')}{found}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "fire":
        return _fire(args)

    from nexus_ops.redrive import RedriveRefused
    from nexus_ops.redrive import redrive as run_redrive

    sqs = _client("sqs", args)
    queue_url, dlq_url = _queues(args, sqs)
    if args.command == "sync":
        return _sync(args, sqs, queue_url)
    if args.command == "queues":
        work, dead = QUEUES[args.queue][:2]
        for name, url in ((work, queue_url), (dead, dlq_url)):
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
            # The local stack's SQS is moto's server: it has no message move tasks.
            move_tasks=False if args.local else None,
            announce=print,
        )
    except RedriveRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result.method == "move-task":
        print(f"started message move task {result.task_handle} (at most {args.rate} messages/s)")
    else:
        print(f"\nredrive done: moved {result.moved}, kept {result.kept} in the dead-letter queue")
    return 0


if __name__ == "__main__":
    sys.exit(main())
