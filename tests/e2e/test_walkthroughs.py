"""The README's walk-throughs (tools/walkthroughs, `make walkthrough`) run against the local
stack as a user runs them: found through its state file, twice in a row, next to the demo
seller (whose expired page dead-letters too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import TEST_SECRETS
from tests.support.stack import Stack, free_port, run_module, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    s = start_stack(
        tmp_path, free_port(), {"DATABASE_URL": database_url, **TEST_SECRETS}, ["--seed-demo"]
    )
    yield s
    assert s.stop() == 0


def _walkthrough(stack: Stack, name: str) -> str:
    env = {
        k: v
        for k, v in stack.env.items()
        if k not in ("PORT", "LAMBDA_PORT", "SQS_PORT", "GRAPH_SANDBOX_PORT", "STRIPE_SANDBOX_PORT")
    }
    done = run_module(
        "walkthroughs",
        name,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return done.stdout


def test_the_commerce_walkthrough_runs_and_runs_again(stack: Stack) -> None:
    first = _walkthrough(stack, "commerce")
    assert "1. register the seller: POST /auth/register -> 201" in first
    assert "send the bytes to upload_url: PUT -> 200" in first
    assert "the buyer presses Pay: POST http://127.0.0.1:" in first and "/pay -> 303" in first
    assert "the buyer downloads the file (download_url): GET -> 200" in first
    assert "done: order" in first and "is paid and its file downloaded" in first
    second = _walkthrough(stack, "commerce")
    assert "POST /auth/register -> 409" in second
    assert "log in: POST /auth/login -> 200" in second
    assert "done: order" in second


def test_the_metrics_walkthrough_runs_and_runs_again(stack: Stack) -> None:
    first = _walkthrough(stack, "metrics")
    assert '"status": "needs_reauth"' in first
    assert "IngestDeadLetterQueue" in first
    assert "redrive by copy" in first
    assert "done: both pages ingested, the dead-lettered job redriven" in first
    second = _walkthrough(stack, "metrics")
    assert "give page 3030 its first-run token again" in second
    assert "done: both pages ingested" in second


def test_the_account_walkthrough_reads_its_emails_from_the_local_listing(stack: Stack) -> None:
    out = _walkthrough(stack, "account")
    assert "verify the address: POST /auth/verify-email -> 200" in out
    assert "reset it from the e-mailed link: POST /auth/password/reset -> 204" in out
    assert "log out: POST /auth/logout -> 204" in out
    assert "done:" in _walkthrough(stack, "account")  # a second run: a new address


def test_the_connect_walkthrough_runs_and_runs_again(stack: Stack) -> None:
    first = _walkthrough(stack, "connect")
    assert "press 'Continue as Dana Demo': POST -> 303" in first
    assert "hand code and state to the API: POST /integrations/connect/callback -> 200" in first
    assert "connect instagram 17841400000001010 from the connection: POST /integrations -> 201" in (
        first
    )
    assert "instagram: last run ok" in first and "facebook: last run ok" in first
    assert "15 rows, provider instagram" in first
    assert "profile_visits None, follows None" in first
    assert "instagram: 90 days" in first
    assert "read_insights unticked" in first
    assert "'loc': ['scope', 'read_insights'], 'msg': 'was declined'" in first
    assert "'loc': ['body', 'state']" in first
    assert "POST /webhooks/meta/deauthorize -> 200" in first
    assert "{'facebook': 'needs_reauth', 'instagram': 'needs_reauth'}" in first
    assert "connect facebook 1010 from the connection: POST /integrations -> 200" in first
    assert "POST /webhooks/meta/data-deletion -> 200" in first
    assert "complete, completed at" in first and "2 of 2 gone" in first
    assert "done: connected, ingested, deauthorized, reconnected, erased" in first
    # A second run: a new seller, and 5050's integrations of the first were erased.
    second = _walkthrough(stack, "connect")
    assert "POST /integrations -> 201" in second
    assert "{'integrations': 2}" in second
    assert "done: connected" in second
