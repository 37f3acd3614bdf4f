"""Test session: a real PostgreSQL (embedded, or DATABASE_URL), migrated once, emptied after
every test; API calls go through the template's routes and authorizer in-process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from nexus import db
from nexus.settings import get_settings
from nexus_local import postgres
from nexus_local.apigw import Gateway, HttpRequest, build_event
from nexus_local.runtime import Runtime
from nexus_local.template import parse
from tests.support.api import TEST_SECRETS, Api


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
    else:
        monkeypatch.delenv("DATABASE_URL", raising=False)
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
