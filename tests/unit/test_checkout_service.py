"""nexus.checkout.service decisions, against an in-memory CheckoutRepository: idempotent
checkout, the buyer's view and the signed payment webhook."""

from __future__ import annotations

import json

import pytest

from nexus.checkout import service, signature
from nexus.checkout.models import CheckoutIn, OrderStatus, WebhookResult
from nexus.errors import BadRequest, Conflict, NotFound, Unauthorized, ValidationFailed
from tests.support.api import TEST_SECRETS
from tests.support.fakes import CatalogueItem, FakeCheckoutRepository, new_id, seller

WEBHOOK_SECRET = TEST_SECRETS["PAYMENT_WEBHOOK_SECRET"]


@pytest.fixture
def repo() -> FakeCheckoutRepository:
    return FakeCheckoutRepository()


@pytest.fixture
def product(repo: FakeCheckoutRepository) -> CatalogueItem:
    return repo.add_product(price=2500, currency="EUR")


def _body(product_id: str, email: str = "buyer@example.com") -> CheckoutIn:
    return CheckoutIn(product_id=product_id, email=email, name="Bea")


def _event(order_id: str, event_id: str = "evt_1", kind: str = "payment.succeeded") -> bytes:
    return json.dumps({"event_id": event_id, "type": kind, "order_id": order_id}).encode()


def _deliver(repo: FakeCheckoutRepository, raw: bytes) -> WebhookResult:
    """The provider's delivery: the raw body with a fresh, valid signature."""
    return service.payment_webhook(raw, signature.sign(WEBHOOK_SECRET, raw), repo=repo)


def _order(repo: FakeCheckoutRepository, product: CatalogueItem) -> str:
    order, _ = service.checkout(_body(product.id), None, repo=repo)
    return order.id


# -- checkout ------------------------------------------------------------------------------
def test_checkout_creates_a_pending_order_at_the_catalogue_price(
    repo: FakeCheckoutRepository, product: CatalogueItem
) -> None:
    order, created = service.checkout(_body(product.id), "cart-1", repo=repo)
    assert created is True
    assert (order.status, order.amount, order.currency) == ("pending", 2500, "EUR")
    assert order.product_id == product.id


@pytest.mark.parametrize("raw_id", ["not-a-uuid", ""])
def test_an_id_that_cannot_be_a_product_is_404_without_a_query(
    repo: FakeCheckoutRepository, raw_id: str
) -> None:
    with pytest.raises(NotFound, match="No such product"):
        service.checkout(_body(raw_id), "cart-1", repo=repo)
    assert repo.calls == []


@pytest.mark.parametrize("key", [None, "cart-1"])
def test_an_unknown_product_is_404(repo: FakeCheckoutRepository, key: str | None) -> None:
    # Given a well-formed id that is in no catalogue, with or without an Idempotency-Key
    with pytest.raises(NotFound, match="No such product"):
        service.checkout(_body(new_id()), key, repo=repo)
    assert repo.orders == {}


def test_a_replay_with_the_same_key_and_body_returns_the_same_order(
    repo: FakeCheckoutRepository, product: CatalogueItem
) -> None:
    # Given a checkout with Idempotency-Key cart-1
    first, _ = service.checkout(_body(product.id), "cart-1", repo=repo)
    # When the same request is sent again
    again, created = service.checkout(_body(product.id), "cart-1", repo=repo)
    # Then the first order comes back, not created by this call, and no second order exists
    assert created is False
    assert again == first
    assert len(repo.orders) == 1


def test_the_same_key_with_another_body_is_409(
    repo: FakeCheckoutRepository, product: CatalogueItem
) -> None:
    service.checkout(_body(product.id), "cart-1", repo=repo)
    # When the key is reused for another buyer
    with pytest.raises(Conflict, match="different request body"):
        service.checkout(_body(product.id, email="other@example.com"), "cart-1", repo=repo)
    assert len(repo.orders) == 1


def test_without_a_key_every_checkout_is_a_new_order(
    repo: FakeCheckoutRepository, product: CatalogueItem
) -> None:
    a, created_a = service.checkout(_body(product.id), None, repo=repo)
    b, created_b = service.checkout(_body(product.id), None, repo=repo)
    assert created_a and created_b
    assert a.id != b.id


def test_a_lost_race_reads_the_winners_order_by_key(
    repo: FakeCheckoutRepository, product: CatalogueItem
) -> None:
    # Given a concurrent request with key cart-1 whose order committed after our snapshot
    winner, _ = service.checkout(_body(product.id), "cart-1", repo=repo)
    repo.unseen_keys.add("cart-1")
    # When our identical request's statement sees neither its insert nor that order
    order, created = service.checkout(_body(product.id), "cart-1", repo=repo)
    # Then the service falls back to reading the order by its key: a replay, not a 404
    assert repo.calls[-2:] == ["checkout", "by_idempotency_key"]
    assert (order, created) == (winner, False)


def test_a_lost_race_with_another_body_is_still_409(
    repo: FakeCheckoutRepository, product: CatalogueItem
) -> None:
    service.checkout(_body(product.id), "cart-1", repo=repo)
    repo.unseen_keys.add("cart-1")
    with pytest.raises(Conflict):
        service.checkout(_body(product.id, email="other@example.com"), "cart-1", repo=repo)


# -- the buyer's view ----------------------------------------------------------------------
def test_buyer_order_shows_status_amount_and_product(
    repo: FakeCheckoutRepository, product: CatalogueItem
) -> None:
    order_id = _order(repo, product)
    view = service.buyer_order(order_id, repo=repo)
    assert (view.id, view.status, view.amount, view.currency) == (order_id, "pending", 2500, "EUR")
    assert (view.product.id, view.product.name) == (product.id, product.name)


@pytest.mark.parametrize("raw_id", ["nope", new_id()])
def test_buyer_order_unknown_is_404(repo: FakeCheckoutRepository, raw_id: str) -> None:
    with pytest.raises(NotFound, match="No such order"):
        service.buyer_order(raw_id, repo=repo)


def test_seller_order_of_another_organization_is_404(
    repo: FakeCheckoutRepository, product: CatalogueItem
) -> None:
    # Given an order for a product of the product's organization
    order_id = _order(repo, product)
    assert service.seller_order(seller(product.organization_id), order_id, repo=repo).id == order_id
    # Then another seller cannot see it
    with pytest.raises(NotFound):
        service.seller_order(seller(), order_id, repo=repo)


# -- the payment webhook -------------------------------------------------------------------
@pytest.mark.parametrize(
    "header",
    ["t=1,v1=00", "", "v1=abc", "t=notanumber,v1=abc"],
    ids=["stale", "empty", "no-timestamp", "bad-timestamp"],
)
def test_a_bad_signature_is_401_before_the_body_is_read(
    repo: FakeCheckoutRepository, header: str
) -> None:
    # Given a body that is not even JSON, and a signature that does not hold
    with pytest.raises(Unauthorized) as caught:
        service.payment_webhook(b"{not json", header, repo=repo)
    # Then the answer is 401 (not 400: nothing was parsed), and nothing was looked up
    assert caught.value.status == 401
    assert repo.calls == []


def test_a_body_signed_with_another_secret_is_401(repo: FakeCheckoutRepository) -> None:
    raw = _event(new_id())
    with pytest.raises(Unauthorized, match="does not match"):
        service.payment_webhook(raw, signature.sign("another-secret", raw), repo=repo)


def test_a_signed_body_that_is_not_json_is_400(repo: FakeCheckoutRepository) -> None:
    with pytest.raises(BadRequest) as caught:
        _deliver(repo, b'{"event_id": "evt_1", ')
    assert caught.value.status == 400
    assert repo.calls == []


def test_a_signed_invalid_event_is_422_located_in_the_body(repo: FakeCheckoutRepository) -> None:
    # Given a signed event of a type the API does not know
    raw = _event(new_id(), kind="payment.refunded")
    with pytest.raises(ValidationFailed) as caught:
        _deliver(repo, raw)
    # Then it is a 422 whose error points at body.type
    assert caught.value.status == 422
    assert [e["loc"] for e in caught.value.errors or []] == [["body", "type"]]
    assert repo.calls == []


@pytest.mark.parametrize("order_id", ["not-an-order", new_id()])
def test_a_signed_event_for_an_unknown_order_is_404(
    repo: FakeCheckoutRepository, order_id: str
) -> None:
    with pytest.raises(NotFound, match="No such order"):
        _deliver(repo, _event(order_id))


@pytest.mark.parametrize(
    "kind,status", [("payment.succeeded", "paid"), ("payment.failed", "failed")]
)
def test_a_payment_event_moves_a_pending_order(
    repo: FakeCheckoutRepository, product: CatalogueItem, kind: str, status: OrderStatus
) -> None:
    order_id = _order(repo, product)
    result = _deliver(repo, _event(order_id, kind=kind))
    assert (result.order_id, result.status, result.duplicate) == (order_id, status, False)
    assert service.buyer_order(order_id, repo=repo).status == status


def test_a_duplicate_event_is_acknowledged_without_a_change(
    repo: FakeCheckoutRepository, product: CatalogueItem
) -> None:
    # Given an order paid by evt_1
    order_id = _order(repo, product)
    _deliver(repo, _event(order_id))
    # When the provider delivers evt_1 again
    result = _deliver(repo, _event(order_id))
    # Then it is reported as a duplicate, and the order stays paid
    assert (result.duplicate, result.status) == (True, "paid")


def test_an_illegal_transition_is_409_naming_both_states(
    repo: FakeCheckoutRepository, product: CatalogueItem
) -> None:
    # Given an order already paid
    order_id = _order(repo, product)
    _deliver(repo, _event(order_id))
    # When a new event says the payment failed
    with pytest.raises(Conflict) as caught:
        _deliver(repo, _event(order_id, event_id="evt_2", kind="payment.failed"))
    # Then it is refused, and the order stays paid
    assert caught.value.detail == "An order that is paid cannot become failed."
    assert service.buyer_order(order_id, repo=repo).status == "paid"
