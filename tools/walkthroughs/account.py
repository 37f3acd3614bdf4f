"""Walk-through: an account's life, with its e-mails read where the local stack shows them.

A new user registers (each run a new address), finds the verification e-mail in the local
SES listing (``GET :4566/_aws/ses``), verifies; refreshes the session; forgets the password,
resets it from the e-mailed link (which ends every session); logs in with the new one and
logs out.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from typing import Any

from nexus_local import state
from walkthroughs.client import Api, WalkthroughFailed, show, wait_for

_LINK = re.compile(r"/auth/(verify|reset)\?token=([A-Za-z0-9_-]+)")


def _mail_for(address: str, kind: str, after: int) -> list[str]:
    """Tokens of the ``kind`` links mailed to ``address``, newest last, beyond the first
    ``after`` such links."""
    with urllib.request.urlopen(f"{state.locate().sqs_url}/_aws/ses", timeout=10) as resp:  # noqa: S310
        messages: list[dict[str, Any]] = json.loads(resp.read())["messages"]
    tokens = [
        match.group(2)
        for message in messages
        if address in message["Destination"]["ToAddresses"]
        for match in _LINK.finditer(message["Body"]["text_part"] or "")
        if match.group(1) == kind
    ]
    return tokens[after:]


def _link(address: str, kind: str, after: int = 0) -> str:
    found = wait_for(
        f"the {kind} e-mail to {address}", lambda: _mail_for(address, kind, after), timeout=60
    )
    return str(found[-1])


def run(api: Api) -> None:
    address = f"walker-{uuid.uuid4().hex[:8]}@example.com"
    password, renewed = "a long first passphrase", "a longer second passphrase"
    pair = api.expect(
        "register",
        "POST",
        "/auth/register",
        {"email": address, "password": password},
        ok=(201,),
        auth=False,
    ).body
    api.token = pair["access_token"]
    show("   email_verified", value=pair["user"]["email_verified"])
    token = _link(address, "verify")
    show("   the verification e-mail is in the local mail listing (GET :4566/_aws/ses)")
    user = api.expect(
        "verify the address", "POST", "/auth/verify-email", {"token": token}, auth=False
    ).body
    if user["email_verified"] is not True:
        raise WalkthroughFailed("the address is not verified")
    fresh = api.expect(
        "refresh the session (the old refresh token is spent)",
        "POST",
        "/auth/refresh",
        {"refresh_token": pair["refresh_token"]},
        auth=False,
    ).body
    api.expect(
        "the spent token again: refused, and its session ended",
        "POST",
        "/auth/refresh",
        {"refresh_token": pair["refresh_token"]},
        ok=(401,),
        auth=False,
    )
    api.expect(
        "forgot password",
        "POST",
        "/auth/password/forgot",
        {"email": address},
        ok=(202,),
        auth=False,
    )
    reset = _link(address, "reset")
    api.expect(
        "reset it from the e-mailed link",
        "POST",
        "/auth/password/reset",
        {"token": reset, "password": renewed},
        ok=(204,),
        auth=False,
    )
    api.expect(
        "the session from before the reset has ended",
        "POST",
        "/auth/refresh",
        {"refresh_token": fresh["refresh_token"]},
        ok=(401,),
        auth=False,
    )
    login = api.expect(
        "log in with the new password",
        "POST",
        "/auth/login",
        {"email": address, "password": renewed},
        auth=False,
    ).body
    api.expect(
        "log out",
        "POST",
        "/auth/logout",
        {"refresh_token": login["refresh_token"]},
        ok=(204,),
        auth=False,
    )
    print(f"done: {address} registered, verified, reset and logged out")
