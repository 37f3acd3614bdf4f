"""Unit tests run without PostgreSQL: `make unit` must stay fast and need no local stack.

Guards that make this a rule rather than a habit:
- the ``database_url`` fixture (and so ``api``, and the root ``env`` fixture's database
  branch) fails here instead of starting the embedded server;
- any attempt to open a psycopg connection fails, so a service called without a fake
  repository is caught at once instead of reaching for a database.

Tests that drive external tools (checkov, the SAM translator, fresh interpreters) live in
tests/toolchain, which ``make test`` runs and ``make unit`` does not.
"""

from __future__ import annotations

from typing import Any, NoReturn

import psycopg
import pytest


class DatabaseUsedInUnitTest(RuntimeError):
    pass


@pytest.fixture(scope="session")
def database_url() -> str:
    pytest.fail("tests/unit runs without PostgreSQL: use a fake repository or tests/integration")


@pytest.fixture(autouse=True)
def _no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise DatabaseUsedInUnitTest(
            "a unit test tried to connect to PostgreSQL: pass repo= a fake from tests.support.fakes"
        )

    monkeypatch.setattr(psycopg, "connect", refuse)
