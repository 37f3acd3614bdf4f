"""Swagger UI at /docs on the web app: offline (vendored assets only), under the web app's
Content-Security-Policy, describing the API behind /api."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def test_the_api_docs_render_offline_with_the_web_apps_api_as_server(
    page: Page, web_url: str
) -> None:
    # When a person opens /docs on the web app
    page.goto(f"{web_url}/docs")
    # Then Swagger UI renders the API's operations (the page fixture fails the test on any
    # console error or request to another origin: a CDN, the online validator)
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Nexus Sales API")
    expect(page.locator(".opblock-summary-path", has_text="/auth/login").first).to_be_visible()
    # And "Try it out" would call the API through the web app's /api
    expect(page.locator(".servers select")).to_have_value(f"{web_url}/api")
