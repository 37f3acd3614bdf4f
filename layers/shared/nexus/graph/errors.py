"""The Graph API error taxonomy, table-driven, in one place.

- transient: retried by SQS, then the dead-letter queue after maxReceiveCount;
- throttled: held (ChangeMessageVisibility) for at least the time Graph says, then retried;
- permanent: the integration cannot work until its owner acts (bad token, lost permission):
  marked needs_reauth, parked in the dead-letter queue at once;
- item: one post or media failed permanently; recorded, the rest of the job goes on. (When a
  whole job fails with an item error, its Page or Instagram account itself is gone or out of
  reach, and the consumer treats it as permanent.)

Rules are tried most specific first: (code, subcode), then (code, words in the message),
then the code alone; anything unknown is transient. Instagram's codes and subcodes are from
Meta's Instagram Platform error-code reference; its 2207xxx subcodes belong to content
publishing, which ingestion never does, and are classified by what they say of the media.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorClass(StrEnum):
    TRANSIENT = "transient"
    THROTTLED = "throttled"
    PERMANENT = "permanent"
    ITEM = "item"


# 4 app, 17 user, 32 page, 341 app limit, 613 calls per period, 80000-80014 business use case
# (80002 is Instagram's: too many calls to this Instagram account).
THROTTLED_CODES = frozenset({4, 17, 32, 341, 613} | set(range(80000, 80015)))
# 190 token invalid/expired, 10 and 200-299 permissions, 3 capability, 102 session.
PERMANENT_CODES = frozenset({3, 10, 102, 190} | set(range(200, 300)))
# 100 invalid parameter (a metric or an object), 24 media not found; Instagram's publishing
# refusals of a media: 352 video format, 9004 media URI, 36000 image size, 36001 image format,
# 36003 aspect ratio, 36004 caption length.
ITEM_CODES = frozenset({100, 24, 352, 9004, 36000, 36001, 36003, 36004})
# Explicitly, though unknown codes are transient anyway: 1 unknown, 2 service, -1 and -2
# Instagram server errors and download timeouts, 9007 media not ready yet.
TRANSIENT_CODES = frozenset({-2, -1, 1, 2, 9007})

SUBCODE_CLASSES: dict[tuple[int, int], ErrorClass] = {
    # "Object with ID ... does not exist, cannot be loaded due to missing permissions, or
    # does not support this operation".
    (100, 33): ErrorClass.ITEM,
    # Media posted before the account's conversion to a business account: no insights.
    (100, 2108006): ErrorClass.ITEM,
    (24, 2207006): ErrorClass.ITEM,  # the media cannot be found
    (24, 2207008): ErrorClass.TRANSIENT,  # media builder expired: try again
    # The Instagram account is inactive, checkpointed or restricted: its owner must sign in.
    (25, 2207050): ErrorClass.PERMANENT,
    (9, 2207042): ErrorClass.THROTTLED,  # the day's publishing limit is reached
}
MESSAGE_CLASSES: tuple[tuple[int, str, ErrorClass], ...] = (
    # Our app secret and the token do not match (or the app requires a proof and none was
    # sent): our configuration is wrong (a rotated or mistyped META_APP_SECRET), not the
    # seller's connection, so the integration is not marked needs_reauth (no reconnect email
    # would help); jobs fail, retry and park in the dead-letter queue for a redrive once the
    # secret is right. No metric probing either.
    (100, "appsecret_proof", ErrorClass.TRANSIENT),
    # Instagram's answer for media with too few viewers, whatever the permissions.
    (10, "not enough viewers", ErrorClass.ITEM),
)
DEFAULT_THROTTLE_SECONDS = 300


def classify(
    code: int | None,
    http_status: int | None = None,
    subcode: int | None = None,
    message: str | None = None,
) -> ErrorClass:
    if code is not None and subcode is not None and (code, subcode) in SUBCODE_CLASSES:
        return SUBCODE_CLASSES[(code, subcode)]
    text = (message or "").lower()
    for rule_code, words, error_class in MESSAGE_CLASSES:
        if code == rule_code and words in text:
            return error_class
    if code in THROTTLED_CODES or http_status == 429:
        return ErrorClass.THROTTLED
    if code in PERMANENT_CODES:
        return ErrorClass.PERMANENT
    if code in ITEM_CODES:
        return ErrorClass.ITEM
    # TRANSIENT_CODES, any 5xx, timeouts and anything unknown: worth another try.
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
        self.error_class = classify(code, http_status, subcode, message)
        self.retry_after = retry_after

    @property
    def error_code(self) -> str:
        """The provider's code as a string, for runs and dead-letter attributes."""
        if self.code is not None:
            return str(self.code)
        return f"http_{self.http_status}" if self.http_status else "network"
