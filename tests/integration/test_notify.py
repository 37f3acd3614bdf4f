"""NotifyFunction on PostgreSQL + moto (SQS, SES v2): one email per outbox id however often
its message is delivered, SES down delays email but loses none, suppressed addresses are not
mailed, and SES's bounce and complaint notifications fill the suppression list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from functions.notify import app as notify_app
from nexus import outbox
from nexus.settings import get_settings
from nexus_local.events import sqs_record
from tests.support.api import lambda_context
from tests.support.mail import Mail, start_mail

pytestmark = pytest.mark.db_role("nexus_notify")
ARN = "arn:aws:sqs:us-east-1:123456789012:NotifyQueue"


@pytest.fixture
def mail(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mail]:
    monkeypatch.setenv("NOTIFY_RETRY_BASE_SECONDS", "0")  # a retried message is visible at once
    yield from start_mail(monkeypatch)


def _write(database_url: str, kind: str = "password_reset", **row: Any) -> str:
    """A writer's transaction (as the auth role), committed."""
    with (
        psycopg.connect(database_url, user="nexus_auth", autocommit=True) as c,
        c.transaction(),
    ):
        return outbox.add(
            c,  # type: ignore[arg-type]
            kind=kind,
            recipient=row.get("recipient", "ada@example.com"),
            payload=row.get("payload", {"name": "Ada <Lovelace>"}),
            secret=row.get("secret"),
        )


def _invoke(*bodies: str) -> dict[str, Any]:
    records = [
        sqs_record({"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": b}, ARN)
        for i, b in enumerate(bodies)
    ]
    result: dict[str, Any] = notify_app.lambda_handler(
        {"Records": records}, lambda_context("NotifyFunction")
    )
    return result


def _row(conn: Any, outbox_id: str) -> dict[str, Any]:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    found: dict[str, Any] = cur.execute(
        "SELECT status, attempts, secret_ciphertext, last_error, message_id, sent_at"
        " FROM outbox WHERE id = %s",
        (outbox_id,),
    ).fetchone()
    return found


def test_the_same_message_delivered_three_times_sends_one_email(
    mail: Mail, database_url: str, conn: Any
) -> None:
    # Given a reset email with its single-use token, relayed twice (publish and the sweep)
    outbox_id = _write(database_url, secret="reset-token-123")
    body = json.dumps({"outbox_id": outbox_id})
    # When its message is delivered three times (twice in one batch, once more later)
    first = _invoke(body, body)
    second = _invoke(body)
    # Then one email went, with the link and both parts; the row is sent, its secret erased
    assert first == second == {"batchItemFailures": []}
    sent = mail.sent()
    assert len(sent) == 1
    assert sent[0]["to"] == ["ada@example.com"]
    assert sent[0]["subject"] == "Reset your Nexus Sales password"
    assert "http://127.0.0.1:8080/auth/reset?token=reset-token-123" in sent[0]["body"]
    assert "Ada &lt;Lovelace&gt;" in sent[0]["body"]  # moto keeps the HTML part
    row = _row(conn, outbox_id)
    assert (row["status"], row["attempts"], row["secret_ciphertext"]) == ("sent", 1, None)
    assert row["message_id"]


def test_ses_down_delays_email_but_loses_none(
    mail: Mail, database_url: str, conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an order confirmation in NotifyQueue, and SES unreachable (connection refused)
    outbox_id = _write(
        database_url,
        "order_confirmation",
        recipient="buyer@example.com",
        payload={"order_id": "o-1", "product_name": "Cake", "amount": 2999, "currency": "USD"},
    )
    outbox.publish([outbox_id])
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    # When it is delivered three times while SES is down
    for _ in range(3):
        result = mail.deliver()
        assert len(result["batchItemFailures"]) == 1
    # Then nothing was sent, the row waits with its error, and the message is still queued
    row = _row(conn, outbox_id)
    assert (row["status"], row["attempts"]) == ("pending", 3)
    assert row["last_error"] == "EndpointConnectionError"
    assert mail.sent() == []
    # When SES is back
    monkeypatch.delenv("AWS_ENDPOINT_URL_SESV2")
    get_settings.cache_clear()
    assert mail.deliver() == {"batchItemFailures": []}
    # Then the email goes, once; the queue is empty and nothing was dead-lettered
    assert len(mail.sent()) == 1
    assert "http://127.0.0.1:8080/success?order=o-1" in mail.sent()[0]["body"]
    assert "29.99 USD" in mail.sent()[0]["body"]
    assert _row(conn, outbox_id)["status"] == "sent"
    assert mail.deliver() == {"batchItemFailures": []}
    assert mail.receive(mail.dlq_url) == []
    assert mail.sent()[0]["to"] == ["buyer@example.com"]


def test_a_rejected_email_is_recorded_not_retried(
    mail: Mail, database_url: str, conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a sender SES refuses (moto refuses an unverified identity: MessageRejected)
    monkeypatch.setenv("EMAIL_FROM", "nobody@unverified.test")
    get_settings.cache_clear()
    outbox_id = _write(database_url, secret="t")
    # When its message is delivered
    assert _invoke(json.dumps({"outbox_id": outbox_id})) == {"batchItemFailures": []}
    # Then the row is failed with the reason and its secret erased; a redelivery sends nothing
    row = _row(conn, outbox_id)
    assert (row["status"], row["last_error"], row["secret_ciphertext"]) == (
        "failed",
        "MessageRejected",
        None,
    )
    assert _invoke(json.dumps({"outbox_id": outbox_id})) == {"batchItemFailures": []}
    assert mail.sent() == []


def test_a_message_that_is_no_outbox_id_is_dropped(mail: Mail, database_url: str) -> None:
    assert _invoke("not json", json.dumps({"outbox_id": "nope"})) == {"batchItemFailures": []}
    unknown = json.dumps({"outbox_id": "00000000-0000-4000-8000-000000000000"})
    assert _invoke(unknown) == {"batchItemFailures": []}


def _sns(notification: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "Sns": {"Type": "Notification", "Message": json.dumps(notification)},
            }
        ]
    }


BOUNCE = {
    "eventType": "Bounce",
    "bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [{"emailAddress": "Gone@Example.com", "action": "failed"}],
        "feedbackId": "0100018c-feedback",
    },
    "mail": {"messageId": "m-1", "destination": ["Gone@Example.com"]},
}
COMPLAINT = {
    "eventType": "Complaint",
    "complaint": {
        "complainedRecipients": [{"emailAddress": "angry@example.com"}],
        "complaintFeedbackType": "abuse",
        "feedbackId": "0100018c-complaint",
    },
    "mail": {"messageId": "m-2"},
}


def test_bounces_and_complaints_suppress_the_address(
    mail: Mail, database_url: str, conn: Any
) -> None:
    # Given SES's event destination reports a hard bounce, a complaint and a soft bounce
    soft = {**BOUNCE, "bounce": {**BOUNCE["bounce"], "bounceType": "Transient"}}  # type: ignore[dict-item]
    results = [
        notify_app.lambda_handler(_sns(n), lambda_context("NotifyFunction"))
        for n in (BOUNCE, COMPLAINT, soft)
    ]
    # Then the hard bounce and the complaint are suppressed, the soft bounce is not
    assert [r["suppressed"] for r in results] == [1, 1, 0]
    rows = conn.execute(
        "SELECT address_key, reason FROM email_suppressions ORDER BY address_key"
    ).fetchall()
    assert rows == [("angry@example.com", "complaint"), ("gone@example.com", "bounce")]
    # When an email to a suppressed address is delivered (any spelling of it)
    outbox_id = _write(database_url, "verify_email", recipient="GONE@example.com", secret="s")
    assert _invoke(json.dumps({"outbox_id": outbox_id})) == {"batchItemFailures": []}
    # Then nothing is sent and the row says why, its secret erased
    row = _row(conn, outbox_id)
    assert (row["status"], row["secret_ciphertext"]) == ("suppressed", None)
    assert mail.sent() == []


def test_an_email_dead_lettered_during_a_long_outage_is_resent_by_redrive_once(
    mail: Mail,
    database_url: str,
    conn: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from nexus_ops.__main__ import main as cli

    # Given SES down for longer than NotifyQueue's five receives
    outbox_id = _write(database_url, "verify_email", secret="v-token")
    outbox.publish([outbox_id])
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    for _ in range(5):
        assert len(mail.deliver()["batchItemFailures"]) == 1
    assert mail.deliver() == {"batchItemFailures": []}  # nothing left: dead-lettered
    # When SES is back and the operator redrives the email dead-letter queue
    monkeypatch.delenv("AWS_ENDPOINT_URL_SESV2")
    monkeypatch.setenv("NOTIFY_DLQ_URL", mail.dlq_url)
    get_settings.cache_clear()
    assert cli(["redrive", "--queue", "notify"]) == 0
    assert "moved 1, kept 0" in capsys.readouterr().out
    assert cli(["queues", "--queue", "notify"]) == 0
    assert "NotifyDeadLetterQueue" in capsys.readouterr().out
    # Then the email goes once, its link intact, and a second redrive has nothing to send
    assert mail.deliver() == {"batchItemFailures": []}
    (sent,) = mail.sent()
    assert "http://127.0.0.1:8080/auth/verify?token=v-token" in sent["body"]
    row = _row(conn, outbox_id)
    assert (row["status"], row["attempts"]) == ("sent", 6)
