"""nexus.deadline: a time budget on a fake clock (no sleeping)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from nexus.deadline import Deadline, OutOfTime


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeContext:
    millis: int

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


def test_remaining_counts_down_and_never_goes_negative() -> None:
    clock = FakeClock()
    deadline = Deadline.after(10, clock=clock)
    assert deadline.remaining() == 10 and not deadline.expired
    clock.advance(7.5)
    assert deadline.remaining() == 2.5
    clock.advance(5)
    assert deadline.remaining() == 0 and deadline.expired


def test_the_timeout_is_the_cap_until_less_time_is_left() -> None:
    clock = FakeClock()
    deadline = Deadline.after(12, clock=clock)
    assert deadline.timeout(10) == 10
    clock.advance(9)
    assert deadline.timeout(10) == 3
    clock.advance(3)
    with pytest.raises(OutOfTime):
        deadline.timeout(10)


def test_allows_says_whether_a_pause_ends_before_the_deadline() -> None:
    clock = FakeClock()
    deadline = Deadline.after(2, clock=clock)
    assert deadline.allows(1.9)
    assert not deadline.allows(2)
    assert not deadline.allows(5)


def test_from_context_keeps_the_margin_back() -> None:
    clock = FakeClock()
    deadline = Deadline.from_context(FakeContext(60_000), margin=5, clock=clock)
    assert deadline.remaining() == 55
    assert Deadline.from_context(FakeContext(3_000), margin=5, clock=clock).expired


def test_never_has_all_the_time_in_the_world() -> None:
    deadline = Deadline.never()
    assert deadline.remaining() == math.inf and deadline.timeout(10) == 10
    assert deadline.allows(1e9) and not deadline.expired


def test_out_of_time_is_transient() -> None:
    assert (OutOfTime.error_class, OutOfTime.error_code) == ("transient", "deadline")
