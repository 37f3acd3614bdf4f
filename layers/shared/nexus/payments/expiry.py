"""The expiry sweep (MaintenanceFunction): a pending order whose Checkout Session expired
becomes ``expired`` even when Stripe's webhook never comes — but only after asking Stripe
for the session, so a session that was paid makes its order ``paid``, never ``expired``.

For each pending order past its expiry (plus a grace for Stripe's own expiry and webhook):
no session at all (Stripe was never reached, or its answer was lost, so the buyer never
saw a payment page) → expired; otherwise the session as Stripe reports it decides, and one
Stripe still shows open is expired at Stripe first (``POST …/expire``), whose answer then
decides. A completed session whose payment is still processing leaves the order pending
(the async events finish it). Stripe unreachable stops the sweep: the next run carries on;
a session Stripe says it does not know is left pending and logged as an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nexus.observability import logger
from nexus.payments.repository import Due, PaymentsRepository
from nexus.payments.state import Change, change_for_session
from nexus.payments.stripe import StripeClient, StripeRefused, StripeUnavailable
from nexus.settings import get_settings


@dataclass
class SweepResult:
    checked: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # status reached → count
    unchanged: int = 0
    stripe_failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _session_change(due: Due, stripe: StripeClient) -> Change:
    if due.session_id is None:
        return Change("expired", order_id=due.order_id)
    session = stripe.retrieve_checkout_session(due.session_id)
    if session.get("status") == "open":
        try:
            session = stripe.expire_checkout_session(
                due.session_id, idempotency_key=f"nexus-expire-{due.order_id}"
            )
        except StripeRefused:  # no longer open (completed meanwhile): ask again
            session = stripe.retrieve_checkout_session(due.session_id)
    # The sweep's order is the one it read, whatever the session's reference says.
    return dataclasses.replace(change_for_session(session), order_id=due.order_id)


def sweep(
    *,
    keep_going: Callable[[], bool],
    payments: PaymentsRepository | None = None,
    stripe: StripeClient | None = None,
) -> SweepResult:
    settings = get_settings()
    repo = payments or PaymentsRepository()
    client = stripe or StripeClient(settings)
    result = SweepResult()
    after: Due | None = None
    while keep_going():
        batch = repo.due_for_expiry(
            grace_seconds=settings.order_expiry_grace_seconds,
            limit=settings.order_expiry_batch,
            after=after,
        )
        for due in batch:
            if not keep_going():
                return result
            after = due
            try:
                change = _session_change(due, client)
            except StripeUnavailable:
                logger.warning("expiry sweep stopped: Stripe failed", extra={"order": due.order_id})
                result.stripe_failures += 1
                return result
            except StripeRefused as exc:
                # Stripe does not know the session (another account's key?): never guess that
                # an order was not paid; leave it for a person to look at.
                logger.error(
                    "expiry sweep: Stripe refused to report a session",
                    extra={"order": due.order_id, "stripe_code": exc.code},
                )
                result.stripe_failures += 1
                continue
            applied = repo.apply(change, fee_bps=settings.platform_fee_bps)
            result.checked += 1
            if applied.outcome == "applied" and applied.status is not None:
                result.outcomes[applied.status] = result.outcomes.get(applied.status, 0) + 1
            else:
                result.unchanged += 1
        if len(batch) < settings.order_expiry_batch:
            break
    return result
