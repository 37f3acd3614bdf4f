"""Web bench: what the checkout page and the dashboard (its overview, and the analytics page
with the chart library) transfer, compressed, in Chromium against a local stack of this
bench's own (``--seed-demo``), beside the issue's goals.

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
    from playwright.sync_api import Browser, Page, Request

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


class _Meter:
    """The bytes of one load: the page's own responses from its CDP session, and the
    requests of the context's service workers (a worker's network is not the page's: its
    requests come as Playwright's context events, sized by ``Request.sizes``). A page
    response a worker answered counts once, as the worker's request."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.cdp = page.context.new_cdp_session(page)
        self.urls: dict[str, str] = {}
        self.sizes: dict[str, int] = {}
        self.pending: set[str] = set()
        self.workers: list[Request] = []
        self.workers_done: list[Request] = []
        self.cdp.on("Network.requestWillBeSent", self._sent)
        self.cdp.on("Network.responseReceived", self._received)
        self.cdp.on("Network.loadingFinished", self._finished)
        self.cdp.on("Network.loadingFailed", self._failed)
        self.cdp.send("Network.enable")
        self.cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        page.context.on("request", self._worker_request)
        page.context.on("requestfinished", self._worker_done)
        page.context.on("requestfailed", self._worker_done)

    def _sent(self, event: dict[str, Any]) -> None:
        self.pending.add(event["requestId"])

    def _received(self, event: dict[str, Any]) -> None:
        if not event["response"].get("fromServiceWorker"):
            self.urls[event["requestId"]] = event["response"]["url"]

    def _finished(self, event: dict[str, Any]) -> None:
        self.pending.discard(event["requestId"])
        # data: URLs (inline images in a style sheet) cost nothing beyond the sheet.
        if self.urls.get(event["requestId"], "").startswith(("http:", "https:")):
            self.sizes[event["requestId"]] = int(event["encodedDataLength"])

    def _failed(self, event: dict[str, Any]) -> None:
        self.pending.discard(event["requestId"])

    def _worker_request(self, request: Request) -> None:
        if request.service_worker is not None:
            self.workers.append(request)

    def _worker_done(self, request: Request) -> None:
        if request.service_worker is not None:
            self.workers_done.append(request)

    def settled(self) -> bool:
        # A round trip on the same session: every event sent before its answer is handled.
        self.cdp.send("Runtime.evaluate", {"expression": "0"})
        return not self.pending and all(
            any(r is done for done in self.workers_done) for r in self.workers
        )

    def stop(self) -> None:
        self.cdp.detach()
        self.page.context.remove_listener("request", self._worker_request)
        self.page.context.remove_listener("requestfinished", self._worker_done)
        self.page.context.remove_listener("requestfailed", self._worker_done)

    def transfer(self, url: str, status: int | None) -> Transfer:
        transfer = Transfer(url=url, status=status)
        counted = [(self.urls[i], size) for i, size in self.sizes.items()]
        for request in self.workers:
            if request.url.startswith(("http:", "https:")) and request.failure is None:
                sizes = request.sizes()
                wire = sizes["responseBodySize"] + sizes["responseHeadersSize"]
                counted.append((request.url, wire))
        for where, size in counted:
            transfer.resources[where] = transfer.resources.get(where, 0) + size
        return transfer


def measure(page: Page, url: str, ready: str | None = None) -> Transfer:
    """Load ``url`` in ``page`` with the browser cache disabled, wait for the ``ready``
    selector (what the page shows once its scripts have fetched what it needs: network idle
    alone can come while a large script still runs, before its first fetch), then for the
    network to be idle and every request seen to end; count what every response transferred
    (repeated URLs add up), the service workers' included."""
    meter = _Meter(page)
    try:
        response = page.goto(url, wait_until="load")
        if ready is not None:
            page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        for _ in range(SETTLE_ROUNDS):
            if meter.settled():
                break
            page.wait_for_timeout(SETTLE_STEP_MS)  # the page's own events run meanwhile
        else:
            raise RuntimeError(f"{url}: requests still open after the network went idle")
    finally:
        meter.stop()
    return meter.transfer(url, response.status if response else None)


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
                    # The chart library's page, held to the dashboard's goal.
                    analytics = measure(page, f"{stack.web_url}/dashboard/analytics")
                    print(_line("analytics", analytics, DASHBOARD_BUDGET))
                    print("\nDashboard, per response:\n" + dashboard.report())
                    print("\nAnalytics, per response:\n" + analytics.report())
                finally:
                    browser.close()
        finally:
            stack.stop()
    return 0
