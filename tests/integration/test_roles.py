"""Each function's PostgreSQL role (migration 0002_roles.sql) can do what its code needs and
nothing more, only the owner changes the schema, and the time budgets are the roles' own
settings (no session SET)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import scalar_row

from nexus import db
from nexus.checkout.repository import CheckoutRepository
from nexus.graph.client import Post
from nexus.ingest.repository import IngestRepository
from nexus.pagination import Cursor
from nexus.payments.repository import PaymentsRepository
from nexus.payments.state import Change
from nexus.products.repository import ProductRepository
from nexus_local import postgres
from tests.support.api import Api, assert_problem

# role: (statement_timeout, lock_timeout, idle_in_transaction_session_timeout)
BUDGETS = {
    "nexus_auth": ("5s", "2s", "5s"),
    "nexus_products": ("5s", "2s", "5s"),
    "nexus_checkout": ("5s", "2s", "5s"),
    "nexus_integrations": ("5s", "2s", "5s"),
    "nexus_ingest": ("20s", "5s", "10s"),
    "nexus_fanout": ("10s", "2s", "10s"),
}
ROLES = tuple(BUDGETS)
Login = Callable[[str], psycopg.Connection[Any]]


@pytest.fixture
def login(database_url: str) -> Iterator[Login]:
    """Autocommitted connections to the test database as a role (a refused statement does
    not spoil the next one)."""
    opened: list[psycopg.Connection[Any]] = []

    def connect(role: str) -> psycopg.Connection[Any]:
        c = psycopg.connect(database_url, user=role, autocommit=True)
        opened.append(c)
        return c

    yield connect
    for c in opened:
        c.close()


@pytest.fixture
def world(conn: Any) -> dict[str, str]:
    """One seller with a product, an order, an integration, a run and a metric row, written
    by the owner."""
    org = conn.execute("INSERT INTO organizations (name) VALUES ('o') RETURNING id::text")
    org = org.fetchone()[0]
    user = conn.execute(
        "INSERT INTO users (organization_id, email, password_hash) VALUES (%s, 'w@x.io', 'h')"
        " RETURNING id::text",
        (org,),
    ).fetchone()[0]
    product = conn.execute(
        "INSERT INTO products (organization_id, created_by, name, price) VALUES (%s, %s, 'P', 500)"
        " RETURNING id::text",
        (org, user),
    ).fetchone()[0]
    integration = conn.execute(
        "INSERT INTO integrations (organization_id, provider, external_id, name,"
        " access_token_ciphertext) VALUES (%s, 'facebook', '111', 'Page', '\\x01')"
        " RETURNING id::text",
        (org,),
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO ingestion_runs (organization_id, integration_id, date, status)"
        " VALUES (%s, %s, '2026-11-01', 'ok')",
        (org, integration),
    )
    conn.execute(
        "INSERT INTO analytics_daily_metrics (organization_id, integration_id, content_id,"
        " date, impressions) VALUES (%s, %s, '111_1', '2026-11-01', 7)",
        (org, integration),
    )
    return {"org": org, "user": user, "product": product, "integration": integration}


# ------------------------------------------------------------------ logins and time budgets
@pytest.mark.parametrize("role", ROLES)
def test_each_role_logs_in_with_its_budgets_and_no_powers(login: Login, role: str) -> None:
    c = login(role)
    assert c.execute("SELECT current_user").fetchone() == (role,)
    scalar = c.cursor(row_factory=scalar_row)
    shown = tuple(
        scalar.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
        for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
    )
    assert shown == BUDGETS[role]
    powers = c.execute(
        "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication"
        " FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    assert powers == (True, False, False, False, False, False)


def test_the_budgets_are_settings_of_the_roles_themselves(conn: Any) -> None:
    rows = conn.execute(
        "SELECT r.rolname, s.setconfig FROM pg_db_role_setting s"
        " JOIN pg_roles r ON r.oid = s.setrole WHERE s.setdatabase = 0"
        " AND r.rolname = ANY(%s)",
        (list(ROLES),),
    ).fetchall()
    assert {role: sorted(config) for role, config in rows} == {
        role: sorted(
            [
                f"statement_timeout={statement}",
                f"lock_timeout={lock}",
                f"idle_in_transaction_session_timeout={idle}",
            ]
        )
        for role, (statement, lock, idle) in BUDGETS.items()
    }


def test_nexus_db_logs_in_as_db_user_on_the_database_urls_server(as_role: Any) -> None:
    as_role("nexus_checkout")
    assert db.fetch_one(scalar_row, "SELECT current_user") == "nexus_checkout"
    # The role's budget reaches the app's connection without any SET of ours.
    assert db.fetch_one(scalar_row, "SHOW lock_timeout") == "2s"
    as_role(None)
    assert db.fetch_one(scalar_row, "SELECT current_user") != "nexus_checkout"


# ------------------------------------------------------------------ what each role needs
def test_nexus_auth_registers_logs_in_and_reads_the_user(api: Api, as_role: Any) -> None:
    as_role("nexus_auth")
    creds = {"email": "roles@example.com", "password": "correct horse battery"}
    assert api.post("/auth/register", json_body=creds).status == 201
    wrong = api.post("/auth/login", json_body={**creds, "password": "wrong password here"})
    assert_problem(wrong, 401)
    token = api.post("/auth/login", json_body=creds).json()["access_token"]
    assert api.get("/auth/me", token=token).json()["email"] == creds["email"]


def test_nexus_products_runs_every_product_query(as_role: Any, world: dict[str, str]) -> None:
    as_role("nexus_products")
    repo, org = ProductRepository(), world["org"]
    made = repo.create(
        organization_id=org,
        user_id=world["user"],
        name="Ebook",
        description=None,
        price=1999,
        currency="EUR",
    )
    first = repo.page(organization_id=org, limit=1, after=None)
    rest = repo.page(organization_id=org, limit=5, after=Cursor(first[0].created_at, first[0].id))
    assert {p.id for p in first + rest} == {made.id, world["product"]}
    assert repo.get(organization_id=org, product_id=made.id) == made
    assert repo.get_public(product_id=made.id) is not None
    changed = repo.update(organization_id=org, product_id=made.id, changes={"price": 2500})
    assert changed is not None and changed.price == 2500
    assert repo.soft_delete(organization_id=org, product_id=made.id)


def test_nexus_checkout_runs_every_order_query(as_role: Any, world: dict[str, str]) -> None:
    as_role("nexus_checkout")
    repo, org = CheckoutRepository(), world["org"]
    assert ProductRepository().get_public(product_id=world["product"]) is not None
    order: dict[str, Any] = {
        "product_id": world["product"],
        "email": "b@x.io",
        "name": None,
        "request_hash": "h",
        "session_minutes": 60,
    }
    first = repo.checkout(**order, idempotency_key="key-1")
    again = repo.checkout(**order, idempotency_key="key-1")
    assert first is not None and again is not None
    assert (first.created, again.created, again.order.id) == (True, False, first.order.id)
    other = repo.checkout(**order, idempotency_key=None)
    assert other is not None
    assert repo.by_idempotency_key("key-1") is not None
    assert repo.buyer_view(first.order.id) is not None
    page = repo.seller_page(organization_id=org, status="pending", limit=10, after=None)
    assert {o.id for o in page} == {first.order.id, other.order.id}
    assert repo.seller_get(organization_id=org, order_id=first.order.id) is not None
    assert repo.order(first.order.id) is not None
    assert repo.summary(organization_id=org, start=date(2026, 1, 1), end=date(2026, 12, 31)) == []
    payments = PaymentsRepository()
    assert payments.save_session(order_id=first.order.id, session_id="cs_1", url="https://pay")
    paid = payments.apply(
        Change("paid", order_id=first.order.id, session_id="cs_1", payment_intent="pi_1"),
        fee_bps=500,
        event_id="evt-1",
        event_type="checkout.session.completed",
    )
    assert (paid.outcome, paid.status) == ("applied", "paid")
    replay = payments.apply(
        Change("paid", order_id=first.order.id), fee_bps=500, event_id="evt-1", event_type="x"
    )
    assert replay.outcome == "duplicate"
    assert payments.refund_target(organization_id=org, order_id=first.order.id) is not None
    payments.refund_requested(first.order.id)
    refunded = payments.apply(
        Change("refunded", payment_intent="pi_1"), fee_bps=500, event_id="evt-2", event_type="y"
    )
    assert refunded.status == "refunded"
    expired = payments.apply(Change("expired", order_id=other.order.id), fee_bps=500)
    assert expired.status == "expired"
    # The store page counts its view (one statement) and the funnel reads the counts
    viewed, failure = ProductRepository().get_public_counted(
        product_id=world["product"], day=date(2026, 11, 1), visitor=b"v" * 32
    )
    assert viewed is not None and failure is None
    [day] = repo.funnel(
        organization_id=org,
        product_id=world["product"],
        start=date(2026, 11, 1),
        end=date(2026, 11, 1),
    )
    assert (day.views, day.checkouts, day.paid) == (1, 0, 0)


def test_nexus_maintenance_runs_the_expiry_sweep_queries(
    as_role: Any, world: dict[str, str], conn: Any
) -> None:
    repo = CheckoutRepository()
    as_role("nexus_checkout")
    made = repo.checkout(
        product_id=world["product"],
        email="b@x.io",
        name=None,
        request_hash=None,
        idempotency_key=None,
        session_minutes=60,
    )
    assert made is not None
    conn.execute("UPDATE orders SET expires_at = now() - interval '1 hour'")
    as_role("nexus_maintenance")
    payments = PaymentsRepository()
    [due] = payments.due_for_expiry(grace_seconds=60, limit=10)
    assert payments.due_for_expiry(grace_seconds=60, limit=10, after=due) == []
    # Paid by the sweep: its emails are written to the outbox as this role
    paid = payments.apply(Change("paid", order_id=due.order_id, payment_intent="pi_9"), fee_bps=0)
    assert paid.status == "paid"


def test_nexus_integrations_runs_every_integration_route(api: Api, as_role: Any, conn: Any) -> None:
    token = api.seller("integrations@example.com")  # registered as the owner
    as_role("nexus_integrations")
    body = {"provider": "facebook", "external_id": "555", "name": "Shop", "access_token": "t"}
    created = api.post("/integrations", json_body=body, token=token)
    assert created.status == 201, created.text
    path = f"/integrations/{created.json()['id']}"
    assert [i["id"] for i in api.get("/integrations", token=token).json()["items"]] == [
        created.json()["id"]
    ]
    changed = api.patch(path, json_body={"name": "New", "access_token": "t2"}, token=token)
    assert changed.status == 200, changed.text
    assert api.patch(path, json_body={"enabled": False}, token=token).status == 200
    query = "?from=2026-11-01&to=2026-11-28"
    assert api.get(f"/analytics/metrics{query}", token=token).status == 200
    assert api.get(f"/analytics/runs{query}", token=token).status == 200
    assert api.delete(path, token=token).status == 204


def test_nexus_ingest_stores_a_snapshot_and_a_failure(
    as_role: Any, world: dict[str, str], conn: Any
) -> None:
    as_role("nexus_ingest")
    repo, org, integration = IngestRepository(), world["org"], world["integration"]
    target = repo.target(integration_id=integration, organization_id=org)
    assert target is not None and target.token_ciphertext == b"\x01"
    posts = [
        Post("111_1", datetime(2026, 11, 1, tzinfo=UTC), "hi", {"impressions": 9, "reach": 4}),
        Post("111_2", None, None, {"impressions": 1}),
    ]
    for _ in range(2):  # the second time updates in place
        repo.save_snapshot(
            organization_id=org,
            integration_id=integration,
            snapshot=date(2026, 11, 1),
            posts=posts,
            status="ok",
            error_code=None,
        )
    repo.record_failure(
        organization_id=org,
        integration_id=integration,
        snapshot=date(2026, 11, 2),
        status="needs_reauth",
        error_code="token_expired",
        needs_reauth=True,
    )
    status = conn.execute("SELECT status FROM integrations WHERE id = %s", (integration,))
    assert status.fetchone() == ("needs_reauth",)


def test_nexus_fanout_pages_the_active_integrations(as_role: Any, world: dict[str, str]) -> None:
    as_role("nexus_fanout")
    page = IngestRepository().active_integrations(after=None, limit=10)
    assert [i.id for i in page] == [world["integration"]]
    assert IngestRepository().active_integrations(after=world["integration"], limit=10) == []


# ------------------------------------------------------------------ what each role must not do
REFUSED = [
    ("nexus_auth", "SELECT access_token_ciphertext FROM integrations"),
    ("nexus_auth", "SELECT id FROM products"),
    ("nexus_auth", "SELECT id FROM orders"),
    ("nexus_auth", "UPDATE users SET organization_id = organization_id"),
    ("nexus_products", "SELECT password_hash FROM users"),
    ("nexus_products", "SELECT id FROM orders"),
    ("nexus_products", "UPDATE products SET organization_id = organization_id"),
    ("nexus_products", "DELETE FROM products"),
    ("nexus_checkout", "SELECT password_hash FROM users"),
    ("nexus_checkout", "UPDATE products SET price = 1"),
    (
        "nexus_checkout",
        "INSERT INTO products (organization_id, created_by, name, price)"
        " VALUES (gen_random_uuid(), gen_random_uuid(), 'x', 1)",
    ),
    ("nexus_checkout", "UPDATE orders SET amount = 1"),
    ("nexus_checkout", "DELETE FROM orders"),
    # The funnel's views are insert-only: a count is never rewritten nor erased.
    ("nexus_checkout", "UPDATE store_views SET day = day"),
    ("nexus_checkout", "DELETE FROM store_views"),
    ("nexus_products", "SELECT day FROM store_views"),
    ("nexus_integrations", "SELECT day FROM store_views"),
    (
        "nexus_integrations",
        "INSERT INTO products (organization_id, created_by, name, price)"
        " VALUES (gen_random_uuid(), gen_random_uuid(), 'x', 1)",
    ),
    (
        "nexus_integrations",
        "INSERT INTO analytics_daily_metrics"
        " (organization_id, integration_id, content_id, date) VALUES"
        " (gen_random_uuid(), gen_random_uuid(), 'c', '2026-11-01')",
    ),
    ("nexus_integrations", "UPDATE ingestion_runs SET status = 'ok'"),
    ("nexus_integrations", "UPDATE integrations SET organization_id = organization_id"),
    ("nexus_integrations", "SELECT password_hash FROM users"),
    ("nexus_ingest", "SELECT password_hash FROM users"),
    ("nexus_ingest", "SELECT name FROM integrations"),
    ("nexus_ingest", "UPDATE integrations SET access_token_ciphertext = '\\x00'"),
    ("nexus_ingest", "SELECT id FROM orders"),
    ("nexus_fanout", "SELECT access_token_ciphertext FROM integrations"),
    ("nexus_integrations", "SELECT access_token_ciphertext FROM integrations"),
    ("nexus_fanout", "UPDATE integrations SET status = 'disabled'"),
    ("nexus_fanout", "SELECT content_id FROM analytics_daily_metrics"),
]


@pytest.mark.parametrize(("role", "statement"), REFUSED)
def test_a_role_cannot_reach_what_its_function_does_not_use(
    login: Login, role: str, statement: str
) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        login(role).execute(statement.encode())


SCHEMA_CHANGES = [
    "CREATE TABLE intruder (x int)",
    "CREATE TEMPORARY TABLE intruder (x int)",
    "CREATE SCHEMA intruder",
    "ALTER TABLE products ADD COLUMN intruder int",
    "CREATE INDEX intruder ON products (name)",
    "DROP TABLE products",
    "TRUNCATE products",
    "CREATE FUNCTION public.intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
]


@pytest.mark.parametrize("role", ROLES)
def test_only_the_owner_changes_the_schema(login: Login, role: str) -> None:
    c = login(role)
    for statement in SCHEMA_CHANGES:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(statement.encode())


# ------------------------------------------------------------------ the migration itself
def test_databases_of_one_fresh_server_migrate_at_once(tmp_path: Path) -> None:
    """Roles are the server's: four databases migrating at the same time on a server that
    has none of them yet (and an RDS-like rds_iam role) all succeed, and every role ends up
    with its budgets and rds_iam."""
    server = postgres.EmbeddedPostgres(tmp_path / "pg", delete_on_stop=True)
    try:
        admin = server.url()
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute("CREATE ROLE rds_iam")
        urls = [postgres.ensure_database(admin, f"race_{uuid.uuid4().hex[:8]}") for _ in range(4)]
        start = threading.Barrier(len(urls))
        failures: list[BaseException] = []

        def run(url: str) -> None:
            try:
                start.wait()
                postgres.migrate_url(url)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                failures.append(exc)

        threads = [threading.Thread(target=run, args=(url,)) for url in urls]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert failures == []
        with psycopg.connect(urls[0], autocommit=True) as c:
            members = c.execute(
                "SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)"
                " AND pg_has_role(rolname, 'rds_iam', 'MEMBER')",
                (list(ROLES),),
            ).fetchone()
            settings = c.execute(
                "SELECT count(*) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole"
                " WHERE r.rolname = ANY(%s) AND cardinality(s.setconfig) = 3",
                (list(ROLES),),
            ).fetchone()
        assert members == settings == (len(ROLES),)
        for url in urls:
            with psycopg.connect(url, user="nexus_fanout", autocommit=True) as c:
                assert c.execute("SELECT count(id) FROM integrations").fetchone() == (0,)
    finally:
        server.stop()


def test_the_migration_logs_in_as_the_owner_with_the_master_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On AWS the migration alone sets DB_SECRET_ARN: it logs in to the cluster as the master
    user with the RDS-managed secret's current password (TLS), not with an IAM token."""
    import nexus.secrets
    from nexus.settings import load_settings

    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-x"
    asked: list[str | None] = []

    def secret(value: str | None, secret_arn: str | None, *, name: str) -> str:
        asked.append(secret_arn)
        return '{"username": "nexus_admin", "password": "from-the-secret"}'

    monkeypatch.setattr(nexus.secrets, "resolve_secret", secret)
    settings = load_settings(
        {
            "DB_HOST": "nexus.cluster-x.us-east-1.rds.amazonaws.com",
            "DB_USER": "nexus_admin",
            "DB_SECRET_ARN": arn,
        }
    )
    info = db._conninfo(settings)
    assert (info["user"], info["password"], info["sslmode"]) == (
        "nexus_admin",
        "from-the-secret",
        "require",
    )
    assert asked == [arn]


# ------------------------------------------------------------------ email (migration 0005)
EMAIL_BUDGETS = {"nexus_notify": ("5s", "2s", "5s"), "nexus_maintenance": ("30s", "5s", "10s")}


@pytest.mark.parametrize("role", sorted(EMAIL_BUDGETS))
def test_the_email_roles_log_in_with_their_budgets_and_no_powers(login: Login, role: str) -> None:
    scalar = login(role).cursor(row_factory=scalar_row)
    shown = tuple(
        scalar.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
        for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
    )
    assert shown == EMAIL_BUDGETS[role]
    assert (
        scalar.execute(
            "SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles"
            " WHERE rolname = current_user"
        ).fetchone()
        is False
    )


def _outbox_row(conn: Any) -> str:
    outbox_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO outbox (id, kind, recipient, payload, secret_ciphertext)"
        " VALUES (%s, 'password_reset', 'a@b.io', '{}', '\\x01')",
        (outbox_id,),
    )
    return outbox_id


@pytest.mark.parametrize("role", ["nexus_auth", "nexus_checkout", "nexus_ingest"])
def test_the_writers_add_and_mark_relayed_but_never_read_an_email_back(
    login: Login, conn: Any, role: str
) -> None:
    c = login(role)
    outbox_id = _outbox_row(c)
    assert (
        c.execute(
            "UPDATE outbox SET relayed_at = now() WHERE id = %s AND relayed_at IS NULL",
            (outbox_id,),
        ).rowcount
        == 1
    )
    for statement in (
        "SELECT secret_ciphertext FROM outbox",
        "SELECT recipient FROM outbox",
        "UPDATE outbox SET status = 'sent'",
        "DELETE FROM outbox",
        "SELECT * FROM email_suppressions",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(statement)


def test_notify_claims_sends_and_suppresses_but_writes_no_email_and_reads_no_user(
    login: Login, conn: Any, world: dict[str, str]
) -> None:
    from nexus.outbox.repository import CLAIM

    outbox_id = _outbox_row(conn)
    c = login("nexus_notify")
    claimed = c.execute(CLAIM, {"id": outbox_id, "lease": 60}).fetchone()
    assert claimed is not None and claimed[1] is True
    c.execute(
        "UPDATE outbox SET status = 'sent', sent_at = now(), secret_ciphertext = NULL,"
        " claimed_at = NULL, message_id = 'm' WHERE id = %s",
        (outbox_id,),
    )
    c.execute(
        "INSERT INTO email_suppressions (address_key, reason) VALUES ('x@y.io', 'bounce')"
        " ON CONFLICT (address_key) DO UPDATE SET reason = EXCLUDED.reason, updated_at = now()"
    )
    for statement in (
        "INSERT INTO outbox (id, kind, recipient) VALUES (gen_random_uuid(), 'new_sale', 'a@b.io')",
        "UPDATE outbox SET recipient = 'evil@x.io'",
        "DELETE FROM outbox",
        "SELECT email FROM users",
        "SELECT * FROM orders",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(statement)


def test_maintenance_sweeps_ids_only(login: Login, conn: Any) -> None:
    from nexus.outbox.repository import DUE

    outbox_id = _outbox_row(conn)
    c = login("nexus_maintenance")
    params = {"relay_after": 0, "resend_after": 60, "max_attempts": 5, "batch": 10}
    assert [r[0] for r in c.execute(DUE, params).fetchall()] == [outbox_id]
    for statement in (
        "SELECT recipient FROM outbox",
        "SELECT payload FROM outbox",
        "SELECT secret_ciphertext FROM outbox",
        "UPDATE outbox SET status = 'sent'",
        "SELECT * FROM email_suppressions",
        "SELECT * FROM users",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(statement)
