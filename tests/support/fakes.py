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
from nexus.checkout.models import (
    BuyerOrderRow,
    Order,
    OrderStatus,
    PaymentOutcome,
    StoredOrder,
)
from nexus.checkout.repository import CheckoutRepository, IllegalTransition
from nexus.graph.client import GraphClient, PageResult, Post
from nexus.graph.errors import GraphError
from nexus.identity import Identity
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


# -- checkout ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CatalogueItem:
    id: str
    organization_id: str
    name: str
    price: int
    currency: str


@dataclass
class StoredOrderState:
    organization_id: str
    row: Order
    product_name: str
    idempotency_key: str | None
    request_hash: str | None


class FakeCheckoutRepository(CheckoutRepository):
    """Orders priced from the catalogue, one per Idempotency-Key, and the payment state
    machine (pending → paid | failed, each event id applied once).

    ``unseen_keys``: keys whose order a concurrent request committed after this statement's
    snapshot, so :meth:`checkout` sees neither its own insert nor that order (returns None)
    while :meth:`by_idempotency_key` finds it."""

    def __init__(self) -> None:
        self.catalogue: dict[str, CatalogueItem] = {}
        self.orders: dict[str, StoredOrderState] = {}
        self.events: dict[str, str] = {}
        self.unseen_keys: set[str] = set()
        self.clock = Clock()
        self.calls: list[str] = []

    def add_product(
        self, *, organization_id: str | None = None, price: int = 2500, currency: str = "EUR"
    ) -> CatalogueItem:
        item = CatalogueItem(new_id(), organization_id or new_id(), "Field guide", price, currency)
        self.catalogue[item.id] = item
        return item

    def set_status(self, order_id: str, status: OrderStatus) -> None:
        stored = self.orders[order_id]
        stored.row = stored.row.model_copy(update={"status": status})

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
    ) -> StoredOrder | None:
        self.calls.append("checkout")
        if idempotency_key in self.unseen_keys:
            return None
        existing = self._with_key(idempotency_key) if idempotency_key is not None else None
        if existing is not None:
            return StoredOrder(
                created=False, order=existing.row, request_hash=existing.request_hash
            )
        item = self.catalogue.get(product_id)
        if item is None:
            return None
        row = Order(
            id=new_id(),
            product_id=item.id,
            email=email,
            name=name,
            status="pending",
            amount=item.price,
            currency=item.currency,
            created_at=self.clock.tick(),
        )
        self.orders[row.id] = StoredOrderState(
            item.organization_id, row, item.name, idempotency_key, request_hash
        )
        return StoredOrder(created=True, order=row, request_hash=request_hash)

    def by_idempotency_key(self, key: str) -> StoredOrder | None:
        self.calls.append("by_idempotency_key")
        stored = self._with_key(key)
        if stored is None:
            return None
        return StoredOrder(created=False, order=stored.row, request_hash=stored.request_hash)

    def buyer_view(self, order_id: str) -> BuyerOrderRow | None:
        self.calls.append("buyer_view")
        stored = self.orders.get(order_id)
        if stored is None:
            return None
        r = stored.row
        return BuyerOrderRow(
            r.id, r.status, r.amount, r.currency, r.product_id, stored.product_name
        )

    def seller_page(
        self, *, organization_id: str, status: str | None, limit: int, after: Cursor | None
    ) -> list[Order]:
        self.calls.append("seller_page")
        rows = (
            o.row
            for o in self.orders.values()
            if o.organization_id == organization_id and status in (None, o.row.status)
        )
        return _newest_first(rows, after, limit)

    def seller_get(self, *, organization_id: str, order_id: str) -> Order | None:
        self.calls.append("seller_get")
        stored = self.orders.get(order_id)
        return stored.row if stored and stored.organization_id == organization_id else None

    def apply_payment_event(
        self, *, event_id: str, event_type: str, order_id: str, new_status: OrderStatus
    ) -> PaymentOutcome:
        self.calls.append("apply_payment_event")
        stored = self.orders.get(order_id)
        if stored is None:
            return PaymentOutcome(found=False, duplicate=False, status=None, previous=None)
        current = stored.row.status
        if event_id in self.events:
            return PaymentOutcome(found=True, duplicate=True, status=current, previous=current)
        if current != "pending":
            raise IllegalTransition(current)  # the refused event is not recorded
        self.events[event_id] = order_id
        self.set_status(order_id, new_status)
        return PaymentOutcome(found=True, duplicate=False, status=new_status, previous="pending")


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

    def save_snapshot(
        self,
        *,
        organization_id: str,
        integration_id: str,
        snapshot: date,
        posts: list[Post],
        status: str,
        error_code: str | None,
    ) -> int:
        self.calls.append("save_snapshot")
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

    def __init__(self, token: str, *, result: PageResult | None, error: GraphError | None) -> None:
        self.token = token
        self.result = result
        self.error = error
        self.requested: list[tuple[str, int, int]] = []

    def page_posts(self, page_id: str, since: int, until: int) -> PageResult:
        self.requested.append((page_id, since, until))
        if self.error is not None:
            raise self.error
        return self.result or PageResult()


@dataclass
class GraphScript:
    """A ``client_factory`` for the consumer: builds FakeGraphClients and keeps them."""

    result: PageResult | None = None
    error: GraphError | None = None
    clients: list[FakeGraphClient] = field(default_factory=list)

    def __call__(self, token: str) -> GraphClient:
        client = FakeGraphClient(token, result=self.result, error=self.error)
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
