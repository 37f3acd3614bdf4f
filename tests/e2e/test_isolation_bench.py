"""`make bench ARGS=isolation` starts the local stack in both isolation modes and prints p50
and p95 for 1 and 32 clients side by side, with the ratio after/before."""

from __future__ import annotations

import os

import pytest

from bench import isolation

pytestmark = pytest.mark.e2e


def test_the_isolation_bench_prints_both_modes_side_by_side(
    capsys: pytest.CaptureFixture[str],
) -> None:
    saved = os.environ.get("DATABASE_URL")
    assert isolation.run(seconds=0.2) == 0
    assert os.environ.get("DATABASE_URL") == saved
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if "(before)" in line or "(after)" in line]
    assert [(r[0], r[1]) for r in rows] == [
        ("1", "thread"),
        ("1", "process"),
        ("32", "thread"),
        ("32", "process"),
    ]
    assert all(int(r[3]) > 0 for r in rows)  # requests answered in each case
    assert "start-up" in out
