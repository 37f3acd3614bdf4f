"""MigrationFunction: a CloudFormation custom resource that applies pending migrations on
every deploy. Idempotent; a PostgreSQL advisory lock keeps two deploys from racing."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.db import connect
from nexus.db.migrate import migrate
from nexus.observability import logger


def _respond(event: dict[str, Any], context: LambdaContext, status: str, reason: str = "") -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason or f"see log stream {context.log_stream_name}",
            "PhysicalResourceId": event.get("PhysicalResourceId", "nexus-migrations"),
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - CloudFormation's pre-signed https URL
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310
        pass


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    if event.get("RequestType") == "Delete":
        # Never drop data with the stack's custom resource; the cluster keeps a snapshot.
        _respond(event, context, "SUCCESS")
        return
    try:
        with connect() as conn:
            applied = migrate(conn)
        logger.info("migrations applied", extra={"applied": applied})
        _respond(event, context, "SUCCESS", f"applied: {', '.join(applied) or 'none pending'}")
    except Exception as exc:  # noqa: BLE001 - CloudFormation must hear of any failure
        logger.exception("migrations failed")
        _respond(event, context, "FAILED", f"{type(exc).__name__}: {exc}"[:500])
