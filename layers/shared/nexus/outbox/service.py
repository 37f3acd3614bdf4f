"""NotifyFunction's work: deliver one outbox row (at most one send per claim), and record
SES's bounce and complaint notifications in the suppression list.

Idempotency by outbox id: a delivery first claims the row in one statement (pending, and no
unexpired claim by another delivery). A row already sent, suppressed or failed is skipped,
so a relay or a function that runs twice sends one email. The one window left: SES accepts
the email and the invocation dies before :meth:`~nexus.outbox.repository.OutboxRepository.mark_sent`
commits; the next delivery, once the claim's lease ran out, sends it again. SES has no
idempotency token that could close it (contract §7).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from nexus import crypto
from nexus.observability import logger
from nexus.outbox import ses
from nexus.outbox.models import Claim, Email, secret_context
from nexus.outbox.render import render
from nexus.outbox.repository import OutboxRepository
from nexus.settings import get_settings

REPOSITORY = OutboxRepository()
Outcome = Literal["sent", "duplicate", "suppressed", "failed", "unknown"]
Send = Callable[[Email], str]


class RetryLater(Exception):
    """Report the message as a batch item failure; it is visible again in ``delay`` s."""

    def __init__(self, reason: str, *, delay: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


def backoff(attempts: int) -> int:
    """Seconds until the next try after ``attempts`` failed ones: doubling from
    NOTIFY_RETRY_BASE_SECONDS, at most 15 minutes."""
    base = get_settings().notify_retry_base_seconds
    return int(min(base * 2 ** max(attempts - 1, 0), 900))


def _email(outbox_id: str, claim: Claim) -> Email:
    secret = None
    if claim.secret_ciphertext is not None:
        secret = crypto.decrypt(bytes(claim.secret_ciphertext), secret_context(outbox_id))
    return render(
        outbox_id=outbox_id,
        kind=claim.kind,
        recipient=claim.recipient,
        payload=claim.payload,
        secret=secret,
        base_url=get_settings().web_base_url,
    )


def _not_claimed(outbox_id: str, claim: Claim) -> Outcome:
    if claim.status is None:
        logger.warning("no such outbox row", extra={"outbox_id": outbox_id})
        return "unknown"
    if claim.status == "pending":
        # Another delivery of the same id holds it now: come back when it is done.
        raise RetryLater("claimed", delay=get_settings().notify_retry_base_seconds)
    return "duplicate"


def deliver(
    outbox_id: str, *, repo: OutboxRepository = REPOSITORY, send: Send = ses.send
) -> Outcome:
    """Send outbox row ``outbox_id`` unless it was sent (or given up) already."""
    claim = repo.claim(outbox_id, lease_seconds=get_settings().outbox_claim_lease_seconds)
    if not claim.claimed:
        return _not_claimed(outbox_id, claim)
    if claim.suppressed:
        repo.give_up(outbox_id, status="suppressed", error="recipient suppressed")
        return "suppressed"
    email = _email(outbox_id, claim)
    try:
        message_id = send(email)
    except ses.SendFailed as exc:
        if exc.permanent:
            repo.give_up(outbox_id, status="failed", error=exc.code)
            logger.warning("email refused", extra={"outbox_id": outbox_id, "error": exc.code})
            return "failed"
        repo.release(outbox_id, error=exc.code)
        raise RetryLater(exc.code, delay=backoff(claim.attempts)) from exc
    # The window: SES has accepted the email; a crash before this commits sends it again.
    repo.mark_sent(outbox_id, message_id=message_id)
    logger.info("email sent", extra={"outbox_id": outbox_id, "kind": claim.kind})
    return "sent"


def outbox_id_of(body: str) -> str:
    """The outbox id a NotifyQueue message carries (ValueError when it carries none)."""
    try:
        found = json.loads(body)["outbox_id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("not an outbox message") from exc
    return str(uuid.UUID(str(found)))


@dataclass(frozen=True, slots=True)
class Feedback:
    reason: Literal["bounce", "complaint"]
    addresses: list[str]
    feedback_id: str | None
    detail: str | None


def _feedback(notification: dict[str, Any]) -> Feedback | None:
    """An SES event (configuration set event destination, SNS) or notification: the
    addresses to suppress. Transient (soft) bounces suppress nobody."""
    kind = notification.get("eventType") or notification.get("notificationType")
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":
            return None
        recipients = bounce.get("bouncedRecipients") or []
        detail = f"{bounce.get('bounceType')}/{bounce.get('bounceSubType')}"
        return Feedback(
            "bounce",
            [str(r["emailAddress"]) for r in recipients if r.get("emailAddress")],
            bounce.get("feedbackId"),
            detail,
        )
    if kind == "Complaint":
        complaint = notification.get("complaint") or {}
        recipients = complaint.get("complainedRecipients") or []
        return Feedback(
            "complaint",
            [str(r["emailAddress"]) for r in recipients if r.get("emailAddress")],
            complaint.get("feedbackId"),
            complaint.get("complaintFeedbackType"),
        )
    return None


def record_feedback(message: str, *, repo: OutboxRepository = REPOSITORY) -> int:
    """One SNS message from SES: suppress its bounced or complained addresses; returns how
    many. Other events (deliveries, sends) are ignored."""
    feedback = _feedback(json.loads(message))
    if feedback is None:
        return 0
    for address in feedback.addresses:
        repo.suppress(
            address=address,
            reason=feedback.reason,
            feedback_id=feedback.feedback_id,
            detail=feedback.detail,
        )
    logger.info(
        "addresses suppressed", extra={"reason": feedback.reason, "count": len(feedback.addresses)}
    )
    return len(feedback.addresses)
