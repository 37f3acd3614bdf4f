"""Every page of the web app: it loads with no console error, no script error and no request
to another origin (the ``page`` fixture), every field it shows has a visible label, and the
files keep to the Content-Security-Policy (no inline script, style attribute or handler);
the checkout page and the dashboard stay within their weight (compressed bytes of one
fresh load)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from bench.web import CHECKOUT_BUDGET, DASHBOARD_BUDGET, measure
from tests.browser.conftest import assert_labelled
from tests.browser.people import log_in, new_seller, product
from tests.support.stack import Stack

WEB = Path(__file__).resolve().parents[2] / "web"
# The server engineer's Swagger UI and the vendored libraries are not the app's own files.
OWN_HTML = sorted(
    p for p in WEB.rglob("*.html") if p.relative_to(WEB).parts[0] not in ("docs", "vendor")
)
OWN_JS = sorted([*(WEB / "assets").rglob("*.js"), WEB / "sw.js"])

# Public pages: path, and what shows once the page has done its work.
PUBLIC = [
    ("/", "h1"),
    ("/auth/login", "#login"),
    ("/auth/register", "#register"),
    ("/auth/forgot", "#forgot"),
    ("/auth/reset?token=not-a-real-token", "#reset"),
    ("/auth/verify?token=not-a-real-token", "#problem:has-text('not valid')"),
]
# The seller's pages ({product} is a product of theirs).
DASHBOARD = [
    ("/dashboard", "#revenue .stat"),
    ("/dashboard/products", "#rows a"),
    ("/dashboard/products/new", "#product"),
    ("/dashboard/products/{product}", "#upload:not([hidden])"),
    ("/dashboard/orders", "text=No orders yet."),
    ("/dashboard/integrations", "text=No accounts connected yet."),
    ("/dashboard/integrations/callback", "#again:not([hidden])"),
    ("/dashboard/analytics", "#chart canvas"),
]


@pytest.mark.parametrize(("path", "ready"), PUBLIC, ids=[p for p, _ in PUBLIC])
def test_a_public_page_loads_cleanly_with_labelled_fields(
    page: Page, web_url: str, path: str, ready: str
) -> None:
    page.goto(f"{web_url}{path}")
    expect(page.locator(ready).first).to_be_visible()
    assert_labelled(page)


@pytest.mark.parametrize(("path", "ready"), DASHBOARD, ids=[p for p, _ in DASHBOARD])
def test_a_dashboard_page_loads_cleanly_with_labelled_fields(
    page: Page, web_url: str, web_stack: Stack, path: str, ready: str
) -> None:
    seller = new_seller(web_stack)
    item = product(web_stack, seller)
    log_in(page, web_url, seller.email, seller.password)
    page.goto(f"{web_url}{path.format(product=item['id'])}")
    expect(page.locator(ready).first).to_be_visible()
    # Every dashboard page has the navigation to every other and Log out
    nav = page.locator("nav[aria-label=Dashboard] a")
    expect(nav).to_have_text(["Overview", "Products", "Orders", "Integrations", "Analytics"])
    expect(page.locator('button:has-text("Log out")')).to_be_visible()
    assert_labelled(page)


def test_the_buyers_pages_load_cleanly(page: Page, web_url: str, web_stack: Stack) -> None:
    seller = new_seller(web_stack)
    item = product(web_stack, seller, name="Guide", price=1999)
    page.goto(f"{web_url}/checkout/{item['id']}")
    expect(page.locator("#buy")).to_be_visible()
    assert_labelled(page)
    status, _, order = web_stack.call(
        "POST", "/checkout", {"product_id": item["id"], "email": "b@example.com"}
    )
    assert status == 201, order
    page.goto(f"{web_url}/success?order={order['id']}")
    # Not paid: the page waits, saying so
    expect(page.locator("#state")).to_contain_text("Waiting for the payment to be confirmed")
    expect(page.locator("#summary")).to_have_text("Guide · $19.99")


def test_an_unknown_path_is_the_404_page(web_url: str, browser: Browser) -> None:
    # Its own page: Chromium logs the document's 404 as a console error, which the page
    # fixture would count against the test
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(f"{web_url}/dashboard/nothing/here")
        assert response is not None and response.status == 404
        expect(page.locator("h1")).to_have_text("Page not found")
        expect(page.locator("a.button", has_text="Home")).to_have_attribute("href", "/")
    finally:
        context.close()


def test_the_checkout_page_weighs_at_most_60_kb(page: Page, web_url: str, web_stack: Stack) -> None:
    seller = new_seller(web_stack)
    item = product(web_stack, seller)
    transfer = measure(page, f"{web_url}/checkout/{item['id']}", ready="#buy:not([hidden])")
    assert transfer.status == 200
    assert transfer.total <= CHECKOUT_BUDGET, transfer.report()
    # It loads what buying needs: no session code, no chart library
    assert not [u for u in transfer.resources if re.search(r"session|dash|uplot|sw\.js", u)]


@pytest.mark.parametrize(
    ("path", "ready"), [("/dashboard", "#revenue .stat"), ("/dashboard/analytics", "#chart canvas")]
)
def test_the_dashboard_weighs_at_most_250_kb_with_the_chart(
    page: Page, web_url: str, web_stack: Stack, path: str, ready: str
) -> None:
    seller = new_seller(web_stack)
    log_in(page, web_url, seller.email, seller.password)
    transfer = measure(page, f"{web_url}{path}", ready=ready)
    assert transfer.status == 200
    assert transfer.total <= DASHBOARD_BUDGET, transfer.report()


@pytest.mark.parametrize("html", OWN_HTML, ids=lambda p: str(p.relative_to(WEB)))
def test_pages_have_no_inline_script_style_or_handler(html: Path) -> None:
    text = html.read_text()
    scripts = re.findall(r"<script\b[^>]*>", text)
    assert all(re.search(r'\bsrc="/[^"]+"', s) for s in scripts), scripts
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", text), "an inline script"
    assert not re.search(r"\sstyle\s*=", text), "a style attribute"
    assert not re.search(r"<style\b", text), "a style element"
    assert not re.search(r"\son[a-z]+\s*=", text), "an inline event handler"
    assert not re.search(r'(?:src|href)="(?:https?:)?//', text), "an asset of another origin"
    # A form submitted before its script has attached (a quick click, Enter) must not carry
    # its fields (a password) into a URL: POST, and submit buttons the script enables.
    for form in re.findall(r"<form\b[^>]*>", text):
        assert 'method="post"' in form, form
    for button in re.findall(r'<button\b[^>]*type="submit"[^>]*>', text):
        assert re.search(r"\sdisabled\b", button), button


@pytest.mark.parametrize("script", OWN_JS, ids=lambda p: str(p.relative_to(WEB)))
def test_scripts_keep_tokens_in_memory_and_text_as_text(script: Path) -> None:
    # Comments may name what the code must not do; the code itself may not do it.
    lines = script.read_text().splitlines()
    code = "\n".join(line for line in lines if not line.strip().startswith("//"))
    for forbidden in (
        "localStorage",
        "sessionStorage",
        "document.cookie",
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "eval(",
        "new Function",
    ):
        assert forbidden not in code, forbidden
