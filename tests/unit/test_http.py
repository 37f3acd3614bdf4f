"""The resolver factory maps every failure to problem+json in one place."""

from __future__ import annotations

import hmac
import json
from typing import Any

import pytest

from nexus import http
from nexus.errors import Conflict, TooManyRequests
from nexus.http import create_app, handle
from nexus.settings import get_settings
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


def test_the_origin_secret_is_compared_in_constant_time_with_every_accepted_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the AWS secret's shape during a rotation
    monkeypatch.setenv("ORIGIN_VERIFY_SECRET", json.dumps({"current": "new", "previous": "old"}))
    get_settings.cache_clear()
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    # When the previous value is presented, it matches, and the current one was compared too
    # (no early exit that would tell which value matched)
    assert http.from_distribution({"x-origin-verify": "old"})
    assert compared == [(b"old", b"new"), (b"old", b"old")]
    compared.clear()
    assert not http.from_distribution({"x-origin-verify": "olde"})
    assert not http.from_distribution({})
    assert not http.from_distribution({"x-origin-verify": "ol\ud800d"})  # not UTF-8: no match
    assert compared[:4] == [(b"olde", b"new"), (b"olde", b"old"), (b"", b"new"), (b"", b"old")]


@pytest.mark.parametrize(
    ("raw", "accepted"),
    [
        ("plain-value", ("plain-value",)),
        ('{"current": "a", "previous": ""}', ("a",)),
        ('{"previous": "b", "current": "a"}', ("a", "b")),
        ('{"current": 7}', ()),  # not a string: nothing is accepted
        ("{not json", ("{not json",)),  # a plain value that happens to start with a brace
        ("", ()),
    ],
)
def test_the_origin_secret_is_a_value_or_current_and_previous(
    raw: str, accepted: tuple[str, ...]
) -> None:
    assert http._accepted_values(raw) == accepted
