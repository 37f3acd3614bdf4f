"""In-memory stand-ins for the unit tests: every repository class subclassed with each method
overridden (so a fake is accepted wherever the real repository is, under mypy strict, and
nothing reaches PostgreSQL), a scripted Graph client and a recording SQS client.

The fakes keep just enough of the repositories' documented behaviour (tenant scoping, soft
deletes, newest-first keyset pages, the payment state machine) for the services' decisions
to be observable; the SQL itself is covered by tests/integration against a real database.
Every fake records the repository methods called, in order, in ``calls``.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from nexus.auth.models import LoginState, Session, Throttle, UserRow
from nexus.auth.repository import AuthRepository, EmailTaken
from nexus.checkout.models import BuyerOrderRow, Order, StoredOrder, SummaryItem
from nexus.checkout.repository import CheckoutRepository
from nexus.graph.client import AccountDay, AccountResult, GraphClient, PageResult, Post
from nexus.graph.errors import GraphError
from nexus.identity import Identity, parse_id
from nexus.ingest.job import IngestJob
from nexus.ingest.models import Schedulable, Target
from nexus.ingest.repository import IngestRepository
from nexus.integrations.models import (
    AnalyticsQuery,
    Integration,
    IntegrationStatus,
    MetricRow,
    MetricsQuery,
    Run,
)
from nexus.integrations.repository import AlreadyConnected, IntegrationRepository
from nexus.pagination import Cursor, Keyed
from nexus.payments.repository import Applied, Due, PaymentsRepository, RefundTarget
from nexus.payments.state import Change, OrderStatus, allowed
from nexus.products.models import ProductOut, StoreProductOut
from nexus.products.repository import OrganizationGone, ProductRepository

EPOCH = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class Clock:
    """Timestamps one second apart, so rows created in a test have a definite order."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self.now = start

    def tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def _newest_first[R: Keyed](rows: Iterable[R], after: Cursor | None, limit: int) -> list[R]:
    """What keyset.page returns: newest first by (created_at, id), after the cursor,
    ``limit + 1`` rows at most."""
    ordered = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)
    if after is not None:
        ordered = [r for r in ordered if (r.created_at, r.id) < (after.created_at, after.id)]
    return ordered[: limit + 1]


# -- products ------------------------------------------------------------------------------
@dataclass
class StoredProduct:
    organization_id: str
    row: ProductOut
    deleted: bool = False


class FakeProductRepository(ProductRepository):
    def __init__(self, *, gone_organizations: Iterable[str] = ()) -> None:
        self.products: dict[str, StoredProduct] = {}
        self.gone_organizations = set(gone_organizations)
        self.clock = Clock()
        self.calls: list[str] = []
        self.last_changes: dict[str, Any] | None = None

    def create(
        self,
        *,
        organization_id: str,
        user_id: str,
        name: str,
        description: str | None,
        price: int,
        currency: str,
    ) -> ProductOut:
        self.calls.append("create")
        if organization_id in self.gone_organizations:
            raise OrganizationGone(organization_id)
        now = self.clock.tick()
        row = ProductOut(
            id=new_id(),
            name=name,
            description=description,
            price=price,
            currency=currency,
            created_at=now,
            updated_at=now,
        )
        self.products[row.id] = StoredProduct(organization_id, row)
        return row

    def page(self, *, organization_id: str, limit: int, after: Cursor | None) -> list[ProductOut]:
        self.calls.append("page")
        live = (
            s.row
            for s in self.products.values()
            if s.organization_id == organization_id and not s.deleted
        )
        return _newest_first(live, after, limit)

    def _live(self, organization_id: str | None, product_id: str) -> StoredProduct | None:
        stored = self.products.get(product_id)
        if stored is None or stored.deleted:
            return None
        if organization_id is not None and stored.organization_id != organization_id:
            return None
        return stored

    def get(self, *, organization_id: str, product_id: str) -> ProductOut | None:
        self.calls.append("get")
        stored = self._live(organization_id, product_id)
        return stored.row if stored else None

    def get_public(self, *, product_id: str) -> StoreProductOut | None:
        self.calls.append("get_public")
        stored = self._live(None, product_id)
        if stored is None:
            return None
        r = stored.row
        return StoreProductOut(
            id=r.id, name=r.name, description=r.description, price=r.price, currency=r.currency
        )

    def update(
        self, *, organization_id: str, product_id: str, changes: dict[str, Any]
    ) -> ProductOut | None:
        self.calls.append("update")
        self.last_changes = dict(changes)
        stored = self._live(organization_id, product_id)
        if stored is None:
            return None
        stored.row = stored.row.model_copy(update={**changes, "updated_at": self.clock.tick()})
        return stored.row

    def soft_delete(self, *, organization_id: str, product_id: str) -> bool:
        self.calls.append("soft_delete")
        stored = self._live(organization_id, product_id)
        if stored is None:
            return False
        stored.deleted = True
        return True


# -- auth ----------------------------------------------------------------------------------
@dataclass
class FakeRefresh:
    user_id: str
    family_id: str
    spent: bool = False
    revoked: bool = False


class FakeAuthRepository(AuthRepository):
    """Users keyed by id, e-mail unique regardless of case; throttle counters per key
    (``account:<address>``, ``ip:<address>``) with the repository's window rule, relative
    to ``now``."""

    def __init__(self, now: datetime = EPOCH) -> None:
        self.now = now
        self.users: dict[str, UserRow] = {}
        self.counters: dict[str, Throttle] = {}
        self.sessions: dict[bytes, FakeRefresh] = {}
        self.links: list[tuple[str, str, str]] = []
        self.windows: list[int] = []
        self.calls: list[str] = []

    def given(self, key: str, attempts: int, started: timedelta) -> None:
        """Given: ``attempts`` counted for ``key`` in a window that began ``started`` ago."""
        self.counters[key] = Throttle(attempts, self.now - started)

    def _by_email(self, email: str) -> UserRow | None:
        return next((u for u in self.users.values() if u.email.lower() == email.lower()), None)

    def create_user_with_organization(
        self, *, email: str, name: str | None, password_hash: str, verify_token: str
    ) -> tuple[UserRow, str]:
        self.calls.append("create_user_with_organization")
        if self._by_email(email) is not None:
            raise EmailTaken(email)
        user = UserRow(new_id(), new_id(), email, name, password_hash, self.now, False)
        self.users[user.id] = user
        self.links.append(("verify_email", email, verify_token))
        return user, new_id()

    def start_session(self, *, user_id: str, token_hash: bytes) -> str:
        self.calls.append("start_session")
        family = new_id()
        self.sessions[token_hash] = FakeRefresh(user_id, family)
        return family

    def rotate(self, *, token_hash: bytes, next_hash: bytes) -> Session | None:
        self.calls.append("rotate")
        found = self.sessions.get(token_hash)
        if found is None or found.spent or found.revoked:
            return None
        found.spent = True
        self.sessions[next_hash] = FakeRefresh(found.user_id, found.family_id)
        user = self.users[found.user_id]
        return Session(user.id, user.organization_id, found.family_id)

    def revoke_family_of_spent(self, *, token_hash: bytes) -> int:
        found = self.sessions.get(token_hash)
        if found is None or not found.spent:
            return 0
        family = [r for r in self.sessions.values() if r.family_id == found.family_id]
        for r in family:
            r.revoked = True
        return len(family)

    def _count(self, key: str, window_seconds: int) -> Throttle:
        found = self.counters.get(key)
        if found is None or found.window_start <= self.now - timedelta(seconds=window_seconds):
            counted = Throttle(1, self.now)
        else:
            counted = Throttle(found.attempts + 1, found.window_start)
        self.counters[key] = counted
        return counted

    def count_login(self, *, email_key: str, client_ip: str, window_seconds: int) -> LoginState:
        self.calls.append("count_login")
        self.windows.append(window_seconds)
        return LoginState(
            user=self._by_email(email_key),
            account=self._count(f"account:{email_key}", window_seconds),
            client=self._count(f"ip:{client_ip}", window_seconds),
            now=self.now,
        )

    def login_succeeded(self, *, email_key: str, client_ip: str) -> None:
        self.calls.append("login_succeeded")
        self.counters.pop(f"account:{email_key}", None)
        client = self.counters.get(f"ip:{client_ip}")
        if client is not None:
            self.counters[f"ip:{client_ip}"] = Throttle(
                max(client.attempts - 1, 0), client.window_start
            )

    def get_user(self, user_id: str) -> UserRow | None:
        self.calls.append("get_user")
        return self.users.get(user_id)


# -- checkout and payments -----------------------------------------------------------------
@dataclass(frozen=True)
class CatalogueItem:
    id: str
    organization_id: str
    name: str
    price: int
    currency: str
    file_key: str | None = None
    file_name: str | None = None


@dataclass
class StoredOrderState:
    """One order row: what the Order view shows and the columns behind it."""

    organization_id: str
    product_id: str
    product_name: str
    email: str
    name: str | None
    status: OrderStatus
    amount: int
    currency: str
    created_at: datetime
    expires_at: datetime
    idempotency_key: str | None
    request_hash: str | None
    id: str = field(default_factory=new_id)
    checkout_url: str | None = None
    session_id: str | None = None
    payment_intent: str | None = None
    fee: int | None = None
    paid_at: datetime | None = None
    refunded_at: datetime | None = None
    refund_requested_at: datetime | None = None

    def view(self) -> Order:
        """The Order as the repository selects it: the payment page only while pending."""
        return Order(
            id=self.id,
            product_id=self.product_id,
            email=self.email,
            name=self.name,
            status=self.status,
            amount=self.amount,
            currency=self.currency,
            created_at=self.created_at,
            checkout_url=self.checkout_url if self.status == "pending" else None,
            expires_at=self.expires_at,
        )

    def stored(self, *, created: bool) -> StoredOrder:
        return StoredOrder(
            created=created,
            order=self.view(),
            request_hash=self.request_hash,
            product_name=self.product_name,
        )


def _now() -> datetime:
    return datetime.now(UTC)


class FakeCheckoutRepository(CheckoutRepository):
    """Orders priced from the catalogue, one per Idempotency-Key, expiring
    ``session_minutes`` after checkout (whole seconds, real time: Stripe checks it).

    ``unseen_keys``: keys whose order a concurrent request committed after this statement's
    snapshot, so :meth:`checkout` sees neither its own insert nor that order (returns None)
    while :meth:`by_idempotency_key` finds it. :class:`FakePaymentsRepository` moves these
    orders through the payment state machine."""

    def __init__(self) -> None:
        self.catalogue: dict[str, CatalogueItem] = {}
        self.orders: dict[str, StoredOrderState] = {}
        self.unseen_keys: set[str] = set()
        self.clock = Clock()
        self.calls: list[str] = []

    def add_product(
        self,
        *,
        organization_id: str | None = None,
        price: int = 2500,
        currency: str = "EUR",
        file_key: str | None = None,
        file_name: str | None = None,
    ) -> CatalogueItem:
        item = CatalogueItem(
            new_id(),
            organization_id or new_id(),
            "Field guide",
            price,
            currency,
            file_key,
            file_name,
        )
        self.catalogue[item.id] = item
        return item

    def set_status(self, order_id: str, status: OrderStatus) -> None:
        self.orders[order_id].status = status

    def _with_key(self, key: str) -> StoredOrderState | None:
        return next((o for o in self.orders.values() if o.idempotency_key == key), None)

    def checkout(
        self,
        *,
        product_id: str,
        email: str,
        name: str | None,
        idempotency_key: str | None,
        request_hash: str | None,
        session_minutes: int,
    ) -> StoredOrder | None:
        self.calls.append("checkout")
        if idempotency_key in self.unseen_keys:
            return None
        existing = self._with_key(idempotency_key) if idempotency_key is not None else None
        if existing is not None:
            return existing.stored(created=False)
        item = self.catalogue.get(product_id)
        if item is None:
            return None
        state = StoredOrderState(
            organization_id=item.organization_id,
            product_id=item.id,
            product_name=item.name,
            email=email,
            name=name,
            status="pending",
            amount=item.price,
            currency=item.currency,
            created_at=self.clock.tick(),
            expires_at=_now().replace(microsecond=0) + timedelta(minutes=session_minutes),
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
        self.orders[state.id] = state
        return state.stored(created=True)

    def by_idempotency_key(self, key: str) -> StoredOrder | None:
        self.calls.append("by_idempotency_key")
        stored = self._with_key(key)
        return stored.stored(created=False) if stored is not None else None

    def buyer_view(self, order_id: str) -> BuyerOrderRow | None:
        self.calls.append("buyer_view")
        o = self.orders.get(order_id)
        if o is None:
            return None
        item = self.catalogue[o.product_id]  # the product's file now, as the join reads it
        return BuyerOrderRow(
            o.id,
            o.status,
            o.amount,
            o.currency,
            o.product_id,
            o.product_name,
            item.file_key,
            item.file_name,
        )

    def seller_page(
        self, *, organization_id: str, status: str | None, limit: int, after: Cursor | None
    ) -> list[Order]:
        self.calls.append("seller_page")
        rows = (
            o.view()
            for o in self.orders.values()
            if o.organization_id == organization_id and status in (None, o.status)
        )
        return _newest_first(rows, after, limit)

    def order(self, order_id: str) -> Order | None:
        self.calls.append("order")
        stored = self.orders.get(order_id)
        return stored.view() if stored else None

    def seller_get(self, *, organization_id: str, order_id: str) -> Order | None:
        self.calls.append("seller_get")
        stored = self.orders.get(order_id)
        return stored.view() if stored and stored.organization_id == organization_id else None

    def summary(self, *, organization_id: str, start: date, end: date) -> list[SummaryItem]:
        """Per currency: payments (and fees) dated when paid, refunds when refunded, UTC days
        start..end inclusive."""
        self.calls.append("summary")

        def within(at: datetime | None) -> bool:
            return at is not None and start <= at.astimezone(UTC).date() <= end

        mine = [o for o in self.orders.values() if o.organization_id == organization_id]
        items = []
        for currency in sorted({o.currency for o in mine}):
            paid = [o for o in mine if o.currency == currency and within(o.paid_at)]
            refunded = sum(
                o.amount for o in mine if o.currency == currency and within(o.refunded_at)
            )
            if not paid and not refunded:
                continue
            gross, fees = sum(o.amount for o in paid), sum(o.fee or 0 for o in paid)
            items.append(
                SummaryItem(
                    currency=currency,
                    paid_orders=len(paid),
                    gross=gross,
                    refunded=refunded,
                    fees=fees,
                    net=gross - fees - refunded,
                )
            )
        return items


class FakePaymentsRepository(PaymentsRepository):
    """The payment side of :class:`FakeCheckoutRepository`'s orders (the same store): Stripe's
    changes applied by the real state machine (:func:`nexus.payments.state.allowed`), each
    event id recorded once (even when it changes nothing), a session from another checkout
    never applied; the session a checkout made; refund targets and requests; the expiry
    sweep's reads. ``events``: event id → order id."""

    def __init__(self, checkout: FakeCheckoutRepository) -> None:
        self.orders = checkout.orders
        self.events: dict[str, str] = {}
        self.calls: list[str] = []

    def _find(self, change: Change) -> StoredOrderState | None:
        if change.order_id:
            order_id = parse_id(change.order_id)
            return self.orders.get(order_id) if order_id else None
        if change.payment_intent is None:
            return None
        return next(
            (o for o in self.orders.values() if o.payment_intent == change.payment_intent), None
        )

    def apply(
        self,
        change: Change,
        *,
        fee_bps: int,
        event_id: str | None = None,
        event_type: str | None = None,
    ) -> Applied:
        self.calls.append("apply")
        o = self._find(change)
        if o is None:
            return Applied("not_found", None, None)
        if event_id is not None:
            if event_id in self.events:
                return Applied("duplicate", o.id, o.status)
            self.events[event_id] = o.id
        foreign = o.session_id is not None and change.session_id not in (None, o.session_id)
        if foreign or change.target is None or not allowed(o.status, change.target):
            return Applied("unchanged", o.id, o.status)
        o.status = change.target
        if change.target == "paid":
            o.paid_at = _now()
            o.payment_intent = change.payment_intent
            o.session_id = o.session_id or change.session_id
            o.fee = (o.amount * fee_bps + 5000) // 10000
        elif change.target == "refunded":
            o.refunded_at = _now()
        return Applied("applied", o.id, change.target)

    def save_session(self, *, order_id: str, session_id: str, url: str) -> bool:
        self.calls.append("save_session")
        o = self.orders.get(order_id)
        if o is None or o.status != "pending" or o.session_id not in (None, session_id):
            return False
        o.session_id, o.checkout_url = session_id, url
        return True

    def due_for_expiry(
        self, *, grace_seconds: int, limit: int, after: Due | None = None
    ) -> list[Due]:
        self.calls.append("due_for_expiry")
        cutoff = _now() - timedelta(seconds=grace_seconds)
        due = sorted(
            (
                Due(o.id, o.session_id, o.expires_at)
                for o in self.orders.values()
                if o.status == "pending" and o.expires_at < cutoff
            ),
            key=lambda d: (d.expires_at, d.order_id),
        )
        if after is not None:
            due = [
                d for d in due if (d.expires_at, d.order_id) > (after.expires_at, after.order_id)
            ]
        return due[:limit]

    def refund_target(self, *, organization_id: str, order_id: str) -> RefundTarget | None:
        self.calls.append("refund_target")
        o = self.orders.get(order_id)
        if o is None or o.organization_id != organization_id:
            return None
        return RefundTarget(o.id, o.status, o.payment_intent, o.amount)

    def refund_requested(self, order_id: str) -> None:
        self.calls.append("refund_requested")
        o = self.orders.get(order_id)
        if o is not None and o.refund_requested_at is None:
            o.refund_requested_at = _now()


# -- integrations --------------------------------------------------------------------------
@dataclass
class StoredIntegration:
    organization_id: str
    row: Integration
    token_ciphertext: bytes
    deleted: bool = False


class FakeIntegrationRepository(IntegrationRepository):
    def __init__(self) -> None:
        self.integrations: dict[str, StoredIntegration] = {}
        self.metric_rows: list[tuple[str, MetricRow]] = []
        self.run_rows: list[tuple[str, Run]] = []
        self.queries: list[tuple[str, AnalyticsQuery]] = []
        self.clock = Clock()
        self.calls: list[str] = []
        self.last_update: dict[str, Any] | None = None

    def set_status(self, integration_id: str, status: IntegrationStatus) -> None:
        stored = self.integrations[integration_id]
        stored.row = stored.row.model_copy(update={"status": status})

    def _live(self, organization_id: str, integration_id: str) -> StoredIntegration | None:
        stored = self.integrations.get(integration_id)
        if stored is None or stored.deleted or stored.organization_id != organization_id:
            return None
        return stored

    def create(
        self,
        *,
        integration_id: str,
        organization_id: str,
        provider: str,
        external_id: str,
        name: str,
        token_ciphertext: bytes,
    ) -> Integration:
        self.calls.append("create")
        for s in self.integrations.values():
            same = (s.organization_id, s.row.provider, s.row.external_id)
            if not s.deleted and same == (organization_id, provider, external_id):
                raise AlreadyConnected(external_id)
        row = Integration(
            id=integration_id,
            provider=provider,
            external_id=external_id,
            name=name,
            status="active",
            created_at=self.clock.tick(),
            last_run=None,
        )
        self.integrations[integration_id] = StoredIntegration(
            organization_id, row, token_ciphertext
        )
        return row

    def list_for(self, organization_id: str) -> list[Integration]:
        self.calls.append("list_for")
        live = [
            s.row
            for s in self.integrations.values()
            if s.organization_id == organization_id and not s.deleted
        ]
        return sorted(live, key=lambda r: (r.created_at, r.id))

    def get(self, *, organization_id: str, integration_id: str) -> Integration | None:
        self.calls.append("get")
        stored = self._live(organization_id, integration_id)
        return stored.row if stored else None

    def update(
        self,
        *,
        organization_id: str,
        integration_id: str,
        name: str | None,
        token_ciphertext: bytes | None,
        enabled: bool | None,
    ) -> Integration | None:
        self.calls.append("update")
        self.last_update = {"name": name, "token_ciphertext": token_ciphertext, "enabled": enabled}
        stored = self._live(organization_id, integration_id)
        if stored is None:
            return None
        if token_ciphertext is not None:
            stored.token_ciphertext = token_ciphertext
        status = _next_status(stored.row.status, token_ciphertext is not None, enabled)
        stored.row = stored.row.model_copy(
            update={"name": stored.row.name if name is None else name, "status": status}
        )
        return stored.row

    def soft_delete(self, *, organization_id: str, integration_id: str) -> bool:
        self.calls.append("soft_delete")
        stored = self._live(organization_id, integration_id)
        if stored is None:
            return False
        stored.deleted = True
        return True

    def metrics(self, *, organization_id: str, query: MetricsQuery, limit: int) -> list[MetricRow]:
        self.calls.append("metrics")
        self.queries.append((organization_id, query))
        after = query.cursor
        rows = sorted(
            (
                m
                for org, m in self.metric_rows
                if org == organization_id
                and query.start <= m.date <= query.end
                and query.integration_id in (None, m.integration_id)
                and query.content_id in (None, m.content_id)
            ),
            key=lambda m: (m.date, m.content_id, m.integration_id),
        )
        if after is not None:
            rows = [
                m
                for m in rows
                if (m.date, m.content_id, m.integration_id)
                > (after.date, after.content_id, after.integration_id)
            ]
        return rows[:limit]

    def runs(self, *, organization_id: str, query: AnalyticsQuery) -> list[Run]:
        self.calls.append("runs")
        self.queries.append((organization_id, query))
        return [
            r
            for org, r in self.run_rows
            if org == organization_id
            and query.start <= r.date <= query.end
            and query.integration_id in (None, r.integration_id)
        ]


def _next_status(
    current: IntegrationStatus, new_token: bool, enabled: bool | None
) -> IntegrationStatus:
    """IntegrationRepository.update's status rule: disabling wins; enabling revives a disabled
    integration and a new token one that needs re-authorisation."""
    if enabled is False:
        return "disabled"
    if (current == "disabled" and enabled) or (current == "needs_reauth" and new_token):
        return "active"
    return current


# -- ingestion -----------------------------------------------------------------------------
@dataclass
class SavedSnapshot:
    organization_id: str
    integration_id: str
    snapshot: date
    posts: list[Post]
    status: str
    error_code: str | None


@dataclass
class RecordedFailure:
    organization_id: str
    integration_id: str
    snapshot: date
    status: str
    error_code: str
    needs_reauth: bool


class FakeIngestRepository(IngestRepository):
    def __init__(self) -> None:
        self.schedulable: list[Schedulable] = []
        self.targets: dict[str, Target] = {}
        self.pages: list[tuple[str | None, int]] = []
        self.snapshots: list[SavedSnapshot] = []
        self.account_days: list[list[AccountDay]] = []
        self.erased_ids: set[tuple[str, str]] = set()
        self.observed: list[date | None] = []
        self.failures: list[RecordedFailure] = []
        self.calls: list[str] = []

    def active_integrations(self, *, after: str | None, limit: int) -> list[Schedulable]:
        self.calls.append("active_integrations")
        self.pages.append((after, limit))
        # Canonical lower-case UUID strings sort as PostgreSQL sorts uuid values.
        rows = sorted(self.schedulable, key=lambda s: s.id)
        return [s for s in rows if after is None or s.id > after][:limit]

    def target(self, *, integration_id: str, organization_id: str) -> Target | None:
        self.calls.append("target")
        found = self.targets.get(integration_id)
        return found if found and found.organization_id == organization_id else None

    def erased(self, *, integration_id: str, organization_id: str) -> bool:
        self.calls.append("erased")
        return (integration_id, organization_id) in self.erased_ids

    def save_snapshot(
        self,
        *,
        organization_id: str,
        integration_id: str,
        snapshot: date,
        posts: list[Post],
        status: str,
        error_code: str | None,
        account_days: list[AccountDay] | None = None,
        observed: date | None = None,
    ) -> int:
        self.calls.append("save_snapshot")
        self.observed.append(observed)
        self.account_days.append(list(account_days or []))
        self.snapshots.append(
            SavedSnapshot(organization_id, integration_id, snapshot, posts, status, error_code)
        )
        # One metric row per post whose metrics were fetched.
        return sum(1 for p in posts if p.error is None)

    def record_failure(
        self,
        *,
        organization_id: str,
        integration_id: str,
        snapshot: date,
        status: str,
        error_code: str,
        needs_reauth: bool,
    ) -> None:
        self.calls.append("record_failure")
        self.failures.append(
            RecordedFailure(
                organization_id, integration_id, snapshot, status, error_code, needs_reauth
            )
        )
        target = self.targets.get(integration_id)
        if needs_reauth and target is not None and target.status == "active":
            self.targets[integration_id] = dataclasses.replace(target, status="needs_reauth")


class FakeGraphClient(GraphClient):
    """page_posts answers from a script: a PageResult, or a GraphError raised. No session,
    no network (GraphClient.__init__ is deliberately not called)."""

    def __init__(
        self,
        token: str,
        *,
        result: PageResult | None,
        error: GraphError | None,
        account_error: GraphError | None = None,
    ) -> None:
        self.token = token
        self.result = result
        self.error = error
        self.account_error = account_error
        self.requested: list[tuple[str, int, int]] = []
        self.account_requested: list[tuple[str, str, date, date]] = []
        self.media_requested: list[str] = []
        self.requests = 0

    def page_posts(self, page_id: str, since: int, until: int) -> PageResult:
        self.requested.append((page_id, since, until))
        if self.error is not None:
            raise self.error
        return self.result or PageResult()

    def instagram_media(self, ig_user_id: str, since: int, until: int) -> PageResult:
        self.media_requested.append(ig_user_id)
        return self.page_posts(ig_user_id, since, until)

    def account_days(
        self, provider: str, account_id: str, first: date, last: date
    ) -> AccountResult:
        """No account-level values (each day present, all None), as Graph answers for an
        account whose insights are empty."""
        self.account_requested.append((provider, account_id, first, last))
        if self.account_error is not None:
            raise self.account_error
        days = [AccountDay(first + timedelta(days=n)) for n in range((last - first).days + 1)]
        return AccountResult(days=days)


@dataclass
class GraphScript:
    """A ``client_factory`` for the consumer: builds FakeGraphClients and keeps them."""

    result: PageResult | None = None
    error: GraphError | None = None
    account_error: GraphError | None = None
    clients: list[FakeGraphClient] = field(default_factory=list)

    def __call__(self, token: str) -> GraphClient:
        client = FakeGraphClient(
            token, result=self.result, error=self.error, account_error=self.account_error
        )
        self.clients.append(client)
        return client


@dataclass
class FakeSqs:
    """The three SQS calls nexus.ingest.queue makes, recorded; every batch entry succeeds."""

    batches: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    visibility: list[dict[str, Any]] = field(default_factory=list)

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.batches.append((QueueUrl, Entries))
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        self.messages.append(kwargs)
        return {"MessageId": new_id()}

    def change_message_visibility(self, **kwargs: Any) -> dict[str, Any]:
        self.visibility.append(kwargs)
        return {}

    def bodies(self) -> list[str]:
        return [str(e["MessageBody"]) for _, entries in self.batches for e in entries]


@dataclass
class RecordingSender:
    """A ``send=`` for integrations.service.sync: keeps the jobs instead of queueing them."""

    sent: list[list[IngestJob]] = field(default_factory=list)

    def __call__(self, jobs: Sequence[IngestJob]) -> int:
        self.sent.append(list(jobs))
        return 1


def seller(organization_id: str | None = None) -> Identity:
    """A caller as the authorizer vouches for them (a fresh organization by default)."""
    return Identity(user_id=new_id(), organization_id=organization_id or new_id())
