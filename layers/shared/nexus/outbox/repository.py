"""SQL for the outbox and the suppression list. Each method is one unit of work, except
:func:`insert`, which runs inside the caller's open transaction (the change that causes the
email)."""

from __future__ import annotations

from typing import Any

from psycopg.rows import class_row, scalar_row
from psycopg.types.json import Jsonb

from nexus import db
from nexus.outbox.models import Claim

INSERT = (
    "INSERT INTO outbox (id, kind, recipient, payload, secret_ciphertext)"
    " VALUES (%s, %s, %s, %s, %s)"
)

# One statement: claim the row when it is pending and nobody holds it (or the holder's lease
# ran out), and say in the same round trip what it is when it cannot be claimed. The outer
# SELECT reads the row as it was before the UPDATE (one snapshot per statement).
CLAIM = """
WITH claimed AS (
    UPDATE outbox SET attempts = attempts + 1, claimed_at = now()
    WHERE id = %(id)s AND status = 'pending'
      AND (claimed_at IS NULL OR claimed_at < now() - make_interval(secs => %(lease)s))
    RETURNING id, kind, recipient, payload, secret_ciphertext, attempts
)
SELECT o.status, c.id IS NOT NULL AS claimed, COALESCE(c.kind, '') AS kind,
       COALESCE(c.recipient, '') AS recipient, COALESCE(c.payload, '{}'::jsonb) AS payload,
       c.secret_ciphertext, COALESCE(c.attempts, o.attempts) AS attempts,
       EXISTS (SELECT 1 FROM email_suppressions s WHERE s.address_key = lower(o.recipient))
           AS suppressed
FROM outbox o LEFT JOIN claimed c ON true
WHERE o.id = %(id)s
"""

# The sweep's claim: due rows, oldest first, skipping rows another sweep (or a writer's
# publish) holds. Marked relayed before they are sent so that two sweeps never pick the same
# row; a send that fails un-marks them (:meth:`OutboxRepository.unrelay`), and a crash in
# between only delays them to the resend age.
DUE = """
UPDATE outbox o SET relayed_at = now()
WHERE o.id IN (
    SELECT id FROM outbox
    WHERE status = 'pending'
      AND ((relayed_at IS NULL
            AND created_at < now() - make_interval(secs => %(relay_after)s))
        OR (relayed_at < now() - make_interval(secs => %(resend_after)s)
            AND attempts < %(max_attempts)s))
    ORDER BY created_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
RETURNING o.id::text
"""


def insert(
    conn: db.Conn,
    *,
    outbox_id: str,
    kind: str,
    recipient: str,
    payload: dict[str, Any],
    secret_ciphertext: bytes | None,
) -> None:
    conn.execute(INSERT, (outbox_id, kind, recipient, Jsonb(payload), secret_ciphertext))


class OutboxRepository:
    # Writers, after their commit.
    def mark_relayed(self, ids: list[str]) -> int:
        return db.execute(
            "UPDATE outbox SET relayed_at = now()"
            " WHERE id = ANY(%s::uuid[]) AND relayed_at IS NULL",
            (ids,),
        )

    # MaintenanceFunction's sweep.
    def due(
        self, *, relay_after: int, resend_after: int, max_attempts: int, batch: int
    ) -> list[str]:
        params = {
            "relay_after": relay_after,
            "resend_after": resend_after,
            "max_attempts": max_attempts,
            "batch": batch,
        }
        return db.fetch_all(scalar_row, DUE, params)

    def unrelay(self, ids: list[str]) -> int:
        """Rows whose ids NotifyQueue did not take: due again at the next sweep."""
        return db.execute(
            "UPDATE outbox SET relayed_at = NULL WHERE id = ANY(%s::uuid[]) AND status = 'pending'",
            (ids,),
        )

    # NotifyFunction.
    def claim(self, outbox_id: str, *, lease_seconds: int) -> Claim:
        found = db.fetch_one(class_row(Claim), CLAIM, {"id": outbox_id, "lease": lease_seconds})
        return found or Claim(status=None)

    def mark_sent(self, outbox_id: str, *, message_id: str | None) -> int:
        return db.execute(
            "UPDATE outbox SET status = 'sent', sent_at = now(), secret_ciphertext = NULL,"
            " claimed_at = NULL, last_error = NULL, message_id = %s"
            " WHERE id = %s AND status = 'pending'",
            (message_id, outbox_id),
        )

    def give_up(self, outbox_id: str, *, status: str, error: str | None) -> int:
        """Suppressed or failed for good: the secret goes, the reason stays."""
        return db.execute(
            "UPDATE outbox SET status = %s, secret_ciphertext = NULL, claimed_at = NULL,"
            " last_error = %s WHERE id = %s AND status = 'pending'",
            (status, error and error[:500], outbox_id),
        )

    def release(self, outbox_id: str, *, error: str) -> int:
        """A transient failure: the row stays pending and unclaimed for the next delivery."""
        return db.execute(
            "UPDATE outbox SET claimed_at = NULL, last_error = %s"
            " WHERE id = %s AND status = 'pending'",
            (error[:500], outbox_id),
        )

    def suppress(
        self, *, address: str, reason: str, feedback_id: str | None, detail: str | None
    ) -> int:
        return db.execute(
            "INSERT INTO email_suppressions (address_key, reason, feedback_id, detail)"
            " VALUES (lower(%(address)s), %(reason)s, %(feedback)s, %(detail)s)"
            " ON CONFLICT (address_key) DO UPDATE SET reason = EXCLUDED.reason,"
            " feedback_id = EXCLUDED.feedback_id, detail = EXCLUDED.detail, updated_at = now()",
            {
                "address": address[:254],
                "reason": reason,
                "feedback": feedback_id and feedback_id[:255],
                "detail": detail and detail[:500],
            },
        )

    def is_suppressed(self, address: str) -> bool:
        found = db.fetch_one(
            scalar_row,
            "SELECT EXISTS (SELECT 1 FROM email_suppressions WHERE address_key = lower(%s))",
            (address,),
        )
        return bool(found)
