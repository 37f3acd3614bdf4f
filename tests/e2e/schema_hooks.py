"""schemathesis hooks for the OpenAPI run (tests/e2e/test_schemathesis.py).

The document states every rule JSON Schema can state; a "schema-valid request rejected"
failure (ST202) is set aside only when the server's 422 names one of the rules below, which
OpenAPI cannot express, and no other:
"""

from __future__ import annotations

from typing import Any

import schemathesis

from nexus.auth.service import BAD_LINK
from nexus.checkout.service import STRIPE_REFUSED
from nexus.integrations.models import (
    NAME_NEEDED,
    NOT_TODAY,
    TOKEN_NEEDED,
    TOKEN_WITH_CONNECTION,
)
from nexus.meta.connect import CODE_REFUSED, CONNECTION_GONE, NOT_IN_CONNECTION, STATE_REFUSED
from nexus.models.common import WHITESPACE

# (loc, msg) of each rule OpenAPI cannot express, with why.
INEXPRESSIBLE: dict[tuple[tuple[str, ...], str], str] = {
    (("query", "cursor"), "is not a cursor this API returned"): (
        "a cursor is opaque: valid only when this API issued it"
    ),
    (("query", "from"), "must not be after 'to'"): "from <= to relates two parameters",
    (("query", "to"), "at most 366 days after 'from'"): "the 366-day span relates two parameters",
    (("body", "from"), "must not be after 'to'"): "an export's from <= to relates two fields",
    (("body", "to"), "at most 366 days after 'from'"): "an export's 366-day span, two fields",
    (("body", "date"), NOT_TODAY): "today's date, which a schema cannot name",
    (("body", "password"), "is one of the most common passwords"): "the common-password list",
    (("body", "password"), "must be 8 to 128 characters long"): (
        "the length counts characters after NFC normalisation"
    ),
    (("body", "email"), "Value error, is not a valid e-mail address"): (
        "254 characters once trimmed (the schema's pattern has no lookahead)"
    ),
    (("body", "token"), BAD_LINK): "a link token is valid only as issued, unused, unexpired",
    (("body", "price"), "Input should be a valid integer"): (
        "prices are integer literals: JSON Schema counts 10.0 as an integer, the API refuses it"
    ),
    (("body", "product_id"), STRIPE_REFUSED): (
        "Stripe's own rules (its minimum charge per currency) decide whether a product's"
        " price can be paid for"
    ),
    (("body", "size"), "Input should be a valid integer"): (
        "a file's size is an integer literal, as prices are (10.0 is refused)"
    ),
    (("body", "access_token"), TOKEN_WITH_CONNECTION): (
        "POST /integrations takes a pasted token or a connection, not both (two fields)"
    ),
    (("body", "access_token"), TOKEN_NEEDED): "one of two fields is required",
    (("body", "name"), NAME_NEEDED): "name is required with access_token (two fields)",
    (("body", "state"), STATE_REFUSED): "a state is valid only as issued, unused, unexpired",
    (("body", "code"), CODE_REFUSED): "a code is valid only as Meta's dialog issued it",
    (("body", "connection_id"), CONNECTION_GONE): "a connection is valid only as issued",
    (("body", "external_id"), NOT_IN_CONNECTION): "the accounts are those Meta listed",
}


def _only_inexpressible(body: Any) -> bool:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return False
    return all((tuple(e["loc"]), e["msg"]) in INEXPRESSIBLE for e in errors)


def _body(case: Any) -> dict[str, Any]:
    return case.body if isinstance(case.body, dict) else {}


def _inexpressible_in_this_case(error: dict[str, Any], case: Any) -> bool:
    """Rules whose message alone does not prove the case broke only them."""
    field = error["loc"][-1]
    value = _body(case).get(field)
    if error["loc"] == ["body", "email"]:
        return isinstance(value, str) and len(value.strip(WHITESPACE)) > 254
    if error["loc"] in (["body", "price"], ["body", "size"]):
        return isinstance(value, float) and value.is_integer()
    return True


@schemathesis.hook
def filter_failure(ctx: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a 422 that names only inexpressible rules (above)."""
    if failure.code != "ST202" or response.status_code != 422:
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    if not _only_inexpressible(body):
        return True
    return not all(_inexpressible_in_this_case(e, case) for e in body["errors"])
