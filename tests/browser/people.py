"""What the page tests do as people: a new seller of their own (registered over the API, so
each test starts from a clean account), logging in through the login page, the emails the
stack sent, and waiting for the system (not for a clock) where a page shows a result that
arrives later (a webhook, a queue)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import Origins, unique_email
from tests.support.stack import Stack

PASSWORD = "correct horse battery staple"
# How long the system may take to settle what a page waits for (a queue's poller, a webhook):
# a deadline for a wait, not a claim about speed.
SETTLE_SECONDS = 60.0
# expect()'s own deadline: its 5 s default is shorter than a function's first (cold) start on a
# busy 2-core machine.
expect.set_options(timeout=30_000)


@dataclass(frozen=True)
class Seller:
    email: str
    password: str
    token: str  # an API access token of the seller's own (for setting up and checking)


def new_seller(stack: Stack, name: str = "seller") -> Seller:
    email = unique_email(name)
    status, _, body = stack.call(
        "POST", "/auth/register", {"email": email, "password": PASSWORD, "name": "Test Seller"}
    )
    assert status == 201, body
    return Seller(email, PASSWORD, body["access_token"])


def log_in(page: Page, web_url: str, email: str, password: str) -> None:
    """The login page with contract §11's selectors, until the dashboard shows who it is."""
    page.goto(f"{web_url}/auth/login")
    page.fill("input[type=email]", email)
    page.fill("input[type=password]", password)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{web_url}/dashboard")
    expect(page.locator("#who")).to_contain_text(email)


def product(stack: Stack, seller: Seller, **fields: Any) -> dict[str, Any]:
    body = {"name": "Field guide", "price": 1500, "currency": "USD", **fields}
    status, _, created = stack.call("POST", "/products", body, token=seller.token)
    assert status == 201, created
    assert isinstance(created, dict)
    return created


def settle[T](check: Callable[[], T | None], what: str, seconds: float = SETTLE_SECONDS) -> T:
    """``check()``'s first answer that is not None, asked again until the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        if answer is not None:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f} s")
        time.sleep(0.2)


def mails_to(origins: Origins, address: str) -> list[dict[str, Any]]:
    """What the stack's SES sent to ``address`` (the local AWS endpoint's listing)."""
    with urllib.request.urlopen(f"{origins.files}/_aws/ses", timeout=10) as resp:
        messages = json.loads(resp.read())["messages"]
    return [m for m in messages if address in m["Destination"]["ToAddresses"]]


def link_in_mail(origins: Origins, address: str, path: str) -> str:
    """The first link to ``path`` (e.g. ``/auth/reset``) in a mail to ``address``."""
    pattern = re.compile(rf"https?://[^\s\"'<>]+{re.escape(path)}\?[^\s\"'<>]+")

    def found() -> str | None:
        for message in mails_to(origins, address):
            body = message["Body"]
            for part in (body.get("text_part"), body.get("html_part")):
                match = pattern.search(part or "")
                if match:
                    return match[0].replace("&amp;", "&")
        return None

    return settle(found, f"a mail to {address} with a link to {path}")
