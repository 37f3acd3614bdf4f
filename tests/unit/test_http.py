"""The resolver factory maps every failure to problem+json in one place."""

from __future__ import annotations

import json
from typing import Any

from nexus.errors import Conflict, TooManyRequests
from nexus.http import create_app, handle
from tests.support.api import lambda_context


def _app() -> Any:
    app = create_app()

    @app.get("/boom")
    def boom() -> dict[str, str]:
        raise RuntimeError("secret internals /var/task/app.py")

    @app.get("/conflict")
    def conflict() -> dict[str, str]:
        raise Conflict("already there")

    @app.get("/slow-down")
    def slow() -> dict[str, str]:
        raise TooManyRequests("wait", retry_after=7)

    return app


def test_unexpected_exception_is_500_problem_without_internals(make_event: Any) -> None:
    result = handle(_app(), make_event("GET", "/boom"), lambda_context())
    assert result["statusCode"] == 500
    body = json.loads(result["body"])
    assert body == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "An unexpected error occurred.",
    }
    assert "secret internals" not in result["body"]


def test_domain_errors_carry_status_type_and_retry_after(make_event: Any) -> None:
    app = _app()
    conflict = handle(app, make_event("GET", "/conflict"), lambda_context())
    assert conflict["statusCode"] == 409
    assert json.loads(conflict["body"])["type"].endswith("/conflict")
    slow = handle(app, make_event("GET", "/slow-down"), lambda_context())
    assert slow["statusCode"] == 429
    assert slow["headers"]["Retry-After"] == "7"
    assert slow["headers"]["Content-Type"] == "application/problem+json"
