"""Browser tests: Debian's chromium (``make chromium`` installs it; Playwright's own browser
download is not reachable), driven by Playwright against the web app of one local stack for
the session (its own embedded PostgreSQL and ``--seed-demo``: tests make their own sellers
with :func:`unique_email`, or use the demo seller, and leave what they made).

The ``page`` fixture fails its test when the page's console shows an error (a
Content-Security-Policy violation is one, a missing asset another; the 4xx answers of
``/api``, which Chromium also logs, are the page's to show and are let through), a script
throws, or a request leaves for another origin than the web app's, except the navigations a
person makes (the sandbox Stripe's payment page, the sandbox Graph's Login dialog) and the
files endpoint (the presigned upload and download, the export's CSV); the sandboxes' own
pages are not held to it. :func:`assert_labelled` checks that every visible form field has a
visible label.
"""

from __future__ import annotations

import itertools
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    sync_playwright,
)

from bench.web import CHROMIUM, launch
from nexus_local import state
from nexus_local.web import origin
from tests.support.api import TEST_SECRETS
from tests.support.stack import Stack, free_port, start_stack

# The sandbox Graph's Login dialog: /{version}/dialog/oauth (its form posts to it too).
_DIALOG = re.compile(r"/v\d+\.\d+/dialog/oauth")
_PAYMENT_PAGE = "/pay/"
# Chromium's line for an answer of 400 or more: "Failed to load resource: the server
# responded with a status of 401 (Unauthorized)".
_FAILED_LOAD = re.compile(r"Failed to load resource: the server responded .* of (\d{3})")
_emails = itertools.count(1)


def unique_email(name: str = "seller") -> str:
    """An address no other test of the session registered (the stack's data lives on)."""
    return f"{name}-{next(_emails)}@example.com"


@dataclass(frozen=True)
class Origins:
    """Where the session's stack listens, as a page sees it."""

    web: str
    stripe: str
    graph: str
    files: str

    def allowed_navigation(self, url: str) -> bool:
        """A navigation a person makes away from the web app."""
        where, path = origin(url), urlsplit(url).path
        return (
            where in (self.web, self.files)
            or (where == self.stripe and path.startswith(_PAYMENT_PAGE))
            or (where == self.graph and _DIALOG.match(path) is not None)
        )


@dataclass
class Guard:
    """What a page did that fails its test: console errors, uncaught exceptions, and
    requests of the web app's documents to other origins; also the requests of the service
    workers of the page's browser context, which Chromium reports on the context only (their
    console reaches the page's own console events)."""

    origins: Origins
    problems: list[str] = field(default_factory=list)
    _contexts: list[BrowserContext] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("request", self._request)
        context = page.context
        if not any(c is context for c in self._contexts):
            self._contexts.append(context)
            context.on("request", self._worker_request)

    def _worker_request(self, request: Request) -> None:
        if request.service_worker is not None:
            self._request(request)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        web = self.origins.web
        if origin(where) != web and origin(message.page.url if message.page else "") != web:
            return  # a sandbox's own page (its favicon), not the web app
        status = _FAILED_LOAD.match(message.text)
        if status and 400 <= int(status[1]) < 500 and where.startswith(f"{web}/api/"):
            # Chromium logs every 4xx answer to a fetch; the API's (a wrong password, a 429)
            # are the page's to show, and the flows' tests check that it does.
            return
        self.problems.append(f"console error: {message.text} ({where})")

    def _request(self, request: Request) -> None:
        url = request.url
        if not url.startswith(("http:", "https:")):
            return  # data: and blob: URLs never leave the browser
        if request.is_navigation_request():
            if not self.origins.allowed_navigation(url):
                self.problems.append(f"navigation to another origin: {request.method} {url}")
            return
        try:
            document = origin(request.frame.url)
        except Exception:  # noqa: BLE001 - a request of a frame that is already gone
            document = self.origins.web
        # The sandbox pages' own requests are theirs; the web app's go nowhere else but the
        # files endpoint (the presigned upload).
        if document == self.origins.web and origin(url) not in (
            self.origins.web,
            self.origins.files,
        ):
            self.problems.append(f"request to another origin: {request.method} {url}")


def assert_labelled(page: Page) -> None:
    """Every visible input, select and textarea has a visible label (a ``<label>`` or
    ``aria-labelledby`` naming visible text): contract §11."""
    unlabelled: list[str] = page.evaluate(
        """() => {
          const shown = (el) => el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
          const text = (el) => shown(el) && el.innerText.trim() !== "";
          const skip = new Set(["hidden", "submit", "button", "reset", "image"]);
          return [...document.querySelectorAll("input, select, textarea")]
            .filter((el) => shown(el) && !(el.tagName === "INPUT" && skip.has(el.type)))
            .filter((el) => {
              const labels = [...el.labels];
              for (const id of (el.getAttribute("aria-labelledby") || "").split(/\\s+/)) {
                const named = id && document.getElementById(id);
                if (named) labels.push(named);
              }
              return !labels.some(text);
            })
            .map((el) => el.outerHTML.slice(0, 200));
        }"""
    )
    assert not unlabelled, "form fields without a visible label:\n" + "\n".join(unlabelled)


@pytest.fixture(scope="session")
def web_stack() -> Iterator[Stack]:
    """`make local --seed-demo` with its own embedded PostgreSQL for the whole session: the
    test session's database is emptied after each test, which would take the demo seller.
    Its data in a temporary folder of its own, not pytest's: every pytest session that
    starts resets pytest's folder to 0700, which PostgreSQL's own user then cannot enter."""
    with tempfile.TemporaryDirectory(prefix="nexus-browser-") as data:
        stack = start_stack(
            Path(data), free_port(), {**TEST_SECRETS, "BCRYPT_ROUNDS": "4"}, ["--seed-demo"]
        )
        yield stack
        assert stack.stop() == 0


@pytest.fixture(scope="session")
def origins(web_stack: Stack) -> Origins:
    recorded = state.read(web_stack.data_dir)
    assert recorded is not None and recorded.web_url == web_stack.web_url
    return Origins(
        web=origin(recorded.web_url),
        stripe=origin(recorded.stripe_url),
        graph=origin(recorded.graph_url),
        files=origin(recorded.sqs_url),
    )


@pytest.fixture(scope="session")
def web_url(origins: Origins) -> str:
    return origins.web


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium")
    b = launch(playwright)
    yield b
    b.close()


_GUARD = pytest.StashKey[Guard]()


@pytest.fixture
def page(browser: Browser, origins: Origins, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page of a fresh browser context (no cookies, no storage), watched by a
    :class:`Guard`: what it records fails the test (see ``pytest_runtest_call``)."""
    context = browser.new_context(locale="en-US", timezone_id="UTC")
    p = context.new_page()
    guard = Guard(origins)
    guard.watch(p)
    request.node.stash[_GUARD] = guard
    yield p
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """The test fails (not only its teardown) when its page's guard saw a problem."""
    yield
    guard = item.stash.get(_GUARD, None)
    if guard is not None and guard.problems:
        pytest.fail("the page misbehaved:\n" + "\n".join(guard.problems), pytrace=False)
