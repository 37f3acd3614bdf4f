"""The schema refuses what the contract forbids, in PostgreSQL itself."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from nexus.db import migrate as runner
from nexus.db.migrate import _LOCK_ID, MigrationLocked, available, migrate
from nexus.payments.state import ORDER_STATUSES


@pytest.fixture
def tenant(conn: Any) -> dict[str, str]:
    org = conn.execute(
        "INSERT INTO organizations (name) VALUES ('o') RETURNING id::text"
    ).fetchone()[0]
    user = conn.execute(
        "INSERT INTO users (organization_id, email, password_hash) VALUES (%s, 'a@x.io', 'h')"
        " RETURNING id::text",
        (org,),
    ).fetchone()[0]
    integration = conn.execute(
        "INSERT INTO integrations (organization_id, provider, external_id, name,"
        " access_token_ciphertext) VALUES (%s, 'facebook', 'page-1', 'Page', '\\x00')"
        " RETURNING id::text",
        (org,),
    ).fetchone()[0]
    return {"org": org, "user": user, "integration": integration}


def _metric(conn: Any, t: dict[str, str], deleted: bool = False) -> None:
    conn.execute(
        "INSERT INTO analytics_daily_metrics (organization_id, integration_id, content_id, date,"
        " impressions, deleted_at) VALUES (%s, %s, 'page-1_post-1', '2026-11-01', 5, %s)",
        (t["org"], t["integration"], "2026-11-02" if deleted else None),
    )


def test_duplicate_live_daily_metric_is_refused(conn: Any, tenant: dict[str, str]) -> None:
    _metric(conn, tenant)
    with pytest.raises(psycopg.errors.UniqueViolation):
        _metric(conn, tenant)


def test_soft_deleted_metric_does_not_block_a_live_one(conn: Any, tenant: dict[str, str]) -> None:
    _metric(conn, tenant, deleted=True)
    _metric(conn, tenant)
    _metric(conn, tenant, deleted=True)
    (live,) = conn.execute(
        "SELECT count(*) FROM analytics_daily_metrics WHERE deleted_at IS NULL"
    ).fetchone()
    assert live == 1


def test_upsert_targets_the_partial_natural_key(conn: Any, tenant: dict[str, str]) -> None:
    sql = (
        "INSERT INTO analytics_daily_metrics (organization_id, integration_id, content_id, date,"
        " impressions, reach) VALUES (%s, %s, 'c', '2026-11-01', %s, %s)"
        " ON CONFLICT (organization_id, integration_id, content_id, date) WHERE deleted_at IS NULL"
        " DO UPDATE SET"
        " impressions = COALESCE(EXCLUDED.impressions, analytics_daily_metrics.impressions),"
        " reach = COALESCE(EXCLUDED.reach, analytics_daily_metrics.reach)"
    )
    conn.execute(sql, (tenant["org"], tenant["integration"], 10, 7))
    conn.execute(sql, (tenant["org"], tenant["integration"], None, 9))
    row = conn.execute("SELECT impressions, reach FROM analytics_daily_metrics").fetchone()
    assert row == (10, 9)


def test_user_email_is_unique_regardless_of_case(conn: Any, tenant: dict[str, str]) -> None:
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO users (organization_id, email, password_hash) VALUES (%s, 'A@X.IO', 'h')",
            (tenant["org"],),
        )


@pytest.mark.parametrize("price", [0, -1, 100_000_001])
def test_product_price_must_be_positive_cents_within_limit(
    conn: Any, tenant: dict[str, str], price: int
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO products (organization_id, created_by, name, price)"
            " VALUES (%s, %s, 'p', %s)",
            (tenant["org"], tenant["user"], price),
        )


def test_order_status_is_only_one_of_the_state_machines(conn: Any, tenant: dict[str, str]) -> None:
    product = conn.execute(
        "INSERT INTO products (organization_id, created_by, name, price) VALUES (%s, %s, 'p', 100)"
        " RETURNING id",
        (tenant["org"], tenant["user"]),
    ).fetchone()[0]
    insert = (
        "INSERT INTO orders (organization_id, product_id, product_name, email, status, amount,"
        " currency, expires_at) VALUES (%s, %s, 'p', 'b@x.io', %s, 100, 'USD', now())"
        " RETURNING id"
    )
    for status in ORDER_STATUSES:
        order_id = conn.execute(insert, (tenant["org"], product, status)).fetchone()[0]
        assert isinstance(order_id, uuid.UUID)
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(insert, (tenant["org"], product, "cancelled"))


def test_integration_unique_per_org_among_live_rows(conn: Any, tenant: dict[str, str]) -> None:
    insert = (
        "INSERT INTO integrations (organization_id, provider, external_id, name,"
        " access_token_ciphertext) VALUES (%s, 'facebook', 'page-1', 'Page', '\\x00')"
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(insert, (tenant["org"],))
    conn.execute("UPDATE integrations SET deleted_at = now()")
    conn.execute(insert, (tenant["org"],))


def test_migrations_are_idempotent(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as c:
        assert migrate(c) == []
        versions = [r[0] for r in c.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [v for v, _ in available()]


def test_a_held_migration_lock_is_a_clear_error_not_a_hang(database_url: str) -> None:
    """Given another runner holding the migration lock, when a migration starts with a short
    lock wait, then it fails with MigrationLocked once the wait is over (no hang)."""
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        with (
            psycopg.connect(database_url, autocommit=True) as c,
            pytest.raises(MigrationLocked, match="schema lock"),
        ):
            migrate(c, lock_wait_seconds=0.2)
        holder.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))


def test_a_migration_waiting_on_a_table_lock_applies_nothing(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a table locked by a long transaction, when a pending migration needs it, then the
    runner fails with MigrationLocked and the migration is not recorded."""
    pending = ("9999_lock_probe", "ALTER TABLE products ADD COLUMN lock_probe int")
    with psycopg.connect(database_url, autocommit=True) as holder:
        with holder.transaction():
            holder.execute("LOCK TABLE products IN ACCESS SHARE MODE")
            monkeypatch.setattr(runner, "available", lambda: [*available(), pending])
            with (
                psycopg.connect(database_url, autocommit=True) as c,
                pytest.raises(MigrationLocked, match="9999_lock_probe"),
            ):
                migrate(c, lock_wait_seconds=0.2)
        versions = holder.execute("SELECT version FROM schema_migrations").fetchall()
    assert ("9999_lock_probe",) not in versions


def test_migrations_rerun_on_the_apps_own_connection(database_url: str) -> None:
    """The deploy-time MigrationFunction migrates over nexus.db.connect(), whose rows are
    dicts: a second deploy (versions already recorded) applies nothing and does not fail."""
    from nexus import db
    from nexus.settings import load_settings

    with db.connect(load_settings({"DATABASE_URL": database_url})) as c:
        assert migrate(c) == []
        assert migrate(c) == []


def test_a_migration_that_lost_a_race_on_shared_catalogs_is_applied_again(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a pending migration whose first try fails as a race with another database's
    migration on the server's roles would (a unique violation), when the runner applies it,
    then it is rolled back and applied again, and recorded once."""
    # nextval is not rolled back with the failed try: the second try sees 2.
    probe = (
        "9998_race_probe",
        "DO $$ BEGIN IF nextval('race_probe') = 1 THEN"
        " RAISE unique_violation USING MESSAGE = 'lost a race'; END IF; END $$;",
    )
    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute("CREATE SEQUENCE race_probe")
        try:
            monkeypatch.setattr(runner, "available", lambda: [*available(), probe])
            assert migrate(c) == ["9998_race_probe"]
            assert c.execute("SELECT last_value FROM race_probe").fetchone() == (2,)
        finally:
            c.execute("DELETE FROM schema_migrations WHERE version = '9998_race_probe'")
            c.execute("DROP SEQUENCE race_probe")
