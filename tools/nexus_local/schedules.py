"""EventBridge Scheduler expressions, evaluated for the local stack: ``rate(...)``,
``cron(...)`` and one-time ``at(...)``, all in UTC.

``cron`` has six fields, ``minutes hours day-of-month month day-of-week year``, and is not
Unix cron; the differences are mapped explicitly onto cronsim (a maintained cron library)
rather than parsed by hand:

- exactly one of day-of-month and day-of-week is ``?`` (EventBridge refuses both or
  neither); ``?`` becomes ``*`` for cronsim, whose AND rule for a ``*`` field then makes the
  other field decide alone, as EventBridge does;
- day-of-week numbers are 1-7 = SUN-SAT (cronsim: 0-6), so every number is shifted down by
  one, in lists, ranges, ``nL`` (the last such weekday of the month) and ``n#k`` (the k-th);
  names SUN-SAT are passed as they are; ``L`` alone is the last day of the week, Saturday;
- day-of-month ``L`` (last day) and ``LW`` (last weekday) are cronsim's own; ``nW`` (the
  weekday nearest to day n, never leaving the month) is not in cronsim and is applied here
  as a filter on cronsim's days;
- the year field (1970-2199, ``, - * /``) is honoured: times in other years are skipped,
  and a schedule whose years are over never fires again (:func:`next_fire` returns None);
- what EventBridge does not accept is refused with :class:`ScheduleExpressionError`: ``/``
  in day-of-week, ``W`` or ``L`` inside lists, out-of-range values, rates faster than one
  minute, ``rate(1 minutes)`` / ``rate(5 minute)``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from cronsim import CronSim, CronSimError

YEARS = range(1970, 2200)
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_RATE = re.compile(r"rate\(\s*(\d+)\s+([a-z]+)\s*\)")
_AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
_CRON = re.compile(r"cron\((.*)\)")
_RATE_UNITS = {"minute": 1, "hour": 60, "day": 24 * 60}
# A plain field term: *, n, a-b, or one of those with /step (names allowed where noted).
_TERM = r"(?:\*|{v}|{v}-{v})(?:/\d+)?"


class ScheduleExpressionError(ValueError):
    """The expression is not one EventBridge Scheduler accepts (or the local stack cannot
    evaluate); the message says which part and why."""

    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(f"invalid schedule expression {expression!r}: {reason}")
        self.expression = expression
        self.reason = reason


@dataclass(frozen=True)
class _Cron:
    """A cron expression as cronsim reads it, plus what cronsim cannot express."""

    cronsim_expression: str
    years: frozenset[int]
    nearest_weekday: int | None  # nW in day-of-month


def _check_terms(field: str, spec: str, value: str, expression: str) -> None:
    pattern = _TERM.format(v=value)
    for term in spec.split(","):
        if not re.fullmatch(pattern, term):
            raise ScheduleExpressionError(expression, f"{field} field {spec!r} is not valid")


def _years(spec: str, expression: str) -> frozenset[int]:
    _check_terms("year", spec, r"\d{4}", expression)
    years: set[int] = set()
    for term in spec.split(","):
        base, _, step = term.partition("/")
        if base == "*":
            low, high = YEARS.start, YEARS.stop - 1
        elif "-" in base:
            low, high = (int(x) for x in base.split("-"))
        else:
            low = int(base)
            high = YEARS.stop - 1 if step else low
        if low not in YEARS or high not in YEARS or low > high or step == "0":
            raise ScheduleExpressionError(
                expression, f"year field {spec!r}: years are {YEARS.start}-{YEARS.stop - 1}"
            )
        years.update(range(low, high + 1, int(step) if step else 1))
    return frozenset(years)


def _weekday(token: str, expression: str) -> str:
    """One day-of-week value, EventBridge's 1-7 (SUN-SAT) to cronsim's 0-6; names pass."""
    if token in _DAY_NAMES:
        return token
    if token.isdigit() and 1 <= int(token) <= 7:
        return str(int(token) - 1)
    raise ScheduleExpressionError(
        expression, f"day-of-week value {token!r}: use 1-7 (1 = SUN) or SUN-SAT"
    )


def _day_of_week(spec: str, expression: str) -> str:
    if spec == "L":
        return "6"  # the last day of the week: Saturday
    if m := re.fullmatch(r"(\d)L", spec):
        return f"{_weekday(m.group(1), expression)}L"
    if m := re.fullmatch(r"(\w{1,3})#(\d)", spec):
        if not 1 <= int(m.group(2)) <= 5:
            raise ScheduleExpressionError(expression, f"day-of-week {spec!r}: #1 to #5")
        return f"{_weekday(m.group(1), expression)}#{m.group(2)}"
    if "/" in spec or "L" in spec or "#" in spec:
        raise ScheduleExpressionError(
            expression,
            f"day-of-week field {spec!r}: EventBridge allows , - * ? and one nL or n#k",
        )
    terms = []
    for term in spec.split(","):
        if term == "*":
            terms.append(term)
            continue
        ends = term.split("-")
        if len(ends) > 2 or not all(ends):
            raise ScheduleExpressionError(expression, f"day-of-week field {spec!r} is not valid")
        terms.append("-".join(_weekday(end, expression) for end in ends))
    return ",".join(terms)


def _day_of_month(spec: str, expression: str) -> tuple[str, int | None]:
    if spec in ("L", "LW"):
        return spec, None
    if m := re.fullmatch(r"(\d{1,2})W", spec):
        day = int(m.group(1))
        if not 1 <= day <= 31:
            raise ScheduleExpressionError(expression, f"day-of-month {spec!r}: 1W to 31W")
        return "*", day
    if "W" in spec or "L" in spec:
        raise ScheduleExpressionError(
            expression, f"day-of-month field {spec!r}: L, LW and nW stand alone"
        )
    _check_terms("day-of-month", spec, r"\d{1,2}", expression)
    return spec, None


def _parse_cron(body: str, expression: str) -> _Cron:
    fields = body.upper().split()
    if len(fields) != 6:
        raise ScheduleExpressionError(
            expression,
            f"cron takes 6 fields (minutes hours day-of-month month day-of-week year),"
            f" got {len(fields)}",
        )
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleExpressionError(
            expression, "exactly one of day-of-month and day-of-week must be '?'"
        )
    _check_terms("minutes", minute, r"\d{1,2}", expression)
    _check_terms("hours", hour, r"\d{1,2}", expression)
    names = "|".join(_MONTH_NAMES)
    _check_terms("month", month, rf"(?:\d{{1,2}}|{names})", expression)
    nearest = None
    if dom == "?":
        dom, dow = "*", _day_of_week(dow, expression)
    else:
        dom, nearest = _day_of_month(dom, expression)
        dow = "*"
    return _Cron(f"{minute} {hour} {dom} {month} {dow}", _years(year, expression), nearest)


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """The weekday nearest to ``day`` in that month (Quartz's and EventBridge's ``nW``): a
    Saturday moves to Friday, a Sunday to Monday, never into another month."""
    last = calendar.monthrange(year, month)[1]
    target = min(day, last)
    weekday = date(year, month, target).weekday()  # Monday = 0
    if weekday == 5:  # Saturday
        return target - 1 if target > 1 else target + 2
    if weekday == 6:  # Sunday
        return target + 1 if target < last else target - 2
    return target


def _cron_next(cron: _Cron, after: datetime, expression: str) -> datetime | None:
    wanted = cron.nearest_weekday
    start = after.astimezone(UTC)
    for year in sorted(y for y in cron.years if y >= start.year):
        if year > start.year:  # skip to the next year the expression allows
            start = datetime(year, 1, 1, tzinfo=UTC) - timedelta(seconds=1)
        try:
            times = CronSim(cron.cronsim_expression, start)
        except CronSimError as exc:
            raise ScheduleExpressionError(expression, str(exc)) from exc
        for candidate in times:
            if candidate.year > year:
                break
            if wanted is None or candidate.day == _nearest_weekday(
                candidate.year, candidate.month, wanted
            ):
                return candidate
        else:
            return None  # cronsim found no time at all within its 50-year horizon
    return None


def _rate(value: int, unit: str, expression: str) -> timedelta:
    singular = unit.removesuffix("s")
    if singular not in _RATE_UNITS:
        raise ScheduleExpressionError(expression, "rate units are minute(s), hour(s), day(s)")
    if value < 1:
        raise ScheduleExpressionError(expression, "a rate must be at least 1")
    if (value == 1) != (unit == singular):
        raise ScheduleExpressionError(
            expression,
            f"the unit is singular for 1 and plural above: rate(1 {singular}),"
            f" rate({max(value, 2)} {singular}s)",
        )
    return timedelta(minutes=value * _RATE_UNITS[singular])


def validate(expression: str) -> None:
    """Raise :class:`ScheduleExpressionError` unless ``expression`` is valid."""
    next_fire(expression, datetime(2000, 1, 1, tzinfo=UTC))


def next_fire(expression: str, after: datetime) -> datetime | None:
    """The first time strictly after ``after`` (aware, any zone) that ``expression`` fires,
    in UTC; None if it never fires again (an ``at`` in the past, a cron whose years are
    over)."""
    text = expression.strip()
    if m := _RATE.fullmatch(text):
        return after.astimezone(UTC) + _rate(int(m.group(1)), m.group(2), expression)
    if m := _AT.fullmatch(text):
        try:
            when = datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC)
        except ValueError as exc:
            raise ScheduleExpressionError(expression, str(exc)) from exc
        return when if when > after else None
    if m := _CRON.fullmatch(text):
        return _cron_next(_parse_cron(m.group(1), expression), after, expression)
    raise ScheduleExpressionError(
        expression, "expected rate(value unit), cron(six fields) or at(yyyy-mm-ddThh:mm:ss)"
    )
