"""MaintenanceFunction: on MaintenanceSchedule, runs each maintenance job in turn (JOBS),
each within the invocation's remaining time; one job's failure does not keep the next from
running, and fails the invocation at the end (the Errors alarm) so it is seen.

Jobs: the outbox sweep (relays outbox rows the writers' after-commit publish missed); the
order expiry sweep (pending orders past their Checkout Session's expiry, settled as Stripe
reports the session); the connect flow's purge (Meta connections unused for an hour, with
the tokens they hold, and expired OAuth states); the metrics' monthly partitions (made
ahead, dropped past METRICS_RETENTION_MONTHS) and the watch over the day's run. Later issues
append theirs to JOBS.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.ingest import upkeep
from nexus.meta.repository import ConnectRepository
from nexus.observability import logger, metrics
from nexus.outbox import relay
from nexus.payments import expiry
from nexus.settings import get_settings

# Kept back from the remaining time so a job's last batch can finish and report.
MARGIN_MS = 10_000
Job = Callable[[Callable[[], bool]], dict[str, Any]]


def outbox_sweep(keep_going: Callable[[], bool]) -> dict[str, Any]:
    result = relay.sweep(keep_going=keep_going)
    metrics.add_metric(name="OutboxRelayed", unit=MetricUnit.Count, value=result.relayed)
    metrics.add_metric(name="OutboxRelayFailed", unit=MetricUnit.Count, value=result.failed)
    return {"relayed": result.relayed, "failed": result.failed, "batches": result.batches}


def expire_orders(keep_going: Callable[[], bool]) -> dict[str, Any]:
    result = expiry.sweep(keep_going=keep_going)
    for status, count in result.outcomes.items():
        metrics.add_metric(name=f"OrdersSwept_{status}", unit=MetricUnit.Count, value=count)
    metrics.add_metric(
        name="OrderSweepStripeFailures", unit=MetricUnit.Count, value=result.stripe_failures
    )
    return result.as_dict()


def purge_connections(keep_going: Callable[[], bool]) -> dict[str, Any]:
    del keep_going  # two DELETEs by index, each a single statement
    connections, states = ConnectRepository().purge()
    metrics.add_metric(name="MetaConnectionsPurged", unit=MetricUnit.Count, value=connections)
    return {"connections": connections, "states": states}


def metric_partitions(keep_going: Callable[[], bool]) -> dict[str, Any]:
    del keep_going  # a few DDL statements
    settings = get_settings()
    made = upkeep.ensure_partitions(settings.metric_partitions_ahead)
    dropped = upkeep.drop_expired(settings.metrics_retention_months)
    if dropped:
        logger.info("metric months dropped", extra={"partitions": dropped})
    return {"made": made, "dropped": dropped}


def ingest_watch(keep_going: Callable[[], bool]) -> dict[str, Any]:
    """After INGEST_FINISH_BY_HOUR (UTC), how many active integrations lack a finished run
    for today: IngestRunsUnfinished, whose alarm says the day's run is late."""
    del keep_going
    now = datetime.now(UTC)
    if now.hour < get_settings().ingest_finish_by_hour:
        return {"checked": False}
    left = upkeep.unfinished_runs(now.date())
    metrics.add_metric(name="IngestRunsUnfinished", unit=MetricUnit.Count, value=left)
    if left:
        logger.warning("the day's run has not finished", extra={"unfinished": left})
    return {"checked": True, "unfinished": left}


# The outbox first: the expiry sweep's paid orders add mail that the next run relays anyway.
JOBS: dict[str, Job] = {
    "outbox_sweep": outbox_sweep,
    "expire_orders": expire_orders,
    "purge_connections": purge_connections,
    "metric_partitions": metric_partitions,
    "ingest_watch": ingest_watch,
}


class MaintenanceFailed(Exception):
    """At least one job failed (each is logged with its error)."""


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def keep_going() -> bool:
        return bool(context.get_remaining_time_in_millis() > MARGIN_MS)

    results: dict[str, Any] = {}
    failed: list[str] = []
    for name, job in JOBS.items():
        if not keep_going():
            results[name] = {"skipped": "out of time"}
            continue
        try:
            results[name] = job(keep_going)
        except Exception as exc:  # noqa: BLE001 - the next job still runs; raised below
            logger.exception("maintenance job failed", extra={"job": name})
            results[name] = {"error": type(exc).__name__}
            failed.append(name)
    if failed:
        raise MaintenanceFailed(", ".join(failed))
    return results
