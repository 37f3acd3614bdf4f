"""The Graph API error taxonomy, table-driven, in one place.

- transient: retried by SQS, then the dead-letter queue after maxReceiveCount;
- throttled: held (ChangeMessageVisibility) for at least the time Graph says, then retried;
- permanent: the integration cannot work until its owner acts (bad token, lost permission):
  marked needs_reauth, parked in the dead-letter queue at once;
- item: one post failed permanently; recorded, the rest of the job goes on.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorClass(StrEnum):
    TRANSIENT = "transient"
    THROTTLED = "throttled"
    PERMANENT = "permanent"
    ITEM = "item"


# 4 app, 17 user, 32 page, 341 app limit, 613 calls per period, 80000-80014 business use case.
THROTTLED_CODES = frozenset({4, 17, 32, 341, 613} | set(range(80000, 80015)))
# 190 token invalid/expired, 10 and 200-299 permissions, 3 capability, 102 session.
PERMANENT_CODES = frozenset({3, 10, 102, 190} | set(range(200, 300)))
ITEM_CODES = frozenset({100})
DEFAULT_THROTTLE_SECONDS = 300


def classify(code: int | None, http_status: int | None = None) -> ErrorClass:
    if code in THROTTLED_CODES or http_status == 429:
        return ErrorClass.THROTTLED
    if code in PERMANENT_CODES:
        return ErrorClass.PERMANENT
    if code in ITEM_CODES:
        return ErrorClass.ITEM
    # Codes 1 and 2, any 5xx, timeouts and anything unknown: worth another try.
    return ErrorClass.TRANSIENT


class GraphError(Exception):
    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.error_class = classify(code, http_status)
        self.retry_after = retry_after

    @property
    def error_code(self) -> str:
        """The provider's code as a string, for runs and dead-letter attributes."""
        if self.code is not None:
            return str(self.code)
        return f"http_{self.http_status}" if self.http_status else "network"
