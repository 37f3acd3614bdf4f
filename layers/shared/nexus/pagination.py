"""Opaque keyset cursors: (created_at, id) of the last item of a page, newest first."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

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


def encode_key(key: BaseModel) -> str:
    """An opaque cursor holding ``key`` (a page's last sort key, for keysets other than
    ``(created_at, id)``)."""
    return base64.urlsafe_b64encode(key.model_dump_json().encode()).decode().rstrip("=")


def decode_key[K: BaseModel](model: type[K], value: Any) -> K:
    """The key in a cursor :func:`encode_key` issued, validated field by field (strict types:
    a cursor of another shape is no cursor of ours), or a validation error."""
    if isinstance(value, model):
        return value
    try:
        if not isinstance(value, str) or len(value) > MAX_CURSOR_LENGTH:
            raise ValueError("not a cursor string")
        raw = base64.urlsafe_b64decode((value + "=" * (-len(value) % 4)).encode("ascii"))
        return model.model_validate_json(raw, strict=True)
    except (ValueError, binascii.Error, UnicodeError) as exc:  # ValidationError is a ValueError
        raise PydanticCustomError("cursor", "is not a cursor this API returned") from exc


@dataclass(frozen=True, slots=True)
class key_cursor:
    """A cursor parameter holding a ``model`` key: the opaque string in OpenAPI, the decoded
    key in the handler."""

    model: type[BaseModel]

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            lambda value: decode_key(self.model, value)
        )

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: Any) -> dict[str, Any]:
        return {"type": "string", "maxLength": MAX_CURSOR_LENGTH}


class PageQuery(BaseModel):
    """The query of a paged list: ``?limit=&cursor=``."""

    model_config = ConfigDict(frozen=True, defer_build=True)  # see nexus.models.common

    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: CursorParam | None = None


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
