"""nexus.products.service decisions, against an in-memory ProductRepository."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nexus import pagination
from nexus.errors import NotFound
from nexus.identity import Identity
from nexus.products import service
from nexus.products.models import ProductIn, ProductOut, ProductPatch
from tests.support.fakes import FakeProductRepository, new_id, seller

NOT_FOUND = "No such product."


@pytest.fixture
def repo() -> FakeProductRepository:
    return FakeProductRepository()


@pytest.fixture
def who() -> Identity:
    return seller()


def _create(
    repo: FakeProductRepository, who: Identity, name: str = "Field guide", price: int = 2500
) -> ProductOut:
    body = ProductIn(name=name, price=price, currency="EUR", description="A guide")
    return service.create(who, body, repo=repo)


def test_create_returns_the_stored_product(repo: FakeProductRepository, who: Identity) -> None:
    # When a seller creates a product
    product = _create(repo, who, price=1999)
    # Then it is stored under their organization and returned as stored
    assert (product.name, product.price, product.currency) == ("Field guide", 1999, "EUR")
    assert repo.products[product.id].organization_id == who.organization_id


def test_create_for_an_organization_that_is_gone_is_404(who: Identity) -> None:
    # Given a token that outlived its organization
    repo = FakeProductRepository(gone_organizations=[who.organization_id])
    # When the seller creates a product, Then it is a 404 naming the organization
    with pytest.raises(NotFound, match="organization no longer exists"):
        _create(repo, who)


def test_get_returns_the_sellers_product(repo: FakeProductRepository, who: Identity) -> None:
    product = _create(repo, who)
    assert service.get(who, product.id, repo=repo) == product


def test_get_accepts_the_uuid_in_either_case_and_no_other_spelling(
    repo: FakeProductRepository, who: Identity
) -> None:
    # Given a product; When it is read with its id in upper case
    product = _create(repo, who)
    # Then the id is canonicalised before the lookup, and the product is found
    assert service.get(who, product.id.upper(), repo=repo).id == product.id
    # But braces, a urn: prefix or bare hex (which uuid.UUID would take) are no id of ours
    for spelling in ("{" + product.id + "}", "urn:uuid:" + product.id, product.id.replace("-", "")):
        with pytest.raises(NotFound):
            service.get(who, spelling, repo=repo)


# Every operation on one product, as (name, call): each must answer an unusable id with 404.
Operation = Callable[[Identity, str, FakeProductRepository], object]
OPERATIONS: list[tuple[str, Operation]] = [
    ("get", lambda w, i, r: service.get(w, i, repo=r)),
    ("update", lambda w, i, r: service.update(w, i, ProductPatch(price=5), repo=r)),
    ("delete", lambda w, i, r: service.delete(w, i, repo=r)),
    ("store_view", lambda _w, i, r: service.store_view(i, repo=r)),
]


@pytest.mark.parametrize("name,operation", OPERATIONS, ids=[n for n, _ in OPERATIONS])
@pytest.mark.parametrize("raw_id", ["not-a-uuid", "", "1; DROP TABLE products", "0" * 33])
def test_an_id_that_cannot_be_ours_is_404_without_a_query(
    repo: FakeProductRepository, who: Identity, name: str, operation: Operation, raw_id: str
) -> None:
    # When any product operation gets an id that is no UUID
    with pytest.raises(NotFound, match=NOT_FOUND):
        operation(who, raw_id, repo)
    # Then it is a 404 (never a 422: ids are opaque) and the repository is never asked
    assert repo.calls == []


@pytest.mark.parametrize("name,operation", OPERATIONS, ids=[n for n, _ in OPERATIONS])
def test_an_unknown_product_is_404(
    repo: FakeProductRepository, who: Identity, name: str, operation: Operation
) -> None:
    # Given a well-formed id that matches nothing
    with pytest.raises(NotFound, match=NOT_FOUND):
        operation(who, new_id(), repo)
    # Then the repository was asked (once) and its "nothing" became a 404
    assert len(repo.calls) == 1


@pytest.mark.parametrize("name,operation", OPERATIONS[:3], ids=[n for n, _ in OPERATIONS[:3]])
def test_another_sellers_product_is_404(
    repo: FakeProductRepository, who: Identity, name: str, operation: Operation
) -> None:
    # Given a product of another organization
    theirs = _create(repo, seller())
    # When this seller reads, patches or deletes it, Then it does not exist for them
    with pytest.raises(NotFound, match=NOT_FOUND):
        operation(who, theirs.id, repo)
    assert repo.products[theirs.id].deleted is False


@pytest.mark.parametrize("name,operation", OPERATIONS, ids=[n for n, _ in OPERATIONS])
def test_a_deleted_product_is_404_everywhere(
    repo: FakeProductRepository, who: Identity, name: str, operation: Operation
) -> None:
    # Given a product its seller deleted
    product = _create(repo, who)
    service.delete(who, product.id, repo=repo)
    # Then every operation, the public store view included, answers 404
    with pytest.raises(NotFound, match=NOT_FOUND):
        operation(who, product.id, repo)


def test_update_passes_only_the_fields_sent(repo: FakeProductRepository, who: Identity) -> None:
    # Given a product with a description
    product = _create(repo, who)
    # When the seller sends a new price and clears the description
    patch = ProductPatch.model_validate({"price": 3000, "description": None})
    updated = service.update(who, product.id, patch, repo=repo)
    # Then exactly those two fields change; name and currency are untouched
    assert repo.last_changes == {"price": 3000, "description": None}
    assert (updated.price, updated.description, updated.name) == (3000, None, product.name)


def test_store_view_shows_public_fields_of_any_live_product(repo: FakeProductRepository) -> None:
    # Given a seller's product; When anyone opens its store page (no identity)
    product = _create(repo, seller())
    view = service.store_view(product.id, repo=repo)
    # Then they see its public fields only
    assert view.model_dump() == {
        "id": product.id,
        "name": product.name,
        "description": product.description,
        "price": product.price,
        "currency": product.currency,
    }


def test_paging_splits_newest_first_with_a_cursor(
    repo: FakeProductRepository, who: Identity
) -> None:
    # Given five products (p0 oldest .. p4 newest)
    made = [_create(repo, who, name=f"p{i}") for i in range(5)]
    # When the seller asks for two at a time
    first = service.list_page(who, 2, None, repo=repo)
    # Then the newest two come first, and the cursor points at the last item shown
    assert [p.name for p in first.items] == ["p4", "p3"]
    assert first.next_cursor is not None
    cursor = pagination.decode(first.next_cursor)
    assert (cursor.created_at, cursor.id) == (made[3].created_at, made[3].id)


def test_following_cursors_visits_every_product_once(
    repo: FakeProductRepository, who: Identity
) -> None:
    # Given five products
    for i in range(5):
        _create(repo, who, name=f"p{i}")
    # When the seller follows next_cursor until it is null
    seen: list[str] = []
    after = None
    for _ in range(10):
        page = service.list_page(who, 2, after, repo=repo)
        seen += [p.name for p in page.items]
        if page.next_cursor is None:
            break
        after = pagination.decode(page.next_cursor)
    # Then every product appears exactly once, newest first, over three pages
    assert seen == ["p4", "p3", "p2", "p1", "p0"]
    assert repo.calls.count("page") == 3


def test_a_page_that_holds_everything_has_no_cursor(
    repo: FakeProductRepository, who: Identity
) -> None:
    # Given exactly as many products as the limit
    for i in range(3):
        _create(repo, who, name=f"p{i}")
    # Then the page is complete and says there is no next one
    page = service.list_page(who, 3, None, repo=repo)
    assert len(page.items) == 3
    assert page.next_cursor is None


def test_paging_shows_only_the_sellers_live_products(
    repo: FakeProductRepository, who: Identity
) -> None:
    # Given one live and one deleted product of ours, and one of another seller
    mine = _create(repo, who, name="mine")
    gone = _create(repo, who, name="gone")
    service.delete(who, gone.id, repo=repo)
    _create(repo, seller(), name="theirs")
    # Then our listing holds only the live one of ours
    page = service.list_page(who, 20, None, repo=repo)
    assert [p.id for p in page.items] == [mine.id]
