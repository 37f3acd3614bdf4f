"""Web bench: what the checkout page and the dashboard transfer, compressed, in Chromium
against a local stack of this bench's own (``--seed-demo``), beside the issue's goals.

:func:`measure` is the one measurement, shared with the browser tests: every response of a
fresh load (cache disabled) as Chrome's network stack received it, CDP's
``Network.loadingFinished`` ``encodedDataLength``: headers and body on the wire, so gzipped
where the server compressed (the local web server gzips text assets as CloudFront does;
CloudFront would pick Brotli where the browser offers it, smaller still, so these figures
are an upper bound of what the distribution serves).
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
KB = 1000
# The goals (issue 16, "Weight"), compressed bytes of one fresh load.
CHECKOUT_BUDGET = 60 * KB
DASHBOARD_BUDGET = 250 * KB
# How long measure() lets the page run on, at most, while requests are still open after
# network idle (a request Chromium never ends is an error, not a figure).
SETTLE_ROUNDS, SETTLE_STEP_MS = 100, 100


@dataclass
class Transfer:
    """One page load: the document's status and every response's bytes on the wire."""

    url: str
    status: int | None
    resources: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.resources.values())

    def report(self) -> str:
        rows = sorted(self.resources.items(), key=lambda item: -item[1])
        lines = [f"{size / KB:9.1f} KB  {url}" for url, size in rows]
        return "\n".join([*lines, f"{self.total / KB:9.1f} KB  total ({len(rows)} responses)"])


def measure(page: Page, url: str, ready: str | None = None) -> Transfer:
    """Load ``url`` in ``page`` with the browser cache disabled, wait for the ``ready``
    selector (what the page shows once its scripts have fetched what it needs: network idle
    alone can come while a large script still runs, before its first fetch), then for the
    network to be idle and every request seen to end; count what every response transferred
    (repeated URLs add up)."""
    cdp = page.context.new_cdp_session(page)
    urls: dict[str, str] = {}
    sizes: dict[str, int] = {}
    pending: set[str] = set()

    def sent(event: dict[str, Any]) -> None:
        pending.add(event["requestId"])

    def received(event: dict[str, Any]) -> None:
        urls[event["requestId"]] = event["response"]["url"]

    def finished(event: dict[str, Any]) -> None:
        pending.discard(event["requestId"])
        # data: URLs (inline images in a style sheet) cost nothing beyond the sheet.
        if urls.get(event["requestId"], "").startswith(("http:", "https:")):
            sizes[event["requestId"]] = int(event["encodedDataLength"])

    def failed(event: dict[str, Any]) -> None:
        pending.discard(event["requestId"])

    cdp.on("Network.requestWillBeSent", sent)
    cdp.on("Network.responseReceived", received)
    cdp.on("Network.loadingFinished", finished)
    cdp.on("Network.loadingFailed", failed)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    try:
        response = page.goto(url, wait_until="load")
        if ready is not None:
            page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        for _ in range(SETTLE_ROUNDS):
            # A round trip on the same session: every event sent before its answer is handled.
            cdp.send("Runtime.evaluate", {"expression": "0"})
            if not pending:
                break
            page.wait_for_timeout(SETTLE_STEP_MS)  # the page's own events run meanwhile
        else:
            raise RuntimeError(f"{url}: requests still open after the network went idle")
    finally:
        cdp.detach()
    transfer = Transfer(url=url, status=response.status if response else None)
    for request_id, size in sizes.items():
        where = urls.get(request_id, request_id)
        transfer.resources[where] = transfer.resources.get(where, 0) + size
    return transfer


def launch(playwright: Any) -> Browser:
    """Debian's chromium (Playwright's own browser download is not reachable here)."""
    browser: Browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    return browser


def log_in(page: Page, web_url: str, email: str, password: str) -> None:
    """The login page as a person uses it (contract §11's selectors), until /dashboard."""
    answer = page.goto(f"{web_url}/auth/login")
    if answer is None or answer.status != 200:
        raise LookupError(f"/auth/login answered HTTP {answer.status if answer else None}")
    page.fill("input[type=email]", email)
    page.fill("input[type=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{web_url}/dashboard")


def _line(name: str, transfer: Transfer, budget: int) -> str:
    verdict = "within" if transfer.total <= budget else "OVER"
    return (
        f"{name:<10} {transfer.total / KB:8.1f} KB  goal <= {budget / KB:.0f} KB ({verdict});"
        f" HTTP {transfer.status}, {len(transfer.resources)} responses  {transfer.url}"
    )


def run() -> int:
    if not CHROMIUM.exists():
        print(f"error: web bench: {CHROMIUM} is missing (make chromium)", file=sys.stderr)
        return 1
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from nexus_local import demo
    from tests.support.stack import free_port, start_stack

    print("Web bench: compressed bytes of one fresh load (cache disabled), Chromium")
    with tempfile.TemporaryDirectory(prefix="nexus-bench-web-") as data:
        stack = start_stack(Path(data), free_port(), {}, ["--seed-demo"])
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                try:
                    page = browser.new_page()
                    checkout = measure(page, f"{stack.web_url}/checkout/{demo.PRODUCTS[0].id}")
                    print(_line("checkout", checkout, CHECKOUT_BUDGET))
                    print("\nCheckout, per response:\n" + checkout.report() + "\n")
                    try:
                        log_in(page, stack.web_url, demo.DEMO_EMAIL, demo.DEMO_PASSWORD)
                    except (PlaywrightError, LookupError) as exc:
                        first = str(exc).splitlines()[0]
                        print(f"error: web bench: the demo seller's login failed: {first}")
                        return 1
                    dashboard = measure(page, f"{stack.web_url}/dashboard")
                    print(_line("dashboard", dashboard, DASHBOARD_BUDGET))
                    print("\nDashboard, per response:\n" + dashboard.report())
                finally:
                    browser.close()
        finally:
            stack.stop()
    return 0
