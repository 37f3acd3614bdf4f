"""SnapStart's runtime hooks (nexus.snapstart), run as Lambda's runtime runs them: what a
snapshot holds (a database connection, boto3 clients and credentials, the Secrets Manager
provider, the Stripe session, ``random``'s state) is closed, renewed or re-seeded, so no two
environments restored from one snapshot share a socket, a session or a random sequence.

``snapshot_restore_py`` (the PyPI package of the module Lambda's runtime ships) is a dev
dependency; the runtime's registry is its module-level list of (function, args, kwargs)."""

from __future__ import annotations

import ast
import importlib
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import snapshot_restore_py

import nexus.observability  # registers the hooks, as in every function
from nexus import aws, db, secrets, snapstart
from nexus.payments import stripe
from nexus.settings import get_settings
from nexus_local.template import parse

LAYER = Path(snapstart.__file__).parent


def run_before_snapshot() -> None:
    """As Lambda's runtime does before it takes the snapshot: the last registered first."""
    for func, args, kwargs in reversed(list(snapshot_restore_py.get_before_snapshot())):
        func(*args, **kwargs)


def run_after_restore() -> None:
    """As Lambda's runtime does after a restore: in the order of registration."""
    for func, args, kwargs in list(snapshot_restore_py.get_after_restore()):
        func(*args, **kwargs)


class FakeConnection:
    def __init__(self) -> None:
        self.closed = False
        self.broken = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[FakeConnection]]:
    """A region and credentials for boto3 (making a client sends nothing), and psycopg's
    connect replaced by one that records the connections it makes."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    made: list[FakeConnection] = []

    def connect(_settings: Any = None) -> FakeConnection:
        made.append(FakeConnection())
        return made[-1]

    monkeypatch.setattr(db, "connect", connect)
    get_settings.cache_clear()
    aws.cache_clear()
    assert snapstart.register()
    yield made
    db.close()
    aws.cache_clear()
    secrets.cache_clear()
    stripe.close_session()


def _registered(registry: list[Any], hook: object) -> int:
    return sum(1 for func, _args, _kwargs in registry if func is hook)


def test_the_hooks_are_registered_once_per_process() -> None:
    assert nexus.observability.logger is not None
    for _ in range(3):
        assert snapstart.register() is True
    assert _registered(snapshot_restore_py.get_before_snapshot(), snapstart.before_snapshot) == 1
    assert _registered(snapshot_restore_py.get_after_restore(), snapstart.after_restore) == 1


def test_every_function_imports_the_module_that_registers_them() -> None:
    """Lambda runs only the hooks of modules the handler's import brought in."""
    for name, function in parse().functions.items():
        tree = ast.parse(function.module_path.read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "nexus.observability" in imported, name
    source = (LAYER / "observability.py").read_text(encoding="utf-8")
    assert "snapstart.register()" in source


def test_a_connection_from_before_the_restore_is_closed_and_a_new_one_made_on_next_use(
    _environment: list[FakeConnection],
) -> None:
    first: Any = db.get_connection()
    assert db.get_connection() is first
    run_after_restore()
    assert first.closed
    second: Any = db.get_connection()
    assert second is not first and not second.closed
    assert _environment == [first, second]


def test_the_snapshot_carries_no_open_connection(_environment: list[FakeConnection]) -> None:
    first = db.get_connection()
    run_before_snapshot()
    assert first.closed
    assert db.get_connection() is not first


def test_boto3_clients_credentials_secrets_and_http_sessions_are_new_after_a_restore() -> None:
    sqs = aws.client("sqs")
    provider = secrets._provider()
    http = stripe._session()
    boto3.setup_default_session()  # what boto3.client() made, credentials and all
    assert boto3.DEFAULT_SESSION is not None
    run_after_restore()
    assert boto3.DEFAULT_SESSION is None
    assert aws.client("sqs") is not sqs
    assert secrets._provider() is not provider  # and with it an empty value cache
    assert stripe._session() is not http


def test_random_differs_between_two_environments_restored_from_one_snapshot() -> None:
    snapshot = random.getstate()
    # What a snapshot would share without the hook: the same sequence in each environment.
    random.setstate(snapshot)
    unhooked = random.getrandbits(128)
    random.setstate(snapshot)
    assert random.getrandbits(128) == unhooked
    restored = []
    for _ in range(2):
        random.setstate(snapshot)
        run_after_restore()
        restored.append(random.getrandbits(128))
    assert restored[0] != restored[1]
    assert unhooked not in restored


def test_a_failing_step_does_not_stop_the_others() -> None:
    """A hook that raises fails the restore: each step's error is logged instead."""
    conn = db.get_connection()
    sqs = aws.client("sqs")

    def broken() -> None:
        raise OSError("socket already gone")

    conn.close = broken  # type: ignore[method-assign]
    snapshot = random.getstate()
    run_after_restore()
    assert db.get_connection() is not conn
    assert aws.client("sqs") is not sqs
    assert random.getstate() != snapshot


def test_the_hooks_import_nothing_the_environment_has_not_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The authorizer loads no psycopg and no boto3: neither does restoring it."""
    for module in ("nexus.db", "nexus.payments.stripe", "nexus.secrets"):
        monkeypatch.delitem(sys.modules, module)
    run_after_restore()
    for module in ("nexus.db", "nexus.payments.stripe", "nexus.secrets"):
        assert module not in sys.modules, module


def test_before_the_snapshot_boto3_is_imported_so_restores_do_not_pay_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    imported: list[str] = []
    monkeypatch.setattr(importlib, "import_module", imported.append)
    run_before_snapshot()
    assert imported == ["boto3"]


def test_without_snapshot_restore_py_registering_is_a_no_op(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = len(snapshot_restore_py.get_before_snapshot())
    after = len(snapshot_restore_py.get_after_restore())
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import raises ImportError
    assert snapstart.register() is False
    assert len(snapshot_restore_py.get_before_snapshot()) == before
    assert len(snapshot_restore_py.get_after_restore()) == after


def test_the_module_costs_a_cold_start_only_light_standard_imports() -> None:
    """Where snapshot_restore_py is absent (locally, make bench) importing nexus.snapstart
    adds only modules every interpreter has loaded already."""
    tree = ast.parse((LAYER / "snapstart.py").read_text(encoding="utf-8"))
    top = {
        alias.name if isinstance(node, ast.Import) else str(node.module)
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert top == {"__future__", "importlib", "sys", "collections.abc"}
