"""Domain exceptions. They carry an HTTP status and title; :mod:`nexus.http` is the only
place that turns them (and framework errors) into RFC 9457 problem+json responses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PROBLEM_TYPE_BASE = "https://nexus-sales.dev/problems/"


class NexusError(Exception):
    status: int = 500
    title: str = "Internal Server Error"
    slug: str = "internal"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.retry_after = retry_after

    @property
    def type_uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.slug


class BadRequest(NexusError):
    status, title, slug = 400, "Bad Request", "bad-request"


class Unauthorized(NexusError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class Forbidden(NexusError):
    """The request did not come the way this API is served (nexus.http's origin check); never
    used for another tenant's object, which is a 404."""

    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(NexusError):
    status, title, slug = 404, "Not Found", "not-found"


class Conflict(NexusError):
    status, title, slug = 409, "Conflict", "conflict"


class PayloadTooLarge(NexusError):
    status, title, slug = 413, "Content Too Large", "payload-too-large"


class ValidationFailed(NexusError):
    status, title, slug = 422, "Unprocessable Content", "validation"

    @classmethod
    def from_pydantic(
        cls,
        errors: Iterable[Mapping[str, Any]],
        *,
        prefix: tuple[str, ...] = (),
        detail: str = "The request is not valid.",
    ) -> NexusError:
        """The one translation of pydantic's errors into problem ``errors``: only ``loc`` and
        ``msg`` (pydantic's ``input`` could echo a password back). Malformed JSON is a 400."""
        listed = list(errors)
        if any(e.get("type") == "json_invalid" for e in listed):
            return BadRequest("The request body is not valid JSON.")
        details = [
            {
                "loc": [*prefix, *(p if isinstance(p, int) else str(p) for p in e.get("loc", ()))],
                "msg": str(e.get("msg", "invalid")),
            }
            for e in listed
        ]
        return cls(detail, errors=details)


class TooManyRequests(NexusError):
    status, title, slug = 429, "Too Many Requests", "rate-limited"


class BadGateway(NexusError):
    """An upstream provider (Meta) failed or answered what it should not."""

    status, title, slug = 502, "Bad Gateway", "bad-gateway"


class ServiceUnavailable(NexusError):
    status, title, slug = 503, "Service Unavailable", "unavailable"


def found[T](value: T | None, detail: str) -> T:
    """``value``, or a 404 with ``detail`` when the repository found nothing (another
    tenant's object included: never reveal that it exists)."""
    if value is None:
        raise NotFound(detail)
    return value
