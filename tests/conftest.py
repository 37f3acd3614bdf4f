"""Test session: a real PostgreSQL (embedded, or DATABASE_URL), migrated once, emptied after
every test; API calls go through the template's routes and authorizer in-process.

Database logins: ``DATABASE_URL`` is the owner's (migrations, Given/Then steps through
``conn``). A function invoked through the runtime logs in as its template ``DB_USER`` role
on that server; code a test calls directly (a repository, a service, a handler) logs in as
the role of the test's ``db_role`` marker (``pytestmark = pytest.mark.db_role("nexus_products")``
for a module), or of :data:`MODULE_ROLES`, or as the owner when neither names one. The
``as_role`` fixture switches mid-test. So a grant the code needs and 0002_roles.sql lacks
fails here, not on AWS.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from nexus import db
from nexus.settings import get_settings
from nexus_local import postgres
from nexus_local.apigw import Gateway, HttpRequest, build_event
from nexus_local.fake_stripe import FakeStripe
from nexus_local.runtime import Runtime
from nexus_local.template import parse
from tests.support.api import TEST_SECRETS, Api

# Modules that exercise one domain by calling its code directly, and the role it runs as on
# AWS (new modules use the db_role marker instead).
MODULE_ROLES = {
    "tests.integration.test_fanout": "nexus_fanout",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "db_role(role): code the test calls directly logs in as this PostgreSQL role"
    )


def _db_role(request: pytest.FixtureRequest) -> str | None:
    marker = request.node.get_closest_marker("db_role")
    if marker is not None:
        return str(marker.args[0])
    return MODULE_ROLES.get(request.node.module.__name__)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated database of its own on the embedded server or on $DATABASE_URL's."""
    with postgres.scratch_database(f"nexus_test_{os.getpid()}") as url:
        yield url
        db.close()


@pytest.fixture(scope="session")
def _tables(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'schema_migrations'"
        ).fetchall()
    return [r[0] for r in rows]


@pytest.fixture(autouse=True)
def env(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Environment every handler sees. Database-backed tests also get an empty database."""
    values = {**TEST_SECRETS, "BCRYPT_ROUNDS": "4", "POWERTOOLS_DEV": "false"}
    needs_db = "database_url" in request.fixturenames or "api" in request.fixturenames
    if needs_db:
        values["DATABASE_URL"] = request.getfixturevalue("database_url")
        # Checkout calls Stripe: the sandbox, started once (the stripe fixture resets it).
        values["STRIPE_API_BASE_URL"] = request.getfixturevalue("_stripe_sandbox").base_url
    else:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    role = _db_role(request)
    if role is not None:
        values["DB_USER"] = role
    else:
        monkeypatch.delenv("DB_USER", raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    tables = request.getfixturevalue("_tables") if needs_db else []
    yield values
    db.close()
    get_settings.cache_clear()
    if needs_db:
        with psycopg.connect(values["DATABASE_URL"], autocommit=True) as conn:
            conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@pytest.fixture(scope="session")
def _stripe_sandbox() -> Iterator[FakeStripe]:
    """Stripe for the in-process tests: events are recorded, not sent (there is no HTTP
    endpoint to send them to); a test posts them to the API itself (tests.support.payments)."""
    fake = FakeStripe(
        TEST_SECRETS["STRIPE_SECRET_KEY"],
        TEST_SECRETS["STRIPE_WEBHOOK_SECRET"],
        auto_deliver=False,
        sweep_interval=None,
    )
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def stripe(_stripe_sandbox: FakeStripe, env: dict[str, str]) -> FakeStripe:
    """The sandbox Stripe, emptied for this test."""
    _stripe_sandbox.reset()
    return _stripe_sandbox


@pytest.fixture
def as_role(
    database_url: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Callable[[str | None], None]:
    """``as_role("nexus_products")``: from here on, code this test calls directly logs in as
    that role (``None``: as the owner again)."""

    def switch(role: str | None) -> None:
        if role is None:
            monkeypatch.delenv("DB_USER", raising=False)
        else:
            monkeypatch.setenv("DB_USER", role)
        get_settings.cache_clear()  # nexus.db reconnects when the settings change
        db.close()

    return switch


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A separate connection for Given/Then steps that look at the database directly."""
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture(scope="session")
def runtime() -> Iterator[Runtime]:
    rt = Runtime(parse(), concurrency=2)
    yield rt
    rt.shutdown()


@pytest.fixture
def api(database_url: str, runtime: Runtime) -> Api:
    return Api(Gateway(runtime.app, runtime))


@pytest.fixture
def make_event() -> Any:
    """Payload 2.0 events for calling a handler directly."""

    def _make(
        method: str,
        path: str,
        *,
        body: str | None = None,
        headers: dict[str, str] | None = None,
        authorizer: dict[str, Any] | None = None,
        route_key: str | None = None,
    ) -> dict[str, Any]:
        req = HttpRequest(
            method=method,
            path=path,
            headers=headers or {"content-type": "application/json"},
            body=(body or "").encode(),
        )
        return build_event(req, route_key or f"{method} {path}", None, authorizer)

    return _make
