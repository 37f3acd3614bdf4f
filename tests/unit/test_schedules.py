"""The local stack's schedule evaluator: EventBridge Scheduler's rate/cron/at expressions
mapped onto cronsim (six fields, ``?``, day-of-week 1-7 = SUN-SAT, L, W, #, the year)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest

from nexus_local.schedules import ScheduleExpressionError, next_fire, validate

# Tuesday, 1 December 2026, 20:57 UTC
NOW = datetime(2026, 12, 1, 20, 57, 12, tzinfo=UTC)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type, misc]


def test_the_reference_instant_is_a_tuesday() -> None:
    assert NOW.strftime("%a") == "Tue"


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # daily at 02:30 (the template's default IngestSchedule)
        ("cron(30 2 * * ? *)", NOW, at(2026, 12, 2, 2, 30)),
        ("cron(30 2 * * ? *)", at(2026, 12, 2, 2, 30), at(2026, 12, 3, 2, 30)),  # strictly after
        # weekdays at noon: from Friday evening to Monday
        ("cron(0 12 ? * MON-FRI *)", at(2026, 12, 4, 18, 0), at(2026, 12, 7, 12, 0)),
        # numbers are 1-7 = SUN-SAT, so 2-6 is MON-FRI (Unix cron would read TUE-SAT)
        ("cron(0 12 ? * 2-6 *)", at(2026, 12, 4, 18, 0), at(2026, 12, 7, 12, 0)),
        # 1 is Sunday (Unix cron: Monday)
        ("cron(0 9 ? * 1 *)", NOW, at(2026, 12, 6, 9, 0)),
        ("cron(0 9 ? * 7 *)", NOW, at(2026, 12, 5, 9, 0)),  # 7 is Saturday
        ("cron(0 9 ? * SUN,SAT *)", NOW, at(2026, 12, 5, 9, 0)),
        # the first of every month at 08:00
        ("cron(0 8 1 * ? *)", NOW, at(2027, 1, 1, 8, 0)),
        # the last Friday (6L) of each month in 2027 only
        ("cron(15 10 ? * 6L 2027)", NOW, at(2027, 1, 29, 10, 15)),
        ("cron(15 10 ? * 6L 2027)", at(2027, 1, 29, 10, 15), at(2027, 2, 26, 10, 15)),
        ("cron(15 10 ? * 6L 2027)", at(2027, 12, 31, 10, 15), None),  # 2027 is over
        # the second Tuesday (3#2)
        ("cron(0 18 ? * 3#2 *)", NOW, at(2026, 12, 8, 18, 0)),
        ("cron(0 18 ? * TUE#2 *)", NOW, at(2026, 12, 8, 18, 0)),
        # L alone in day-of-week: the last day of the week, Saturday
        ("cron(0 0 ? * L *)", NOW, at(2026, 12, 5, 0, 0)),
        # last day, last weekday of the month
        ("cron(0 0 L * ? *)", NOW, at(2026, 12, 31, 0, 0)),
        ("cron(0 0 L 2 ? *)", NOW, at(2027, 2, 28, 0, 0)),
        ("cron(0 0 LW * ? *)", at(2027, 1, 1), at(2027, 1, 29, 0, 0)),  # 31 Jan 2027: Sunday
        # nW: the weekday nearest day n, within the month
        ("cron(0 8 15W * ? *)", at(2026, 8, 1), at(2026, 8, 14, 8, 0)),  # 15 Aug: Saturday
        ("cron(0 8 15W * ? *)", at(2026, 11, 1), at(2026, 11, 16, 8, 0)),  # 15 Nov: Sunday
        ("cron(0 8 15W * ? *)", NOW, at(2026, 12, 15, 8, 0)),  # a Tuesday: itself
        ("cron(0 8 1W * ? *)", at(2026, 7, 31), at(2026, 8, 3, 8, 0)),  # 1 Aug: Sat -> Mon 3
        ("cron(0 8 31W * ? *)", at(2026, 5, 1), at(2026, 5, 29, 8, 0)),  # 31 May: Sun -> Fri 29
        # steps, lists, months by name
        ("cron(0/15 * * * ? *)", NOW, at(2026, 12, 1, 21, 0)),
        ("cron(5,35 * * * ? *)", NOW, at(2026, 12, 1, 21, 5)),
        ("cron(0 6 1 JAN,JUL ? *)", NOW, at(2027, 1, 1, 6, 0)),
        # the year field: honoured, skipping to the next allowed year
        ("cron(0 0 1 1 ? 2027,2029)", at(2027, 1, 1, 0, 0), at(2029, 1, 1, 0, 0)),
        ("cron(0 0 1 6 ? 2030-2031)", NOW, at(2030, 6, 1, 0, 0)),
        ("cron(0 0 1 1 ? 2027/2)", at(2027, 6, 1), at(2029, 1, 1, 0, 0)),
        ("cron(0 0 29 2 ? 2027)", NOW, None),  # no 29 February in 2027
        ("cron(0 0 1 1 ? 2020)", NOW, None),
        # rate and at
        ("rate(5 minutes)", NOW, at(2026, 12, 1, 21, 2, 12)),
        ("rate(1 hour)", NOW, at(2026, 12, 1, 21, 57, 12)),
        ("rate(2 days)", NOW, at(2026, 12, 3, 20, 57, 12)),
        ("at(2027-01-01T00:00:00)", NOW, at(2027, 1, 1)),
        ("at(2026-01-01T00:00:00)", NOW, None),
    ],
)
def test_next_fire(expression: str, after: datetime, expected: datetime | None) -> None:
    assert next_fire(expression, after) == expected


def test_weekday_names_and_numbers_agree_on_every_day() -> None:
    names = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
    for number, name in enumerate(names, start=1):
        by_number = next_fire(f"cron(0 12 ? * {number} *)", NOW)
        by_name = next_fire(f"cron(0 12 ? * {name} *)", NOW)
        assert by_number == by_name
        assert by_number is not None
        assert by_number.strftime("%a").upper() == name


def test_a_daily_cron_fires_every_day_of_a_year() -> None:
    t: datetime | None = NOW
    days = []
    for _ in range(365):
        assert t is not None
        t = next_fire("cron(30 2 * * ? *)", t)
        assert t is not None
        days.append(t.date())
    assert days[0] == date(2026, 12, 2)
    assert len(set(days)) == 365
    assert all((b - a).days == 1 for a, b in itertools.pairwise(days))


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("cron(30 2 * * *)", "6 fields"),  # Unix cron's five fields
        ("cron(0 0 * * * *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 0 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 0 1 * MON *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(60 0 * * ? *)", "minute"),
        ("cron(0 24 * * ? *)", "hour"),
        ("cron(0 0 32 * ? *)", "day-of-month"),
        ("cron(0 0 30 2 ? *)", "day-of-month"),
        ("cron(0 0 1 13 ? *)", "month"),
        ("cron(0 0 ? * 0 *)", "day-of-week value '0'"),
        ("cron(0 0 ? * 8 *)", "day-of-week value '8'"),
        ("cron(0 0 ? * 8L *)", "day-of-week value '8'"),
        ("cron(0 0 ? * 2#6 *)", "#1 to #5"),
        ("cron(0 0 ? * MON/2 *)", "day-of-week"),
        ("cron(0 0 15W,20 * ? *)", "stand alone"),
        ("cron(0 0 L-2 * ? *)", "stand alone"),
        ("cron(0 0 32W * ? *)", "1W to 31W"),
        ("cron(0 0 * * ? 1969)", "1970-2199"),
        ("cron(0 0 * * ? 2200)", "1970-2199"),
        ("cron(0 0 * * ? 2030-2027)", "1970-2199"),
        ("cron(0 0 * * ? 27)", "year"),
        ("cron(a b * * ? *)", "minutes"),
        ("rate(1 minutes)", "singular"),
        ("rate(5 minute)", "plural"),
        ("rate(0 minutes)", "at least 1"),
        ("rate(2 weeks)", "minute(s), hour(s), day(s)"),
        ("rate(five minutes)", "expected rate"),
        ("at(2027-02-30T00:00:00)", "day"),
        ("0 2 * * *", "expected rate"),
        ("", "expected rate"),
    ],
)
def test_invalid_expressions_are_refused_with_a_reason(expression: str, reason: str) -> None:
    with pytest.raises(ScheduleExpressionError) as caught:
        validate(expression)
    message = str(caught.value)
    assert repr(expression) in message
    assert reason in message
