"""A time budget for work that must finish before its Lambda invocation is killed.

A :class:`Deadline` is a point on a monotonic clock. Outbound calls ask it for their timeout
(``timeout(cap)``: the configured timeout, or less when less time is left), retry loops ask
it whether a pause still fits (``allows(seconds)``), and work that finds no time left raises
:class:`OutOfTime`, a transient outcome: the job gives its message back for a retry instead
of being killed mid-way (contract §6).

The clock is injectable so tests can move time without sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

Clock = Callable[[], float]


class RemainingTime(Protocol):
    """What a deadline needs of a Lambda context."""

    def get_remaining_time_in_millis(self) -> int: ...


class OutOfTime(Exception):
    """The deadline passed, or would pass, before the work was done. Transient: the same
    work is expected to succeed on a later attempt with a fresh budget."""

    error_class = "transient"
    error_code = "deadline"


@dataclass(frozen=True)
class Deadline:
    at: float  # clock reading at which the time is up (math.inf: never)
    clock: Clock = field(default=time.monotonic, compare=False, repr=False)

    @classmethod
    def after(cls, seconds: float, *, clock: Clock = time.monotonic) -> Deadline:
        return cls(clock() + max(0.0, seconds), clock)

    @classmethod
    def never(cls) -> Deadline:
        return cls(math.inf)

    @classmethod
    def from_context(
        cls, context: RemainingTime, *, margin: float, clock: Clock = time.monotonic
    ) -> Deadline:
        """The invocation's remaining time less ``margin`` (kept back for recording the
        outcome and giving messages back after the work stops)."""
        return cls.after(context.get_remaining_time_in_millis() / 1000 - margin, clock=clock)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - self.clock())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def allows(self, seconds: float) -> bool:
        """Whether ``seconds`` more still end before the deadline."""
        return self.remaining() > seconds

    def timeout(self, cap: float) -> float:
        """The timeout for the next call: ``cap``, or the time left when that is less.
        Raises OutOfTime when no time is left (a zero timeout would not be a timeout)."""
        left = self.remaining()
        if left <= 0:
            raise OutOfTime("no time left before the deadline")
        return min(cap, left)
