"""The outbox on PostgreSQL + moto: a row commits with its transaction or not at all, the
after-commit publish relays it, and the sweep relays whatever publish missed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nexus import db, outbox
from nexus.outbox import relay
from tests.support.mail import Mail, start_mail

pytestmark = pytest.mark.db_role("nexus_checkout")


@pytest.fixture
def mail(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mail]:
    yield from start_mail(monkeypatch)


def _add(**extra: Any) -> str:
    return db.run(
        lambda conn: outbox.add(
            conn,
            kind="order_confirmation",
            recipient="buyer@example.com",
            payload={"order_id": "x"},
            **extra,
        )
    )


def test_add_commits_with_its_transaction_and_publish_relays(mail: Mail, conn: Any) -> None:
    # Given one row written in a transaction that commits, and one in a transaction that fails
    kept = _add(secret="single-use-token")

    def rolled_back(c: db.Conn) -> None:
        outbox.add(c, kind="new_sale", recipient="seller@example.com", payload={})
        raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        db.run(rolled_back)
    # When the writer publishes after the commit
    outbox.publish([kept])
    # Then only the committed row exists, relayed, its secret encrypted; its id is queued
    rows = conn.execute("SELECT id::text, relayed_at, secret_ciphertext FROM outbox").fetchall()
    assert [r[0] for r in rows] == [kept]
    assert rows[0][1] is not None
    assert b"single-use-token" not in bytes(rows[0][2])
    assert mail.queued_ids() == [kept]


def test_publish_never_raises_and_the_sweep_relays_what_it_missed(
    mail: Mail, conn: Any, monkeypatch: pytest.MonkeyPatch, as_role: Any
) -> None:
    # Given rows whose publish failed (the queue URL points nowhere)
    ids = [_add() for _ in range(23)]
    monkeypatch.setenv("NOTIFY_QUEUE_URL", mail.url + "-missing")
    from nexus.settings import get_settings

    get_settings.cache_clear()
    outbox.publish(ids)  # no exception
    assert conn.execute("SELECT count(*) FROM outbox WHERE relayed_at IS NULL").fetchone()[0] == 23
    # When the sweep runs (as MaintenanceFunction's role) once they are older than the relay age
    monkeypatch.setenv("NOTIFY_QUEUE_URL", mail.url)
    monkeypatch.setenv("OUTBOX_SWEEP_BATCH", "10")
    conn.execute("UPDATE outbox SET created_at = now() - interval '2 minutes'")
    as_role("nexus_maintenance")
    result = relay.sweep()
    # Then every row is relayed, in batches, each id queued once
    assert (result.relayed, result.failed, result.batches) == (23, 0, 3)
    assert sorted(mail.queued_ids()) == sorted(ids)
    assert relay.sweep().relayed == 0


def test_maintenance_relays_lost_messages_and_leaves_dead_lettered_ones_to_redrive(
    mail: Mail, conn: Any, as_role: Any
) -> None:
    from functions.maintenance import app as maintenance_app
    from tests.support.api import lambda_context

    # Given a row relayed long ago whose message was lost, one that already used its five
    # tries (its message is in the dead-letter queue), one sent, and one relayed just now
    lost, tried, sent, fresh = (_add() for _ in range(4))
    conn.execute("UPDATE outbox SET relayed_at = now() - interval '1 hour'")
    conn.execute("UPDATE outbox SET attempts = 5 WHERE id = %s", (tried,))
    conn.execute("UPDATE outbox SET status = 'sent', sent_at = now() WHERE id = %s", (sent,))
    conn.execute("UPDATE outbox SET relayed_at = now() WHERE id = %s", (fresh,))
    # When MaintenanceFunction runs on its schedule
    as_role("nexus_maintenance")
    result = maintenance_app.lambda_handler(
        {"source": "nexus.maintenance"}, lambda_context("MaintenanceFunction")
    )
    # Then only the lost one is relayed again
    assert result["outbox_sweep"] == {"relayed": 1, "failed": 0, "batches": 1}
    assert mail.queued_ids() == [lost]


def test_a_failing_job_does_not_stop_the_next_and_fails_the_invocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from functions.maintenance import app as maintenance_app
    from tests.support.api import lambda_context

    ran: list[str] = []

    def broken(keep_going: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    def later(keep_going: Any) -> dict[str, Any]:
        ran.append("later")
        return {}

    monkeypatch.setattr(maintenance_app, "JOBS", {"broken": broken, "later": later})
    with pytest.raises(maintenance_app.MaintenanceFailed, match="broken"):
        maintenance_app.lambda_handler({}, lambda_context("MaintenanceFunction"))
    assert ran == ["later"]
