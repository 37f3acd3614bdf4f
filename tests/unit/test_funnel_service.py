"""The sales funnel's decisions (contract §10) against in-memory repositories: who a visitor
is (the keyed HMAC), when a store page view is counted, that counting never fails the page,
and the conversion rates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from nexus.checkout import service as checkout
from nexus.checkout.models import FunnelDay, FunnelQuery
from nexus.errors import NotFound, ServiceUnavailable
from nexus.identity import Visitor
from nexus.products import service as products
from nexus.products import visitors
from nexus.products.models import StoreProductOut
from nexus.settings import get_settings
from tests.support.fakes import FakeCheckoutRepository, FakeProductRepository, new_id, seller

ALICE = Visitor(ip="198.51.100.1", user_agent="Firefox/140")
DAY = date(2026, 12, 1)


class CountingRepository(FakeProductRepository):
    """Store views as the table keeps them: a set of (product, day, visitor key)."""

    def __init__(self, *, failure: str | None = None) -> None:
        super().__init__()
        self.views: set[tuple[str, date, bytes]] = set()
        self.failure = failure

    def get_public_counted(
        self, *, product_id: str, day: date, visitor: bytes
    ) -> tuple[StoreProductOut | None, str | None]:
        self.calls.append("get_public_counted")
        product = self.get_public(product_id=product_id)
        if product is not None and self.failure is None:
            self.views.add((product_id, day, visitor))
        return product, self.failure


@pytest.fixture
def repo() -> CountingRepository:
    return CountingRepository()


def _product(repo: FakeProductRepository) -> str:
    made = repo.create(
        organization_id=new_id(),
        user_id=new_id(),
        name="Course",
        description=None,
        price=4900,
        currency="EUR",
    )
    return made.id


class TestVisitorKey:
    def test_one_visitor_one_day_one_key_of_32_bytes(self) -> None:
        key = visitors.visitor_key(ALICE, DAY)
        assert len(key) == 32
        assert visitors.visitor_key(Visitor(ALICE.ip, ALICE.user_agent), DAY) == key

    @pytest.mark.parametrize(
        ("visitor", "day"),
        [
            (Visitor(ip="198.51.100.2", user_agent="Firefox/140"), DAY),
            (Visitor(ip="198.51.100.1", user_agent="Safari/18"), DAY),
            (ALICE, DAY + timedelta(days=1)),
            # the parts cannot run into one another
            (Visitor(ip="198.51.100.1\nFirefox", user_agent="/140"), DAY),
        ],
    )
    def test_another_ip_agent_or_day_is_another_key(self, visitor: Visitor, day: date) -> None:
        assert visitors.visitor_key(visitor, day) != visitors.visitor_key(ALICE, DAY)

    def test_the_key_depends_on_the_secret(self, monkeypatch: pytest.MonkeyPatch) -> None:
        before = visitors.visitor_key(ALICE, DAY)
        monkeypatch.setenv("VISITOR_KEY", "another-visitor-key-0123456789abcdef")
        get_settings.cache_clear()
        assert visitors.visitor_key(ALICE, DAY) != before

    @pytest.mark.parametrize("secret", [None, "short"])
    def test_no_or_a_short_secret_is_refused(
        self, monkeypatch: pytest.MonkeyPatch, secret: str | None
    ) -> None:
        if secret is None:
            monkeypatch.delenv("VISITOR_KEY")
        else:
            monkeypatch.setenv("VISITOR_KEY", secret)
        get_settings.cache_clear()
        with pytest.raises(ServiceUnavailable):
            visitors.visitor_key(ALICE, DAY)

    def test_any_user_agent_text_hashes(self) -> None:
        assert len(visitors.visitor_key(Visitor(ALICE.ip, "bad \udcff surrogate"), DAY)) == 32


class TestStoreView:
    def test_a_view_is_counted_under_todays_key_of_the_visitor(
        self, repo: CountingRepository
    ) -> None:
        product_id = _product(repo)
        shown = products.store_view(product_id, ALICE, repo=repo)
        assert shown.id == product_id
        today = datetime.now(UTC).date()
        assert repo.views == {(product_id, today, visitors.visitor_key(ALICE, today))}

    def test_without_a_visitor_the_page_is_read_uncounted(self, repo: CountingRepository) -> None:
        product_id = _product(repo)
        products.store_view(product_id, repo=repo)
        assert repo.calls[-1] == "get_public" and not repo.views

    def test_an_id_that_cannot_be_a_product_is_404_and_never_reaches_the_database(
        self, repo: CountingRepository
    ) -> None:
        with pytest.raises(NotFound):
            products.store_view("nope", ALICE, repo=repo)
        assert repo.calls == []

    def test_a_failed_count_still_shows_the_page(self) -> None:
        repo = CountingRepository(failure="InsufficientPrivilege (42501)")
        product_id = _product(repo)
        assert products.store_view(product_id, ALICE, repo=repo).id == product_id
        assert not repo.views

    def test_no_visitor_key_still_shows_the_page_uncounted(
        self, repo: CountingRepository, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("VISITOR_KEY")
        get_settings.cache_clear()
        product_id = _product(repo)
        assert products.store_view(product_id, ALICE, repo=repo).id == product_id
        assert repo.calls[-1] == "get_public" and not repo.views


class FunnelRepository(FakeCheckoutRepository):
    def __init__(self, days: list[FunnelDay]) -> None:
        super().__init__()
        self.days = days

    def funnel(
        self, *, organization_id: str, product_id: str, start: date, end: date
    ) -> list[FunnelDay]:
        return self.days


def _query() -> FunnelQuery:
    return FunnelQuery.model_validate({"product_id": new_id(), "from": "2026-12-01"})


def _day(n: int, views: int, checkouts: int, paid: int) -> FunnelDay:
    return FunnelDay(date=DAY + timedelta(days=n), views=views, checkouts=checkouts, paid=paid)


class TestConversion:
    def test_rates_are_over_the_ranges_views_to_four_decimals(self) -> None:
        days = [_day(0, 4, 2, 1), _day(1, 0, 0, 0), _day(2, 2, 1, 1)]
        result = checkout.funnel(seller(), _query(), repo=FunnelRepository(days))
        assert result.items == days
        assert (result.conversion.checkout_rate, result.conversion.paid_rate) == (0.5, 0.3333)

    def test_no_views_is_a_rate_of_zero_even_with_checkouts(self) -> None:
        result = checkout.funnel(seller(), _query(), repo=FunnelRepository([_day(0, 0, 3, 1)]))
        assert (result.conversion.checkout_rate, result.conversion.paid_rate) == (0.0, 0.0)

    def test_rates_are_not_capped_at_one(self) -> None:
        result = checkout.funnel(seller(), _query(), repo=FunnelRepository([_day(0, 1, 2, 2)]))
        assert result.conversion.checkout_rate == 2.0

    def test_no_rows_is_not_the_callers_product(self) -> None:
        with pytest.raises(NotFound):
            checkout.funnel(seller(), _query(), repo=FunnelRepository([]))


class TestQuery:
    def test_product_id_is_required_in_the_schema_and_canonical(self) -> None:
        assert FunnelQuery.model_json_schema()["required"] == ["product_id"]
        upper = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
        assert FunnelQuery.model_validate({"product_id": upper}).product_id == upper.lower()
