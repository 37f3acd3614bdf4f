"""Storage trouble is a 503 problem with Retry-After, never a hang or a traceback; a dropped
connection is replaced transparently."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from functions.auth import app as auth_app
from nexus.settings import get_settings
from tests.support.api import lambda_context

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
