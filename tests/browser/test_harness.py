"""The browser harness catches what it promises to: console errors, requests and navigations
to other origins, fields without a label; and its weight measurement counts compressed
bytes on the wire."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, Page

from bench.web import measure
from nexus_local import demo, web
from nexus_local.fake_meta import demo_meta
from tests.browser.conftest import Guard, Origins, assert_labelled, unique_email
from tests.support.stack import Stack

# A document of the web app's origin whatever the pages are (a plain text file of web/).
PLAIN = "/vendor/swagger-ui/swagger-ui-bundle.js.LICENSE.txt"


def blank(page: Page, web_url: str) -> None:
    page.goto(web_url + PLAIN)


@pytest.fixture
def watched(browser: Browser, origins: Origins) -> Iterator[tuple[Page, Guard]]:
    """A page and a guard of the test's own (the ``page`` fixture's guard would fail the
    test for the problems these tests cause on purpose). CSP is bypassed, so that a request
    to another origin reaches the network instead of being refused by the browser."""
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    guard = Guard(origins)
    guard.watch(page)
    yield page, guard
    context.close()


def test_a_console_error_and_an_uncaught_exception_are_caught(
    watched: tuple[Page, Guard], web_url: str
) -> None:
    page, guard = watched
    blank(page, web_url)
    assert guard.problems == []
    page.evaluate("console.error('something broke')")
    # A timer's exception is uncaught; the promise settles on the timer after it.
    page.evaluate(
        "new Promise((done) => setTimeout(() => { setTimeout(done); throw new Error('late') }))"
    )
    assert guard.problems[0].startswith("console error: something broke"), guard.problems
    assert guard.problems[1:] == ["uncaught: late"] or "late" in guard.problems[1], guard.problems


def test_a_fetch_to_another_origin_is_caught_but_not_one_to_the_files_endpoint(
    watched: tuple[Page, Guard], web_url: str, web_stack: Stack, origins: Origins
) -> None:
    page, guard = watched
    blank(page, web_url)
    page.evaluate(f"fetch('{origins.files}/_aws/ses', {{mode: 'no-cors'}}).catch(() => 0)")
    page.evaluate("fetch('/api/auth/me').catch(() => 0)")
    assert guard.problems == []
    page.evaluate(f"fetch('{web_stack.base}/openapi.json', {{mode: 'no-cors'}}).catch(() => 0)")
    assert guard.problems == [f"request to another origin: GET {web_stack.base}/openapi.json"]


def test_navigations_away_are_caught_except_payment_and_login_dialog(
    watched: tuple[Page, Guard], web_url: str, web_stack: Stack, origins: Origins
) -> None:
    page, guard = watched
    # A real payment page and a real dialog: a 404 document would log a console error
    status, _, order = web_stack.call(
        "POST", "/checkout", {"product_id": demo.PRODUCTS[0].id, "email": unique_email("buyer")}
    )
    assert status == 201, order
    dialog = f"{origins.graph}/v24.0/dialog/oauth?" + urlencode(
        {
            "client_id": demo_meta().app_id,
            "redirect_uri": f"{web_url}/dashboard/integrations/callback",
            "state": "harness",
            "scope": "pages_show_list",
        }
    )
    for allowed in (order["checkout_url"], dialog):
        blank(page, web_url)
        page.evaluate("url => location.assign(url)", allowed)
        page.wait_for_url(allowed)
    assert guard.problems == []
    blank(page, web_url)
    page.evaluate(f"location.assign('{web_stack.base}/nowhere')")
    page.wait_for_url(f"{web_stack.base}/nowhere")
    assert guard.problems == [f"navigation to another origin: GET {web_stack.base}/nowhere"]
    page.goto(f"{origins.stripe}/_sandbox/sessions")  # not the payment page
    assert guard.problems[-1].endswith(f"GET {origins.stripe}/_sandbox/sessions")


def test_fields_without_a_visible_label_are_found(page: Page, web_url: str) -> None:
    blank(page, web_url)
    labelled = """
      <label>Email <input type="email" name="email"></label>
      <label for="price">Price</label><input id="price" name="price">
      <span id="currency-label">Currency</span>
      <select name="currency" aria-labelledby="currency-label"><option>USD</option></select>
      <input type="hidden" name="state"><button type="submit">Save</button>
      <input type="submit" value="Go">
    """
    page.evaluate("html => { document.body.innerHTML = html }", labelled)
    assert_labelled(page)
    for unlabelled in (
        '<textarea name="description"></textarea>',
        '<input name="name" aria-label="Name">',  # not visible text
        '<label for="x"></label><input id="x" name="x">',  # an empty label
        '<label for="y" hidden>Y</label><input id="y" name="y">',  # a hidden one
    ):
        page.evaluate("html => { document.body.innerHTML = html }", labelled + unlabelled)
        with pytest.raises(AssertionError, match="without a visible label"):
            assert_labelled(page)


def test_the_weight_is_the_compressed_bytes_on_the_wire(page: Page, web_url: str) -> None:
    # When /docs is measured in the browser
    transfer = measure(page, f"{web_url}/docs", ready=".opblock")
    assert transfer.status == 200
    bundle = f"{web_url}/vendor/swagger-ui/swagger-ui-bundle.js"
    assert set(transfer.resources) >= {f"{web_url}/docs", bundle, f"{web_url}/openapi.json"}
    # Then each response counts as what the server sent gzipped, plus its headers
    for url, measured in transfer.resources.items():
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            body = len(resp.read())
            header_bytes = sum(len(k) + len(v) + 4 for k, v in resp.headers.items())
        assert body <= measured <= body + header_bytes + 200, url
    # And the megabyte-and-a-half bundle travels compressed
    with urllib.request.urlopen(bundle, timeout=30) as resp:
        raw = len(resp.read())
    assert transfer.resources[bundle] < raw / 2
    assert transfer.total == sum(transfer.resources.values())


# A site of the test's own with a service worker that answers the page's fetches from the
# network itself, as the web app's session worker answers its API calls.
WORKER_SITE = {
    "index.html": '<!doctype html><html lang="en"><head><link rel="icon" href="data:,">'
    '<script src="/app.js"></script></head><body>site</body></html>',
    "app.js": """
      navigator.serviceWorker.register("/sw.js");
      navigator.serviceWorker.ready.then(async () => {
        while (!navigator.serviceWorker.controller) await new Promise((r) => setTimeout(r, 10));
        const data = await (await fetch("/data.json")).json();
        document.body.dataset.ready = String(data.items.length);
      });
      navigator.serviceWorker.addEventListener("message", (event) => {
        document.body.dataset.answered = event.data;
      });
    """,
    "sw.js": """
      self.addEventListener("install", () => self.skipWaiting());
      self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
      self.addEventListener("fetch", (event) => event.respondWith(fetch(event.request)));
      self.addEventListener("message", async (event) => {
        await fetch(event.data, { mode: "no-cors" }).catch(() => null);
        event.source.postMessage("fetched");
      });
    """,
    "data.json": json.dumps({"items": [{"name": f"item {i}", "price": i} for i in range(200)]}),
}


@pytest.fixture
def worker_site(tmp_path: Path, web_stack: Stack) -> Iterator[str]:
    for name, text in WORKER_SITE.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    # Its policy lets a fetch reach the stack's API port, so the guard is what must catch it.
    srv = web.make_web_server("127.0.0.1", 0, web.Site(tmp_path, web_stack.base))
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield srv.base_url
    srv.shutdown()
    srv.server_close()


def test_a_service_workers_requests_are_weighed_once_and_guarded(
    browser: Browser, worker_site: str, web_stack: Stack, origins: Origins
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        guard = Guard(Origins(web=worker_site, stripe="", graph="", files=origins.files))
        guard.watch(page)
        # When a page whose data its service worker fetches is measured
        transfer = measure(page, worker_site + "/", ready="body[data-ready='200']")
        # Then the worker's script and its fetch count, the fetch once, compressed
        data = worker_site + "/data.json"
        assert set(transfer.resources) == {
            f"{worker_site}/",
            f"{worker_site}/app.js",
            f"{worker_site}/sw.js",
            data,
        }
        request = urllib.request.Request(data, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            body = len(resp.read())
            header_bytes = sum(len(k) + len(v) + 4 for k, v in resp.headers.items())
        assert body <= transfer.resources[data] <= body + header_bytes + 200
        assert body < len(WORKER_SITE["data.json"]) / 2
        assert guard.problems == []
        # And when the worker fetches from another origin, the guard sees it
        page.evaluate(
            "url => navigator.serviceWorker.controller.postMessage(url)",
            f"{web_stack.base}/openapi.json",
        )
        page.wait_for_selector("body[data-answered='fetched']")
        assert guard.problems == [f"request to another origin: GET {web_stack.base}/openapi.json"]
    finally:
        context.close()
