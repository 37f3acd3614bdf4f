"""The one JSON loader for request bodies: what JSON cannot hold sensibly is refused before
any model sees it (contract §6).

- not JSON, ``NaN`` / ``Infinity``, nesting deeper than :data:`MAX_DEPTH`, a key twice in
  one object → :class:`~nexus.errors.BadRequest` (400);
- an integer beyond 64 bits, a number that overflows a double, a lone UTF-16 surrogate
  (``"\\ud800"``) → :class:`~nexus.errors.ValidationFailed` (422) with the value's ``loc``.

The standard library parser does the parsing (hooks catch duplicates, constants and big
numbers as they are read; the C scanner's recursion guard stops 100000 ``[``); one
iterative walk then checks depth, numbers and strings, so no input can recurse in Python.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from nexus.errors import BadRequest, ValidationFailed

MAX_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Refused(Exception):
    def __init__(self, detail: str) -> None:
        self.detail = detail


class _OutOfRange:
    """A number read but not converted: too many digits for 64 bits, or an overflowing
    double. The walk reports it with its location."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"The request body has the key {key!r} twice in one object.")
            seen.add(key)
    return result


def _constant(name: str) -> Any:
    raise _Refused(f"The request body is not valid JSON ({name} is not a JSON number).")


def _int(text: str) -> int | _OutOfRange:
    # 20 characters hold every 64-bit integer with its sign; longer ones are never converted
    # (Python refuses to convert beyond 4300 digits anyway).
    if len(text) > 20:
        return _OutOfRange(text)
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else _OutOfRange(text)


def _float(text: str) -> float | _OutOfRange:
    value = float(text)
    return value if math.isfinite(value) else _OutOfRange(text)


def _problem(loc: list[str | int], msg: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg}


def _scalar_problem(value: Any, loc: list[str | int]) -> dict[str, Any] | None:
    if isinstance(value, _OutOfRange):
        return _problem(
            loc, "is a number out of range (integers of at most 64 bits, finite decimals)"
        )
    if isinstance(value, str) and _SURROGATE.search(value):
        return _problem(loc, "contains a lone surrogate (not valid Unicode)")
    return None


def _walk(document: Any) -> list[dict[str, Any]]:
    """Problems found, depth-first without recursion; raises _Refused when too deep."""
    problems: list[dict[str, Any]] = []
    stack: list[tuple[Any, list[str | int], int]] = [(document, [], 0)]
    while stack:
        value, loc, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise _Refused(f"The request body nests deeper than {MAX_DEPTH} levels.")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and _SURROGATE.search(key):
                    problems.append(_problem(loc, "has a key with a lone surrogate"))
                stack.append((item, [*loc, key], depth + 1))
            continue
        problem = _scalar_problem(value, loc)
        if problem is not None:
            problems.append(problem)
    return problems


def loads(text: str) -> Any:
    """The document in ``text``, or the 400 / 422 :class:`NexusError` it deserves."""
    try:
        document = json.loads(
            text,
            object_pairs_hook=_object,
            parse_constant=_constant,
            parse_int=_int,
            parse_float=_float,
        )
        problems = _walk(document)
    except _Refused as refused:
        raise BadRequest(refused.detail) from None
    except RecursionError:
        raise BadRequest(f"The request body nests deeper than {MAX_DEPTH} levels.") from None
    except ValueError:
        raise BadRequest("The request body is not valid JSON.") from None
    if problems:
        raise ValidationFailed("The request is not valid.", errors=problems)
    return document


def loads_object(text: str) -> dict[str, Any]:
    """:func:`loads` for a request body, which in this API is always a JSON object (the
    resolver would otherwise take a list body's first item for a model: ``[{...}]``)."""
    document = loads(text)
    if not isinstance(document, dict):
        raise ValidationFailed(
            "The request is not valid.",
            errors=[{"loc": ["body"], "msg": "must be a JSON object"}],
        )
    return document
