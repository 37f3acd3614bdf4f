"""Test session: a real PostgreSQL (embedded, or DATABASE_URL), migrated once, emptied after
every test; API calls go through the template's routes and authorizer in-process."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from nexus import db
from nexus.settings import get_settings
from nexus_local import postgres
from nexus_local.apigw import Gateway, HttpRequest, HttpResponse, build_event
from nexus_local.runtime import LambdaContext, Runtime
from nexus_local.template import parse

TEST_SECRETS = {
    "JWT_SECRET": "test-jwt-secret-" + "0123456789abcdef" * 4,
    "PASSWORD_PEPPER": "test-pepper-0123456789",
    "PAYMENT_WEBHOOK_SECRET": "test-webhook-secret",
    "TOKEN_ENCRYPTION_KEY": "test-token-encryption-key-0123456789abcdef",
}


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


def lambda_context(name: str = "test") -> Any:
    return LambdaContext(
        function_name=name,
        memory_limit_in_mb=512,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
        aws_request_id="req-test",
        deadline=1e12,
    )


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    def header(self, name: str) -> str | None:
        return {k.lower(): v for k, v in self.headers.items()}.get(name.lower())


class Api:
    """Calls the API as API Gateway would: template routes, the Lambda authorizer, handlers."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> Reply:
        hdrs = {"host": "127.0.0.1:3000", "user-agent": "pytest"}
        if json_body is not None:
            body = json.dumps(json_body)
            hdrs["content-type"] = "application/json"
        if token is not None:
            hdrs["authorization"] = f"Bearer {token}"
        hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
        raw = body.encode() if isinstance(body, str) else (body or b"")
        path, _, query = path.partition("?")
        resp: HttpResponse = self.gateway.handle(
            HttpRequest(method=method, path=path, query=query, headers=hdrs, body=raw)
        )
        return Reply(resp.status, resp.headers, resp.body.decode("utf-8", "replace"))

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Reply:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Reply:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.request("DELETE", path, **kw)

    def seller(self, email: str) -> str:
        """Register a seller and return their access token."""
        reply = self.post(
            "/auth/register", json_body={"email": email, "password": "correct horse battery"}
        )
        assert reply.status == 201, reply.text
        return str(reply.json()["access_token"])

    def product(self, token: str, **fields: Any) -> dict[str, Any]:
        body = {"name": "Ebook", "price": 1999, **fields}
        reply = self.post("/products", json_body=body, token=token)
        assert reply.status == 201, reply.text
        return dict(reply.json())


def assert_problem(reply: Reply, status: int) -> dict[str, Any]:
    assert reply.status == status, reply.text
    assert reply.header("content-type") == "application/problem+json"
    body = reply.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    assert "Traceback" not in reply.text
    return dict(body)


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


ROOT = Path(__file__).resolve().parents[1]
