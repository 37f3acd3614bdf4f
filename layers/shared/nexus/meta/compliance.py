"""Meta's compliance callbacks (contract §9): deauthorize, data deletion and the deletion
status page. The two callbacks are public routes; Meta posts them as a form whose
``signed_request`` (:mod:`nexus.meta.signed_request`) is signed with the app's secret.

- ``POST /webhooks/meta/deauthorize`` (:func:`deauthorize`): the user removed the app. Their
  integrations become ``needs_reauth`` and forget their tokens (the ciphertext is NULL: the
  ingest consumer skips anything not active, and only a new token revives needs_reauth);
  their connect-flow connections are deleted.
- ``POST /webhooks/meta/data-deletion`` (:func:`data_deletion`): the user asks for their
  data to be deleted. Every integration of theirs, live or soft deleted, is hard deleted with
  its content, post metrics, account days and runs, and their connections, in one
  transaction that also records the request (an unguessable confirmation code, the number
  of integrations erased) and marks it complete; an error rolls all of it back. The answer
  is Meta's ``{url, confirmation_code}``; a repeated request for the same user gets a new
  code and erases nothing more.
- ``GET /meta/data-deletion/{confirmation_code}`` (:func:`deletion_status`): what that
  request did, for the user Meta sends to the url (unknown code: 404).

Decisions:

- ``issued_at`` is read but its age is not bounded. Meta's "Data Deletion Request Callback"
  page defines the check as the algorithm and the HMAC-SHA256 of the payload (its sample
  ``parse_signed_request`` verifies exactly those, and the deauthorize callback posts the
  same signed_request) and says nothing about how late a callback may be delivered or
  re-delivered; the same page requires the callback to initiate the deletion ("Failure to
  comply with these requirements may result in your callback being removed or your app being
  disabled"). A bound would turn a late but genuine request (Meta's delivery delayed, or a
  503 of ours retried later) into a silent refusal to delete, the one failure that matters
  here. It would buy little: a signed_request reaches us from Meta over HTTPS and is never
  logged, and replaying one only repeats what that same user asked for.
- A body that is not a form, or a form without exactly one ``signed_request``, is 400: it is
  not shaped like Meta's request at all. A ``signed_request`` that does not verify (bad
  base64 or JSON, wrong signature or secret, another algorithm, no user_id) is 401.
- Logged: the confirmation code and row counts, never the Meta user id, a token or the
  signed_request.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Literal

from pydantic import BaseModel, Field

from nexus.errors import NotFound, found
from nexus.meta import signed_request
from nexus.meta.compliance_repository import ComplianceRepository
from nexus.models.common import OutModel
from nexus.observability import logger
from nexus.secrets import resolve_secret
from nexus.settings import get_settings

REPOSITORY = ComplianceRepository()
# 10 random bytes, 20 hex digits: unguessable, and alphanumeric as Meta asks.
CODE_BYTES = 10
_CODE = re.compile(rf"[0-9a-f]{{{CODE_BYTES * 2}}}")
_NO_DELETION = "No such data deletion request."
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


class SignedRequestForm(BaseModel):
    """The form Meta posts to both callbacks: one signed_request (other fields are ignored)."""

    signed_request: str = Field(
        max_length=signed_request.MAX_LENGTH,
        description="base64url(HMAC-SHA256 signature) '.' base64url(JSON payload), signed"
        " with the app secret",
    )


class Deauthorized(OutModel):
    """How many integrations of the user now need a new connection."""

    integrations: int


class DeletionAccepted(OutModel):
    """Meta's answer format: where the user follows their request, and its code."""

    url: str
    confirmation_code: str


class DeletionStatus(OutModel):
    confirmation_code: str
    status: Literal["pending", "complete"]
    requested_at: dt.datetime
    completed_at: dt.datetime | None


def _verified(body: bytes) -> signed_request.SignedRequest:
    field = signed_request.from_form(body)
    settings = get_settings()
    secret = resolve_secret(
        settings.meta_app_secret, settings.meta_app_secret_arn, name="META_APP_SECRET"
    )
    return signed_request.parse(field, secret)


def status_url(confirmation_code: str) -> str:
    """The page Meta sends the user to: the API's status route, same-origin under /api."""
    base = get_settings().web_base_url.rstrip("/")
    return f"{base}/api/meta/data-deletion/{confirmation_code}"


def deauthorize(body: bytes, *, repo: ComplianceRepository = REPOSITORY) -> Deauthorized:
    request = _verified(body)
    forgotten = repo.forget(request.user_id)
    logger.info(
        "meta deauthorize taken",
        extra={"integrations": forgotten.integrations, "connections": forgotten.connections},
    )
    return Deauthorized(integrations=forgotten.integrations)


def data_deletion(body: bytes, *, repo: ComplianceRepository = REPOSITORY) -> DeletionAccepted:
    request = _verified(body)
    code = secrets.token_hex(CODE_BYTES)
    erased = repo.erase(meta_user_id=request.user_id, confirmation_code=code)
    logger.info(
        "meta data deletion complete",
        extra={
            "confirmation_code": code,
            "integrations": erased.integrations,
            "content": erased.content,
            "metrics": erased.metrics,
            "account_days": erased.account_days,
            "runs": erased.runs,
            "connections": erased.connections,
        },
    )
    return DeletionAccepted(url=status_url(code), confirmation_code=code)


def deletion_status(code: str, *, repo: ComplianceRepository = REPOSITORY) -> DeletionStatus:
    # A code this API cannot have issued is not looked up (nor can a NUL reach the query).
    if not _CODE.fullmatch(code):
        raise NotFound(_NO_DELETION)
    return DeletionStatus.model_validate(found(repo.deletion(code), _NO_DELETION))
