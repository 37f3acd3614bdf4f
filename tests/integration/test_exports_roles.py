"""Migration 0013: ExportFunction's role (nexus_export) logs in with its own time budgets and
can run every statement of the worker and nothing more; IntegrationsFunction's role requests
and reads exports but never touches the worker's claim or outcome; the table refuses what an
export cannot be."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import scalar_row

from nexus import db
from nexus.exports.models import COLUMNS, Claimed
from nexus.exports.repository import ExportRepository

Login = Callable[[str], psycopg.Connection[Any]]
REPO = ExportRepository()


@pytest.fixture
def login(database_url: str) -> Iterator[Login]:
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
    """A seller with an integration, two metric rows and a pending export, by the owner."""
    org = conn.execute("INSERT INTO organizations (name) VALUES ('o') RETURNING id::text")
    org = org.fetchone()[0]
    user = conn.execute(
        "INSERT INTO users (organization_id, email, password_hash) VALUES (%s, 'x@y.io', 'h')"
        " RETURNING id::text",
        (org,),
    ).fetchone()[0]
    integration = conn.execute(
        "INSERT INTO integrations (organization_id, provider, external_id, name,"
        " access_token_ciphertext) VALUES (%s, 'facebook', '1', 'Page', '\\x01')"
        " RETURNING id::text",
        (org,),
    ).fetchone()[0]
    for content in ("1_1", "1_2"):
        conn.execute(
            "INSERT INTO analytics_daily_metrics (organization_id, integration_id, content_id,"
            " date, impressions) VALUES (%s, %s, %s, current_date, 7)",
            (org, integration, content),
        )
    export = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO analytics_exports (id, organization_id, user_id, from_date, to_date,"
        " object_key, expires_at) VALUES (%s, %s, %s, current_date - 1, current_date, 'k',"
        " now() + interval '1 day')",
        (export, org, user),
    )
    return {"org": org, "user": user, "integration": integration, "export": export}


def test_nexus_export_logs_in_with_its_budgets_and_no_powers(login: Login) -> None:
    c = login("nexus_export")
    scalar = c.cursor(row_factory=scalar_row)
    shown = tuple(
        scalar.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
        for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
    )
    assert shown == ("10min", "5s", "3min")
    powers = c.execute(
        "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication"
        " FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    assert powers == (True, False, False, False, False, False)


def test_the_worker_runs_every_statement_as_nexus_export(
    as_role: Any, world: dict[str, str]
) -> None:
    as_role("nexus_export")
    claimed = REPO.claim(export_id=world["export"], organization_id=world["org"], lease=60)
    assert isinstance(claimed, Claimed)
    batches = list(REPO.stream(db.get_connection(), claimed, batch_rows=1))
    assert [len(b) for b in batches] == [1, 1]
    first = dict(zip(COLUMNS, batches[0][0], strict=True))
    assert (first["provider"], first["content_id"], first["impressions"]) == (
        "facebook",
        "1_1",
        "7",
    )
    assert dt.date.fromisoformat(first["date"])  # the server's ISO rendering
    REPO.release(world["export"])
    assert REPO.mark_ready(world["export"], 2) is True
    assert REPO.mark_ready(world["export"], 3) is False  # not pending any more
    assert REPO.mark_failed(world["export"], "x") is False


def test_the_request_side_runs_every_statement_as_nexus_integrations(
    as_role: Any, world: dict[str, str]
) -> None:
    as_role("nexus_integrations")
    export = str(uuid.uuid4())
    REPO.create(
        export_id=export,
        organization_id=world["org"],
        user_id=world["user"],
        start=dt.date(2026, 11, 1),
        end=dt.date(2026, 11, 2),
        integration_id=world["integration"],
        object_key=f"exports/{world['org']}/{export}.csv",
        expiry_hours=24,
    )
    stored = REPO.get(organization_id=world["org"], export_id=export)
    assert stored is not None and stored.status == "pending"
    assert REPO.get(organization_id=str(uuid.uuid4()), export_id=export) is None
    assert REPO.mark_failed(export, "not queued") is True


REFUSED = [
    ("nexus_export", "SELECT name FROM integrations"),
    ("nexus_export", "SELECT access_token_ciphertext FROM integrations"),
    ("nexus_export", "SELECT email FROM users"),
    ("nexus_export", "SELECT user_id FROM analytics_exports"),
    ("nexus_export", "INSERT INTO analytics_exports (id) VALUES (gen_random_uuid())"),
    ("nexus_export", "UPDATE analytics_exports SET object_key = 'elsewhere'"),
    ("nexus_export", "UPDATE analytics_exports SET expires_at = now()"),
    ("nexus_export", "DELETE FROM analytics_exports"),
    ("nexus_export", "UPDATE analytics_daily_metrics SET impressions = 0"),
    ("nexus_export", "SELECT * FROM orders"),
    ("nexus_export", "CREATE TEMPORARY TABLE intruder (x int)"),
    ("nexus_export", "CREATE TABLE intruder (x int)"),
    ("nexus_integrations", "UPDATE analytics_exports SET row_count = 1"),
    ("nexus_integrations", "UPDATE analytics_exports SET claimed_at = now()"),
    ("nexus_integrations", "UPDATE analytics_exports SET object_key = 'elsewhere'"),
    ("nexus_integrations", "DELETE FROM analytics_exports"),
    ("nexus_ingest", "SELECT id FROM analytics_exports"),
    ("nexus_products", "SELECT id FROM analytics_exports"),
]


@pytest.mark.parametrize(("role", "statement"), REFUSED)
def test_a_role_cannot_reach_what_its_function_does_not_use(
    login: Login, world: dict[str, str], role: str, statement: str
) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        login(role).execute(statement.encode())


@pytest.mark.parametrize(
    "change",
    [
        "status = 'expired', finished_at = now()",
        "status = 'ready', finished_at = now()",  # no row count
        "row_count = -1, status = 'ready', finished_at = now()",
        "status = 'failed'",  # never finished
        "error = 'x'",  # an error on a pending export
        "to_date = from_date - 1",
    ],
)
def test_the_table_refuses_what_an_export_cannot_be(
    conn: Any, world: dict[str, str], change: str
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(f"UPDATE analytics_exports SET {change}".encode())  # noqa: S608 - constants
