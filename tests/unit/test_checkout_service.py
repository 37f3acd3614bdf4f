"""nexus.checkout.service decisions: orders in memory (FakeCheckoutRepository and the
FakePaymentsRepository sharing its orders), Stripe only through the sandbox (a FakeStripe
on 127.0.0.1, called by the real StripeClient over HTTP, so the session parameters meet
Stripe's wire format and its checks). Events are the sandbox's own, signed as Stripe signs
them, and given to the webhook as raw bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nexus import files
from nexus.checkout import service
from nexus.checkout.models import CheckoutIn, Order, SummaryQuery, WebhookResult
from nexus.errors import (
    BadRequest,
    Conflict,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)
from nexus.payments import signature
from nexus.payments import stripe as stripe_client
from nexus.settings import get_settings
from nexus_local.fake_stripe import FakeStripe
from tests.support.api import TEST_SECRETS
from tests.support.fakes import (
    CatalogueItem,
    FakeCheckoutRepository,
    FakePaymentsRepository,
    new_id,
    seller,
)

WEBHOOK_SECRET = TEST_SECRETS["STRIPE_WEBHOOK_SECRET"]


@pytest.fixture(scope="module")
def _sandbox() -> Iterator[FakeStripe]:
    fake = FakeStripe(
        TEST_SECRETS["STRIPE_SECRET_KEY"], WEBHOOK_SECRET, auto_deliver=False, sweep_interval=None
    )
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def sandbox(
    _sandbox: FakeStripe, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> FakeStripe:
    """Every test's Stripe: the module's sandbox, emptied (nothing reaches api.stripe.com)."""
    _sandbox.reset()
    monkeypatch.setenv("STRIPE_API_BASE_URL", _sandbox.base_url)
    monkeypatch.setattr(stripe_client, "RETRY_PAUSE_SECONDS", 0.01)  # keep retries fast
    get_settings.cache_clear()
    return _sandbox


@pytest.fixture
def repo() -> FakeCheckoutRepository:
    return FakeCheckoutRepository()


@pytest.fixture
def payments(repo: FakeCheckoutRepository) -> FakePaymentsRepository:
    return FakePaymentsRepository(repo)


@pytest.fixture
def product(repo: FakeCheckoutRepository) -> CatalogueItem:
    return repo.add_product(price=2500, currency="EUR")


def _body(product_id: str, email: str = "buyer@example.com") -> CheckoutIn:
    return CheckoutIn(product_id=product_id, email=email, name="Bea")


def _checkout(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    product_id: str,
    key: str | None = None,
    *,
    email: str = "buyer@example.com",
) -> tuple[Order, bool]:
    return service.checkout(_body(product_id, email), key, repo=repo, payments=payments)


def _session_id(order: Order) -> str:
    assert order.checkout_url is not None
    return order.checkout_url.rsplit("/pay/", 1)[1]


def _deliver(payments: FakePaymentsRepository, event: dict[str, Any]) -> WebhookResult:
    """Stripe's delivery: the event pretty-printed, with a fresh valid signature."""
    raw = json.dumps(event, indent=2).encode()
    return service.stripe_webhook(raw, signature.sign(WEBHOOK_SECRET, raw), payments=payments)


def _paid(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> Order:
    """An order the buyer paid on the sandbox page, its completed event taken."""
    order, _ = _checkout(repo, payments, product.id)
    sandbox.pay(_session_id(order))
    assert _deliver(payments, sandbox.events[-1]).outcome == "applied"
    return order


def _posts(sandbox: FakeStripe, path: str = "/v1/checkout/sessions") -> list[dict[str, Any]]:
    return [c for c in sandbox.log if c["method"] == "POST" and c["path"] == path]


# -- checkout ------------------------------------------------------------------------------
def test_checkout_makes_a_pending_order_and_its_stripe_session_from_the_order(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    order, created = _checkout(repo, payments, product.id, "cart-1")
    assert created is True
    assert (order.status, order.amount, order.currency) == ("pending", 2500, "EUR")
    assert order.product_id == product.id
    # The buyer pays on the sandbox's page
    assert order.checkout_url is not None
    assert order.checkout_url.startswith(f"{sandbox.base_url}/pay/cs_test_")
    # The session is the order's: its price from the catalogue, its id as the reference
    session = sandbox.session(_session_id(order))
    assert (session["amount_total"], session["currency"]) == (2500, "eur")
    assert session["client_reference_id"] == order.id
    assert session["metadata"] == {"order_id": order.id, "product_id": product.id}
    assert session["customer_email"] == "buyer@example.com"
    assert session["expires_at"] == int(order.expires_at.timestamp())
    assert session["success_url"].endswith(f"/success?order={order.id}")
    assert [c["idempotency_key"] for c in _posts(sandbox)] == [f"nexus-checkout-{order.id}"]
    # ... and recorded on the order
    stored = repo.orders[order.id]
    assert (stored.session_id, stored.checkout_url) == (session["id"], order.checkout_url)
    assert payments.calls == ["save_session"]


@pytest.mark.parametrize("raw_id", ["not-a-uuid", ""])
def test_an_id_that_cannot_be_a_product_is_404_without_a_query(
    repo: FakeCheckoutRepository, payments: FakePaymentsRepository, raw_id: str
) -> None:
    with pytest.raises(NotFound, match="No such product"):
        _checkout(repo, payments, raw_id, "cart-1")
    assert repo.calls == []


@pytest.mark.parametrize("key", [None, "cart-1"])
def test_an_unknown_product_is_404(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    key: str | None,
) -> None:
    with pytest.raises(NotFound, match="No such product"):
        _checkout(repo, payments, new_id(), key)
    assert repo.orders == {}
    assert sandbox.log == []


def test_a_replay_with_the_same_key_and_body_returns_the_same_order_and_session(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    first, _ = _checkout(repo, payments, product.id, "cart-1")
    again, created = _checkout(repo, payments, product.id, "cart-1")
    # The first order comes back, not created by this call; Stripe is not asked again
    assert created is False
    assert again == first
    assert len(repo.orders) == 1
    assert len(_posts(sandbox)) == 1


def test_the_same_key_with_another_body_is_409(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    _checkout(repo, payments, product.id, "cart-1")
    with pytest.raises(Conflict, match="different request body"):
        _checkout(repo, payments, product.id, "cart-1", email="other@example.com")
    assert len(repo.orders) == 1
    assert len(_posts(sandbox)) == 1


def test_without_a_key_every_checkout_is_a_new_order_with_its_own_session(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    a, created_a = _checkout(repo, payments, product.id)
    b, created_b = _checkout(repo, payments, product.id)
    assert created_a and created_b
    assert a.id != b.id
    assert _session_id(a) != _session_id(b)
    assert len(sandbox.sessions) == 2


def test_a_lost_race_reads_the_winners_order_by_key(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    # Given a concurrent request with key cart-1 whose order committed after our snapshot
    winner, _ = _checkout(repo, payments, product.id, "cart-1")
    repo.unseen_keys.add("cart-1")
    # When our identical request's statement sees neither its insert nor that order
    order, created = _checkout(repo, payments, product.id, "cart-1")
    # Then the service reads the order by its key: a replay, not a 404
    assert repo.calls[-2:] == ["checkout", "by_idempotency_key"]
    assert (order, created) == (winner, False)
    assert len(sandbox.sessions) == 1


def test_a_lost_race_with_another_body_is_still_409(
    repo: FakeCheckoutRepository, payments: FakePaymentsRepository, product: CatalogueItem
) -> None:
    _checkout(repo, payments, product.id, "cart-1")
    repo.unseen_keys.add("cart-1")
    with pytest.raises(Conflict, match="different request body"):
        _checkout(repo, payments, product.id, "cart-1", email="other@example.com")
    assert repo.calls[-2:] == ["checkout", "by_idempotency_key"]


def test_stripe_unavailable_is_503_and_leaves_the_order_pending_without_a_page(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    # Given Stripe failing twice (the client's attempt and its one retry)
    sandbox.fail_next(500, count=2)
    with pytest.raises(ServiceUnavailable) as caught:
        _checkout(repo, payments, product.id, "cart-1")
    # Then 503 with Retry-After, and a pending order with no payment page yet
    assert caught.value.status == 503
    assert caught.value.retry_after == get_settings().stripe_retry_after_seconds
    (stored,) = repo.orders.values()
    assert (stored.status, stored.session_id, stored.checkout_url) == ("pending", None, None)
    assert [c["status"] for c in sandbox.log] == [500, 500]
    assert sandbox.sessions == []


def test_a_retry_after_a_lost_answer_gets_the_same_session_not_a_second(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    # Given Stripe makes the session but both answers are lost: the buyer sees 503
    sandbox.fail_next(500, count=2, applied=True)
    with pytest.raises(ServiceUnavailable):
        _checkout(repo, payments, product.id, "cart-1")
    assert len(sandbox.sessions) == 1
    # When the buyer retries with the same Idempotency-Key
    order, created = _checkout(repo, payments, product.id, "cart-1")
    # Then the same order gets the session Stripe already made (replayed under the same key)
    assert created is False
    (session,) = sandbox.sessions
    assert _session_id(order) == session["id"]
    assert session["client_reference_id"] == order.id
    keys = {c["idempotency_key"] for c in _posts(sandbox)}
    assert keys == {f"nexus-checkout-{order.id}"}
    assert [c["status"] for c in sandbox.log] == [500, 500, 200]


def test_stripe_refusing_the_session_is_422_and_the_order_fails(
    repo: FakeCheckoutRepository, payments: FakePaymentsRepository, sandbox: FakeStripe
) -> None:
    # Given a product priced under Stripe's minimum charge for its currency
    cheap = repo.add_product(price=10, currency="EUR")
    with pytest.raises(ValidationFailed, match=r"refused this checkout: .*at least") as caught:
        _checkout(repo, payments, cheap.id, "cart-1")
    assert caught.value.status == 422
    # Then the order is failed, never retried at Stripe, and has no payment page
    (stored,) = repo.orders.values()
    assert (stored.status, stored.checkout_url) == ("failed", None)
    assert [c["status"] for c in sandbox.log] == [400]
    # And a replay shows the failed order instead of asking Stripe again
    order, created = _checkout(repo, payments, cheap.id, "cart-1")
    assert (order.status, order.checkout_url, created) == ("failed", None, False)
    assert len(sandbox.log) == 1


def test_a_retry_too_late_for_a_stripe_session_expires_the_order_409(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    # Given a checkout whose session was never made (Stripe down)...
    sandbox.fail_next(500, count=2)
    with pytest.raises(ServiceUnavailable):
        _checkout(repo, payments, product.id, "cart-1")
    # ... retried when less than Stripe's 30 minutes (and a minute's margin) remain
    (stored,) = repo.orders.values()
    stored.expires_at = datetime.now(UTC) + timedelta(minutes=30, seconds=50)
    sandbox.log.clear()
    with pytest.raises(Conflict, match="expired before the payment could start"):
        _checkout(repo, payments, product.id, "cart-1")
    # Then the order is expired without asking Stripe
    assert stored.status == "expired"
    assert sandbox.log == []


def test_a_retry_with_time_enough_left_still_makes_the_session(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    sandbox.fail_next(500, count=2)
    with pytest.raises(ServiceUnavailable):
        _checkout(repo, payments, product.id, "cart-1")
    (stored,) = repo.orders.values()
    stored.expires_at = (datetime.now(UTC) + timedelta(minutes=32)).replace(microsecond=0)
    order, _ = _checkout(repo, payments, product.id, "cart-1")
    assert order.status == "pending"
    assert sandbox.session(_session_id(order))["expires_at"] == int(stored.expires_at.timestamp())


def test_an_order_expired_while_its_session_was_made_is_shown_as_it_is_now(
    repo: FakeCheckoutRepository, sandbox: FakeStripe, product: CatalogueItem
) -> None:
    class SweptMeanwhile(FakePaymentsRepository):
        """The expiry sweep commits between Stripe's answer and save_session."""

        def save_session(self, *, order_id: str, session_id: str, url: str) -> bool:
            self.orders[order_id].status = "expired"
            return super().save_session(order_id=order_id, session_id=session_id, url=url)

    order, created = service.checkout(
        _body(product.id), None, repo=repo, payments=SweptMeanwhile(repo)
    )
    assert created is True
    assert (order.status, order.checkout_url) == ("expired", None)
    assert repo.calls[-1] == "order"
    assert len(sandbox.sessions) == 1


# -- the buyer's view ----------------------------------------------------------------------
@dataclass
class Presigner:
    """Stands in for nexus.files.download_url (tests/unit/test_files.py covers what it signs):
    records what the service asked to presign."""

    asked: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, key: str, filename: str) -> str:
        self.asked.append((key, filename))
        return f"https://nexus-files-test.s3.amazonaws.com/{key}?X-Amz-Signature=0"


@pytest.fixture
def presign(monkeypatch: pytest.MonkeyPatch) -> Presigner:
    presigner = Presigner()
    monkeypatch.setattr(files, "download_url", presigner)
    return presigner


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FILES_BUCKET", "nexus-files-test")
    get_settings.cache_clear()
    return "nexus-files-test"


def test_buyer_order_shows_status_amount_and_product(
    repo: FakeCheckoutRepository, payments: FakePaymentsRepository, product: CatalogueItem
) -> None:
    order, _ = _checkout(repo, payments, product.id)
    view = service.buyer_order(order.id, repo=repo)
    assert (view.id, view.status, view.amount, view.currency) == (order.id, "pending", 2500, "EUR")
    assert (view.product.id, view.product.name) == (product.id, product.name)
    assert view.download_url is None


@pytest.mark.parametrize("raw_id", ["nope", new_id()])
def test_buyer_order_unknown_is_404(repo: FakeCheckoutRepository, raw_id: str) -> None:
    with pytest.raises(NotFound, match="No such order"):
        service.buyer_order(raw_id, repo=repo)


def test_a_paid_order_with_a_file_gives_a_presigned_download(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    bucket: str,
    presign: Presigner,
) -> None:
    key = f"products/{new_id()}/{new_id()}/guide.pdf"
    item = repo.add_product(file_key=key, file_name="Field guide.pdf")
    order = _paid(repo, payments, sandbox, item)
    view = service.buyer_order(order.id, repo=repo)
    assert presign.asked == [(key, "Field guide.pdf")]
    assert view.download_url == f"https://{bucket}.s3.amazonaws.com/{key}?X-Amz-Signature=0"


@pytest.mark.parametrize(
    "has_file,has_bucket,pay", [(True, False, True), (False, True, True), (True, True, False)]
)
def test_no_download_without_a_file_a_bucket_or_a_payment(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    presign: Presigner,
    request: pytest.FixtureRequest,
    has_file: bool,
    has_bucket: bool,
    pay: bool,
) -> None:
    if has_bucket:
        request.getfixturevalue("bucket")
    item = repo.add_product(
        file_key="products/p/u/a.pdf" if has_file else None,
        file_name="a.pdf" if has_file else None,
    )
    if pay:
        order = _paid(repo, payments, sandbox, item)
    else:
        order, _ = _checkout(repo, payments, item.id)
    view = service.buyer_order(order.id, repo=repo)
    assert view.status == ("paid" if pay else "pending")
    assert view.download_url is None
    assert presign.asked == []


# -- the seller's views --------------------------------------------------------------------
def test_seller_order_of_another_organization_is_404(
    repo: FakeCheckoutRepository, payments: FakePaymentsRepository, product: CatalogueItem
) -> None:
    order, _ = _checkout(repo, payments, product.id)
    mine = service.seller_order(seller(product.organization_id), order.id, repo=repo)
    assert (mine.id, mine.checkout_url) == (order.id, order.checkout_url)
    with pytest.raises(NotFound, match="No such order"):
        service.seller_order(seller(), order.id, repo=repo)


def test_seller_orders_lists_only_the_sellers_own_by_status(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    other = repo.add_product()
    pending, _ = _checkout(repo, payments, product.id)
    paid = _paid(repo, payments, sandbox, product)
    _checkout(repo, payments, other.id)
    me = seller(product.organization_id)
    page = service.seller_orders(me, None, 10, None, repo=repo)
    assert [o.id for o in page.items] == [paid.id, pending.id]  # newest first
    assert page.next_cursor is None
    only_paid = service.seller_orders(me, "paid", 10, None, repo=repo)
    assert [(o.id, o.status, o.checkout_url) for o in only_paid.items] == [(paid.id, "paid", None)]
    assert service.seller_orders(seller(), None, 10, None, repo=repo).items == []


def test_summary_counts_the_sellers_paid_orders_and_fees(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    _paid(repo, payments, sandbox, product)
    _checkout(repo, payments, product.id)  # pending: not in the ledger
    today = datetime.now(UTC).date()
    query = SummaryQuery.model_validate({"from": today.isoformat(), "to": today.isoformat()})
    (item,) = service.summary(seller(product.organization_id), query, repo=repo).items
    fee = (2500 * get_settings().platform_fee_bps + 5000) // 10000
    assert (item.currency, item.paid_orders, item.gross, item.fees) == ("EUR", 1, 2500, fee)
    assert item.net == 2500 - fee
    assert service.summary(seller(), query, repo=repo).items == []


# -- refunds -------------------------------------------------------------------------------
def test_a_refund_asks_stripe_and_the_order_is_refunded_by_its_event(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    order = _paid(repo, payments, sandbox, product)
    me = seller(product.organization_id)
    shown = service.refund(me, order.id, repo=repo, payments=payments)
    # Stripe refunded the payment; the order stays paid until Stripe says so
    assert shown.status == "paid"
    assert repo.orders[order.id].refund_requested_at is not None
    refunds = _posts(sandbox, "/v1/refunds")
    assert [c["idempotency_key"] for c in refunds] == [f"nexus-refund-{order.id}"]
    # A second request before Stripe's event: the same key, so Stripe's answer replayed
    again = service.refund(me, order.id, repo=repo, payments=payments)
    assert again.status == "paid"
    assert [c["status"] for c in _posts(sandbox, "/v1/refunds")] == [200, 200]
    (event,) = [e for e in sandbox.events if e["type"] == "charge.refunded"]
    assert event["data"]["object"]["payment_intent"] == repo.orders[order.id].payment_intent
    result = _deliver(payments, event)
    assert (result.outcome, result.order_id, result.status) == ("applied", order.id, "refunded")
    assert repo.orders[order.id].status == "refunded"


def test_a_refund_already_made_at_stripe_is_no_error(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    # Given the payment refunded at Stripe by other means (the Dashboard: another key)
    order = _paid(repo, payments, sandbox, product)
    intent = repo.orders[order.id].payment_intent
    stripe_client.StripeClient().create_refund({"payment_intent": intent}, idempotency_key="dash")
    # When the seller asks for the refund, Then Stripe's charge_already_refunded is no error
    shown = service.refund(seller(product.organization_id), order.id, repo=repo, payments=payments)
    assert shown.status == "paid"
    assert repo.orders[order.id].refund_requested_at is not None
    assert [c["status"] for c in _posts(sandbox, "/v1/refunds")] == [200, 400]


def test_a_refund_stripe_refuses_otherwise_is_422(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    # Given a paid order whose payment intent Stripe does not know
    order = _paid(repo, payments, sandbox, product)
    repo.orders[order.id].payment_intent = "pi_unknown"
    with pytest.raises(ValidationFailed, match="refused the refund: No such payment_intent"):
        service.refund(seller(product.organization_id), order.id, repo=repo, payments=payments)
    assert repo.orders[order.id].refund_requested_at is None


def test_a_refund_of_an_order_not_paid_is_409(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    order, _ = _checkout(repo, payments, product.id)
    with pytest.raises(Conflict, match="this one is pending"):
        service.refund(seller(product.organization_id), order.id, repo=repo, payments=payments)
    assert _posts(sandbox, "/v1/refunds") == []


def test_a_refund_of_another_organizations_order_is_404(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    order = _paid(repo, payments, sandbox, product)
    with pytest.raises(NotFound):
        service.refund(seller(), order.id, repo=repo, payments=payments)
    assert repo.orders[order.id].refund_requested_at is None
    assert _posts(sandbox, "/v1/refunds") == []


# -- the Stripe webhook --------------------------------------------------------------------
@pytest.mark.parametrize(
    "header",
    [None, "", "t=1,v1=00", "v1=abc", "t=notanumber,v1=abc"],
    ids=["missing", "empty", "stale", "no-timestamp", "bad-timestamp"],
)
def test_a_bad_signature_is_401_before_the_body_is_read(
    payments: FakePaymentsRepository, header: str | None
) -> None:
    # Given a body that is not even JSON, and a signature that does not hold
    with pytest.raises(Unauthorized) as caught:
        service.stripe_webhook(b"{not json", header, payments=payments)
    # Then 401 (not 400: nothing was parsed), and nothing was looked up
    assert caught.value.status == 401
    assert payments.calls == []


def test_a_body_signed_with_another_secret_is_401(
    payments: FakePaymentsRepository, sandbox: FakeStripe
) -> None:
    event = sandbox.emit("checkout.session.expired", {"id": "cs_1"})
    raw = json.dumps(event).encode()
    with pytest.raises(Unauthorized, match="does not match"):
        service.stripe_webhook(raw, signature.sign("whsec_another", raw), payments=payments)
    assert payments.calls == []


def test_a_signed_body_that_is_not_json_is_400(payments: FakePaymentsRepository) -> None:
    raw = b'{"id": "evt_1", '
    with pytest.raises(BadRequest) as caught:
        service.stripe_webhook(raw, signature.sign(WEBHOOK_SECRET, raw), payments=payments)
    assert caught.value.status == 400
    assert payments.calls == []


@pytest.mark.parametrize(
    "event,loc",
    [
        ({"type": "charge.refunded", "data": {"object": {}}}, ["body", "id"]),
        ({"id": "evt_1", "data": {"object": {}}}, ["body", "type"]),
        (
            {"id": "evt_1", "type": "charge.refunded", "data": {"object": []}},
            ["body", "data", "object"],
        ),
        ({"id": "", "type": "charge.refunded", "data": {"object": {}}}, ["body", "id"]),
        ({"id": "evt_1", "type": "charge.refunded"}, ["body", "data"]),
    ],
    ids=["no-id", "no-type", "object-not-an-object", "empty-id", "no-data"],
)
def test_a_signed_invalid_event_is_422_located_in_the_body(
    payments: FakePaymentsRepository, event: dict[str, Any], loc: list[str]
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _deliver(payments, event)
    assert caught.value.status == 422
    locs = [e["loc"] for e in caught.value.errors or []]
    assert locs == [loc]
    assert payments.calls == []


@pytest.mark.parametrize(
    "event_type", ["payment_intent.succeeded", "checkout.session.created", "customer.created"]
)
def test_an_event_type_not_handled_is_ignored_without_a_lookup(
    payments: FakePaymentsRepository, sandbox: FakeStripe, event_type: str
) -> None:
    event = sandbox.emit(event_type, {"id": "x_1", "client_reference_id": new_id()})
    result = _deliver(payments, event)
    assert (result.received, result.event_id, result.type) == (True, event["id"], event_type)
    assert (result.outcome, result.order_id, result.status) == ("ignored", None, None)
    assert payments.calls == []


@pytest.mark.parametrize("reference", ["not-an-order", new_id(), None])
def test_an_event_for_no_order_of_ours_is_ignored(
    payments: FakePaymentsRepository, sandbox: FakeStripe, reference: str | None
) -> None:
    obj = {"id": "cs_test_1", "status": "expired", "client_reference_id": reference}
    result = _deliver(payments, sandbox.emit("checkout.session.expired", obj))
    assert (result.outcome, result.order_id, result.status) == ("ignored", None, None)
    assert payments.events == {}


def test_the_completed_event_of_a_paid_session_makes_the_order_paid(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    order, _ = _checkout(repo, payments, product.id)
    session = sandbox.pay(_session_id(order))
    event = sandbox.events[-1]
    assert event["type"] == "checkout.session.completed"
    result = _deliver(payments, event)
    assert (result.outcome, result.order_id, result.status) == ("applied", order.id, "paid")
    stored = repo.orders[order.id]
    assert stored.payment_intent == session["payment_intent"]
    assert stored.fee == (2500 * get_settings().platform_fee_bps + 5000) // 10000
    view = service.buyer_order(order.id, repo=repo)
    assert view.status == "paid"
    # Paid: the payment page is no longer shown
    assert (
        service.seller_order(seller(product.organization_id), order.id, repo=repo).checkout_url
        is None
    )


def test_a_duplicate_event_is_acknowledged_without_a_change(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    order = _paid(repo, payments, sandbox, product)
    result = _deliver(payments, sandbox.events[-1])
    assert (result.outcome, result.order_id, result.status) == ("duplicate", order.id, "paid")


def test_an_event_for_a_state_already_left_is_unchanged(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    # Given a paid order, When Stripe reports its session expired (a new event)
    order = _paid(repo, payments, sandbox, product)
    session = sandbox.session(_session_id(order))
    late = sandbox.emit("checkout.session.expired", {**session, "status": "expired"})
    result = _deliver(payments, late)
    # Then 200 unchanged, the order still paid
    assert (result.outcome, result.order_id, result.status) == ("unchanged", order.id, "paid")
    assert repo.orders[order.id].status == "paid"


def test_a_delayed_payment_completes_unpaid_then_succeeds(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    order, _ = _checkout(repo, payments, product.id)
    sandbox.pay_async(_session_id(order), succeed=True)
    completed, succeeded = sandbox.events[-2:]
    assert completed["data"]["object"]["payment_status"] == "unpaid"
    first = _deliver(payments, completed)
    assert (first.outcome, first.status) == ("unchanged", "pending")
    second = _deliver(payments, succeeded)
    assert (second.type, second.outcome, second.status) == (
        "checkout.session.async_payment_succeeded",
        "applied",
        "paid",
    )


def test_a_delayed_payment_that_fails_fails_the_order(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    order, _ = _checkout(repo, payments, product.id)
    sandbox.pay_async(_session_id(order), succeed=False)
    result = _deliver(payments, sandbox.events[-1])
    assert (result.outcome, result.order_id, result.status) == ("applied", order.id, "failed")


def test_an_expired_session_expires_its_pending_order(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    order, _ = _checkout(repo, payments, product.id)
    assert sandbox.advance_time(2 * 60 * 60) == [_session_id(order)]
    result = _deliver(payments, sandbox.events[-1])
    assert (result.type, result.outcome, result.status) == (
        "checkout.session.expired",
        "applied",
        "expired",
    )
    assert service.buyer_order(order.id, repo=repo).status == "expired"


def test_an_event_of_another_session_for_the_order_changes_nothing(
    repo: FakeCheckoutRepository,
    payments: FakePaymentsRepository,
    sandbox: FakeStripe,
    product: CatalogueItem,
) -> None:
    # Given an order with its session, When an event of another session names the order
    order, _ = _checkout(repo, payments, product.id)
    session = {**sandbox.session(_session_id(order)), "id": "cs_test_other", "status": "expired"}
    result = _deliver(payments, sandbox.emit("checkout.session.expired", session))
    # Then it is unchanged (recorded, so a redelivery is a duplicate), the order pending
    assert (result.outcome, result.order_id, result.status) == ("unchanged", order.id, "pending")
    assert repo.orders[order.id].status == "pending"
