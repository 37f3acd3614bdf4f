"""Fixtures for the e2e suite: every stack a test starts serves its own sandbox Stripe."""

from __future__ import annotations

import pytest

from tests.support.stack import free_port


@pytest.fixture(autouse=True)
def _stack_stripe(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A stack started by a test serves its own sandbox Stripe on a free port, which sends
    its webhooks to that stack: the session's in-process sandbox (tests/conftest.py puts its
    URL in STRIPE_API_BASE_URL for database tests) records events without sending them, and
    stacks of one test, or of a module and a test, must not meet on port 3004."""
    monkeypatch.delenv("STRIPE_API_BASE_URL", raising=False)
    monkeypatch.setenv("STRIPE_SANDBOX_PORT", str(free_port()))
