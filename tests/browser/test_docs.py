"""Swagger UI at /docs, on the web app and on the API's own port: offline (vendored assets
only), under the web app's Content-Security-Policy, each describing the API as that origin
reaches it."""

from __future__ import annotations

from dataclasses import replace

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Guard, Origins
from tests.support.stack import Stack


def _renders_the_api(page: Page) -> None:
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Nexus Sales API")
    expect(page.locator(".opblock-summary-path", has_text="/auth/login").first).to_be_visible()


def test_the_api_docs_render_offline_with_the_web_apps_api_as_server(
    page: Page, web_url: str
) -> None:
    # When a person opens /docs on the web app
    page.goto(f"{web_url}/docs")
    # Then Swagger UI renders the API's operations (the page fixture fails the test on any
    # console error or request to another origin: a CDN, the online validator)
    _renders_the_api(page)
    # And "Try it out" would call the API through the web app's /api
    expect(page.locator(".servers select")).to_have_value(f"{web_url}/api")


def test_the_api_ports_docs_render_offline_too(
    browser: Browser, web_stack: Stack, origins: Origins
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        # Held to the same rules, with the API's port as the page's own origin
        guard = Guard(replace(origins, web=web_stack.base))
        guard.watch(page)
        page.goto(f"{web_stack.base}/docs")
        _renders_the_api(page)
        expect(page.locator(".servers select")).to_have_value(web_stack.base)
        assert guard.problems == []
    finally:
        context.close()
