"""The OpenAPI document against the running local stack: schemathesis with every check, every
operation, authenticated, must find nothing (contract §6)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import ROOT, TEST_SECRETS
from tests.support.stack import Stack, free_port, start_stack

pytestmark = pytest.mark.e2e

# Left out, with the rule it conflicts with: schemathesis expects 405 for a method the document
# does not list; API Gateway (and so the contract, §6) answers 404 {"message": "Not Found"}.
EXCLUDED_CHECKS = "unsupported_method"
MAX_EXAMPLES = 40
SEED = 20261201  # fixed: the run is the same in CI and here; change it to explore further


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    s = start_stack(tmp_path, free_port(), {"DATABASE_URL": database_url, **TEST_SECRETS})
    yield s
    assert s.stop() == 0


def test_schemathesis_finds_nothing(stack: Stack) -> None:
    # A seller with a product, so the authenticated operations reach real data too.
    body = {"email": "schema@example.com", "password": "a long passphrase"}
    status, _, registered = stack.call("POST", "/auth/register", body)
    assert status == 201, registered
    token = registered["access_token"]
    assert stack.call("POST", "/products", {"name": "Ebook", "price": 100}, token=token)[0] == 201
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{stack.base}/openapi.json",
        "--url",
        stack.base,
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED_CHECKS,
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "2",
        "--no-color",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'layers/shared'}",
        "SCHEMATHESIS_HOOKS": "tests.e2e.schema_hooks",
    }
    run = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    summary = run.stdout[run.stdout.rfind("SUMMARY") :] if "SUMMARY" in run.stdout else run.stdout
    print(f"\nschemathesis (seed {SEED}, {MAX_EXAMPLES} examples per operation):\n{summary}")
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
