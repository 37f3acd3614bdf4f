"""The unit suite cannot reach PostgreSQL, even by mistake (see tests/unit/conftest.py)."""

from __future__ import annotations

import os

import pytest

from nexus.errors import ServiceUnavailable
from nexus.products import service
from nexus.settings import get_settings
from tests.support.fakes import new_id, seller
from tests.unit.conftest import DatabaseUsedInUnitTest


def test_the_unit_environment_names_no_database() -> None:
    assert "DATABASE_URL" not in os.environ
    # So a service called with its default (PostgreSQL) repository cannot connect
    with pytest.raises(ServiceUnavailable, match="not configured"):
        service.get(seller(), new_id())


def test_a_forgotten_fake_is_caught_even_with_a_database_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a DATABASE_URL leaked into the environment
    monkeypatch.setenv("DATABASE_URL", "postgresql://nexus@127.0.0.1:1/nexus")
    get_settings.cache_clear()
    # When a service runs on its default repository, Then the guard stops the connection
    with pytest.raises(DatabaseUsedInUnitTest):
        service.get(seller(), new_id())
