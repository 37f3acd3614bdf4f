"""Opaque keyset cursors: (created_at, id) of the last item of a page, newest first."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from nexus.errors import NotFound
from nexus.identity import parse_id

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 512


class Cursor:
    """A decoded cursor: the (created_at, id) of the last item of the previous page. A plain
    class, so OpenAPI documents the parameter as the opaque string it is."""

    __slots__ = ("created_at", "id")

    def __init__(self, created_at: datetime, id: str) -> None:
        self.created_at = created_at
        self.id = id


def encode(created_at: datetime, item_id: str) -> str:
    raw = json.dumps({"t": created_at.isoformat(), "i": item_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(value: str) -> Cursor:
    """A cursor this API issued, or a validation error (``is not a cursor this API returned``)."""
    try:
        if len(value) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        padded = value + "=" * (-len(value) % 4)
        data: Any = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in "ti"):
            raise TypeError("not a cursor object")
        created_at = datetime.fromisoformat(data["t"])
        item_id = str(uuid.UUID(data["i"]))
        if created_at.tzinfo is None:
            raise ValueError("naive timestamp")
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError) as exc:
        raise PydanticCustomError("cursor", "is not a cursor this API returned") from exc
    return Cursor(created_at=created_at, id=item_id)


def _cursor(value: Any) -> Cursor:
    if isinstance(value, Cursor):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("cursor", "is not a cursor this API returned")
    return decode(value)


# A query parameter: the opaque string in OpenAPI, a decoded Cursor in the handler.
CursorParam = Annotated[
    Cursor,
    PlainValidator(_cursor),
    WithJsonSchema({"type": "string", "maxLength": MAX_CURSOR_LENGTH}),
]


def require_id(value: str, not_found: str) -> str:
    """A path id as the canonical UUID string; anything that cannot be one of ours is a
    404 with ``not_found`` as its detail (never a 422: ids are opaque)."""
    parsed = parse_id(value)
    if parsed is None:
        raise NotFound(not_found)
    return parsed


class Keyed(Protocol):
    @property
    def created_at(self) -> datetime: ...
    @property
    def id(self) -> str: ...


def split[T: Keyed](items: list[T], limit: int) -> tuple[list[T], str | None]:
    """A page from ``limit + 1`` fetched items, and the cursor for the next one (if any)."""
    page = items[:limit]
    more = len(items) > limit
    return page, (encode(page[-1].created_at, page[-1].id) if more else None)


def page[T: Keyed, P: BaseModel](model: type[P], rows: list[T], limit: int) -> P:
    """``model`` (a page response: items, next_cursor) from ``limit + 1`` fetched rows."""
    items, next_cursor = split(rows, limit)
    return model.model_validate({"items": items, "next_cursor": next_cursor})
