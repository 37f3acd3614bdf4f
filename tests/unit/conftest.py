"""Unit tests run without PostgreSQL: `make unit` must stay fast and need no local stack.

Guards that make this a rule rather than a habit:
- the ``database_url`` fixture (and so ``api``, and the root ``env`` fixture's database
  branch) fails here instead of starting the embedded server;
- any attempt to open a psycopg connection fails, so a service called without a fake
  repository is caught at once instead of reaching for a database;
- under ``make unit`` (``UNIT_NO_PROCESSES=1``) a test that spawns a process (checkov, the
  SAM translator, a fresh interpreter) is skipped where it would spawn it: those drive
  external tools, take most of the suite's time, and run in ``make test``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
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


@pytest.fixture(autouse=True, scope="session")
def _no_processes_in_the_inner_loop() -> Iterator[None]:
    """Session-scoped so that module fixtures that spawn a tool are covered too."""
    if os.environ.get("UNIT_NO_PROCESSES") != "1":
        yield
        return

    def skip(*args: Any, **_kwargs: Any) -> NoReturn:
        command = args[0] if args else "?"
        program = os.path.basename(str(command[0] if isinstance(command, list) else command))
        pytest.skip(f"spawns {program}: runs in make test, not in make unit")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess, "Popen", skip)
        yield
