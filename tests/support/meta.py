"""The sandbox's Facebook Login dialog, driven as a person would: open the authorize URL, pick
an account, untick permissions, press Continue (or Cancel), and read where Meta sends the
browser back to (the redirect's query: code, state, granted/denied scopes or an error). The
page is read and submitted by the walk-throughs' browser (tools/walkthroughs/browser.py)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit

from walkthroughs import browser


def dialog(
    authorize_url: str,
    *,
    account: str = "Dana Demo",
    decline: Iterable[str] = (),
    cancel: bool = False,
) -> dict[str, str]:
    """Consent (or not) in the dialog; the query Meta redirects the browser back with."""
    page = browser.open_page(authorize_url)
    assert page.status == 200, page.html
    label = "Cancel" if cancel else f"Continue as {account}"
    back = browser.submit(page, label, untick=tuple(f"perm_{s}" for s in decline))
    assert back.status == 303 and back.location, back
    query = parse_qs(urlsplit(back.location).query)
    return {k: v[-1] for k, v in query.items()}
