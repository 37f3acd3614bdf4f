"""Storage trouble is a 503 problem with Retry-After, never a hang or a traceback: an
unreachable server, a table locked too long (the role's lock_timeout), a statement cancelled
(statement_timeout); a dropped connection is replaced transparently."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from functions.auth import app as auth_app
from nexus import db
from nexus.errors import ServiceUnavailable
from nexus.settings import get_settings, load_settings
from tests.support.api import Api, assert_problem, lambda_context

LOGIN = json.dumps({"email": "a@example.com", "password": "correct horse battery"})


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a black-holed database)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def login_event(make_event: Any) -> dict[str, Any]:
    return dict(make_event("POST", "/auth/login", body=LOGIN, route_key="POST /auth/login"))


@pytest.mark.parametrize("kind", ["refused", "black hole"])
def test_unreachable_database_is_503_with_retry_after(
    monkeypatch: pytest.MonkeyPatch, make_event: Any, silent_server: int, kind: str
) -> None:
    port = _closed_port() if kind == "refused" else silent_server
    monkeypatch.setenv("DATABASE_URL", f"postgresql://nexus@127.0.0.1:{port}/nexus")
    monkeypatch.setenv("DB_CONNECT_TIMEOUT", "1")
    get_settings.cache_clear()
    result = auth_app.lambda_handler(login_event(make_event), lambda_context())
    assert result["statusCode"] == 503
    assert result["headers"]["Content-Type"] == "application/problem+json"
    assert int(result["headers"]["Retry-After"]) >= 1
    assert "Traceback" not in result["body"]


def test_connection_killed_between_requests_is_replaced(
    database_url: str, conn: Any, make_event: Any
) -> None:
    # Given a warm execution environment with an open connection
    first = auth_app.lambda_handler(login_event(make_event), lambda_context())
    assert first["statusCode"] == 401
    # When the database side drops it (RDS Proxy idle timeout, failover)
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'nexus' AND pid <> pg_backend_pid()"
    )
    # Then the next request still succeeds on a new connection
    second = auth_app.lambda_handler(login_event(make_event), lambda_context())
    assert second["statusCode"] == 401


def test_connect_timeout_is_at_most_3_seconds() -> None:
    assert load_settings({}).db_connect_timeout == 3
    with pytest.raises(ValidationError):
        load_settings({"DB_CONNECT_TIMEOUT": "4"})


def test_a_locked_table_is_a_503_with_retry_after_within_5_seconds(
    api: Api, database_url: str, as_role: Any
) -> None:
    """Given a product, and its table locked by another session (a migration, a long
    transaction), when the seller reads the product, then the answer is a 503 with
    Retry-After once the products role's lock_timeout (2 s) is over, not a hang."""
    token = api.seller("locked@example.com")
    product = api.product(token)
    as_role("nexus_products")  # the role ProductsFunction logs in as
    with psycopg.connect(database_url) as holder:
        # Should the request not time out, the lock still goes away after 15 s.
        holder.execute("SET idle_in_transaction_session_timeout = '15s'")
        holder.execute("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        reply = api.get(f"/products/{product['id']}", token=token)
        elapsed = time.monotonic() - started
        holder.rollback()
    assert_problem(reply, 503)
    assert int(reply.header("retry-after") or 0) >= 1
    assert elapsed < 5, f"answered after {elapsed:.1f} s"
    print(f"locked table -> 503 in {elapsed:.2f} s")
    # And once the lock is gone, the same request succeeds on the same environment.
    assert api.get(f"/products/{product['id']}", token=token).status == 200


def test_a_cancelled_statement_is_a_503_logged_without_its_sql(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    def slow(conn: db.Conn) -> None:
        # Test-only: stands for a role's statement_timeout (never a SET in the app).
        conn.execute("SET LOCAL statement_timeout = '50ms'")
        conn.execute("SELECT pg_sleep(2), %s", ("a-secret-parameter",))

    with caplog.at_level(logging.WARNING), pytest.raises(ServiceUnavailable) as caught:
        db.run(slow)
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    logged = "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert "database timed out" in logged
    assert "QueryCanceled" in logged
    assert "a-secret-parameter" not in logged and "pg_sleep" not in logged
