"""The outbox's rendering and NotifyFunction's claim logic, with a fake repository."""

from __future__ import annotations

from typing import Any

import pytest

from nexus.outbox import service, ses
from nexus.outbox.models import Claim, Email
from nexus.outbox.render import money, render
from nexus.outbox.repository import OutboxRepository


def test_every_kind_renders_a_subject_text_and_escaped_html() -> None:
    payloads: dict[str, dict[str, Any]] = {
        "verify_email": {"name": None},
        "password_reset": {"name": "Ada"},
        "order_confirmation": {
            "order_id": "o1",
            "product_name": "<b>Cake</b>",
            "amount": 2999,
            "currency": "USD",
        },
        "new_sale": {
            "order_id": "o1",
            "product_name": "Cake",
            "amount": 500,
            "currency": "JPY",
            "buyer_email": "b@example.com",
            "name": "Seller",
        },
        "reconnect": {"integration_id": "i1", "integration_name": "Bakery & Co"},
    }
    for kind, payload in payloads.items():
        email = render(
            outbox_id="id",
            kind=kind,
            recipient="r@example.com",
            payload=payload,
            secret="tok&en",
            base_url="https://app.example/",
        )
        assert email.subject and "\n" not in email.subject
        assert "${" not in email.text + email.html + email.subject, kind
        assert "<b>Cake</b>" not in email.html
    verify = render(
        outbox_id="id",
        kind="verify_email",
        recipient="r@example.com",
        payload={"name": None},
        secret="tok&en",
        base_url="https://app.example/",
    )
    assert "https://app.example/auth/verify?token=tok%26en" in verify.text
    assert "Hello there," in verify.text
    order = render(
        outbox_id="id",
        kind="order_confirmation",
        recipient="r",
        payload=payloads["order_confirmation"],
        secret=None,
        base_url="http://127.0.0.1:8080",
    )
    assert "http://127.0.0.1:8080/success?order=o1" in order.text
    assert "&lt;b&gt;Cake&lt;/b&gt;</strong>, 29.99 USD" in order.html
    assert money(500, "JPY") == "500 JPY" and money(1005, "KWD") == "1.005 KWD"


class FakeOutbox(OutboxRepository):
    def __init__(self, claim: Claim) -> None:
        self.claim_answer = claim
        self.calls: list[tuple[str, Any]] = []

    def claim(self, outbox_id: str, *, lease_seconds: int) -> Claim:
        self.calls.append(("claim", outbox_id))
        return self.claim_answer

    def mark_sent(self, outbox_id: str, *, message_id: str | None) -> int:
        self.calls.append(("sent", message_id))
        return 1

    def give_up(self, outbox_id: str, *, status: str, error: str | None) -> int:
        self.calls.append((status, error))
        return 1

    def release(self, outbox_id: str, *, error: str) -> int:
        self.calls.append(("release", error))
        return 1


CLAIMED = Claim(
    status="pending",
    claimed=True,
    kind="reconnect",
    recipient="s@example.com",
    payload={"integration_name": "Page"},
    attempts=3,
)


def _never(email: Email) -> str:
    raise AssertionError("must not send")


@pytest.mark.parametrize(
    ("claim", "outcome"),
    [
        (Claim(status="sent"), "duplicate"),
        (Claim(status="suppressed"), "duplicate"),
        (Claim(status=None), "unknown"),
    ],
)
def test_a_row_that_cannot_be_claimed_is_not_sent(claim: Claim, outcome: str) -> None:
    assert service.deliver("id", repo=FakeOutbox(claim), send=_never) == outcome


def test_a_row_another_delivery_holds_comes_back_later() -> None:
    with pytest.raises(service.RetryLater):
        service.deliver("id", repo=FakeOutbox(Claim(status="pending")), send=_never)


def test_a_claimed_row_is_sent_once_and_marked() -> None:
    repo = FakeOutbox(CLAIMED)
    sent: list[Email] = []

    def send(email: Email) -> str:
        sent.append(email)
        return "ses-1"

    assert service.deliver("id", repo=repo, send=send) == "sent"
    assert [e.to for e in sent] == ["s@example.com"]
    assert repo.calls == [("claim", "id"), ("sent", "ses-1")]


def test_a_suppressed_recipient_is_given_up_unsent() -> None:
    repo = FakeOutbox(
        Claim(status="pending", claimed=True, kind="reconnect", recipient="x", suppressed=True)
    )
    assert service.deliver("id", repo=repo, send=_never) == "suppressed"
    assert repo.calls[-1] == ("suppressed", "recipient suppressed")


def test_transient_errors_retry_with_doubling_backoff_permanent_ones_are_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def down(email: Email) -> str:
        raise ses.SendFailed("TooManyRequestsException", permanent=False)

    def refused(email: Email) -> str:
        raise ses.SendFailed("MessageRejected", permanent=True)

    repo = FakeOutbox(CLAIMED)
    with pytest.raises(service.RetryLater) as later:
        service.deliver("id", repo=repo, send=down)
    assert later.value.delay == 120  # 30 s doubled twice after the third attempt
    assert repo.calls[-1] == ("release", "TooManyRequestsException")
    assert service.deliver("id", repo=repo, send=refused) == "failed"
    assert repo.calls[-1] == ("failed", "MessageRejected")
    assert [service.backoff(n) for n in (1, 2, 6, 20)] == [30, 60, 900, 900]
