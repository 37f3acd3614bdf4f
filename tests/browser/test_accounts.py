"""Accounts in the browser: registration, what a wrong password and too many of them show,
logout (both tokens gone), the email links (reset, verify: the token leaves the address bar
at once), and the session: the access token only in memory, one refresh for many tabs."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Guard, Origins, unique_email
from tests.browser.people import PASSWORD, link_in_mail, log_in, new_seller
from tests.support.stack import Stack


def test_registration_lands_on_the_dashboard_signed_in(page: Page, web_url: str) -> None:
    email = unique_email("register")
    page.goto(f"{web_url}/auth/register")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=name]", "Rita Register")
    page.click("button[type=submit]")

    expect(page).to_have_url(f"{web_url}/dashboard")
    expect(page.locator("#who")).to_have_text(f"Rita Register · {email}")
    # A new account is unverified: the dashboard says so and offers the email again
    expect(page.locator("#verify-banner")).to_contain_text(f"Please confirm {email}")


def test_registration_shows_the_apis_reasons_next_to_the_form(
    page: Page, web_url: str, web_stack: Stack
) -> None:
    taken = new_seller(web_stack)
    page.goto(f"{web_url}/auth/register")
    page.fill("input[name=email]", taken.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    alert = page.locator("#register [role=alert]")
    expect(alert).to_contain_text("already")
    expect(page).to_have_url(f"{web_url}/auth/register")

    # A weak password: the per-field error names the field, beside it too
    page.fill("input[name=email]", unique_email("weak"))
    page.fill("input[name=password]", "short")
    page.click("button[type=submit]")
    expect(alert).to_contain_text("Password")
    expect(page.locator("#password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#password-error")).to_be_visible()


def test_a_wrong_password_shows_why_and_after_five_the_wait(
    page: Page, web_url: str, web_stack: Stack
) -> None:
    seller = new_seller(web_stack, "throttled")
    page.goto(f"{web_url}/auth/login")
    alert = page.locator("#login [role=alert]")
    page.fill("input[type=email]", seller.email)
    page.fill("input[type=password]", "not the password")
    page.click("button[type=submit]")
    expect(alert).to_have_text("The e-mail address or password is incorrect.")
    expect(page).to_have_url(f"{web_url}/auth/login")

    # Four more wrong ones, then the sixth is refused with when to try again (Retry-After)
    for _ in range(4):
        page.click("button[type=submit]")
        expect(page.locator("#login button[type=submit]")).to_be_enabled()
    page.click("button[type=submit]")
    expect(alert).to_contain_text(re.compile(r"Try again in \d+ minutes?\."))


def test_logout_ends_the_session_and_forgets_the_refresh_cookie(
    page: Page, web_url: str, web_stack: Stack
) -> None:
    seller = new_seller(web_stack)
    log_in(page, web_url, seller.email, seller.password)
    cookies = page.context.cookies()
    refresh = [c for c in cookies if c["name"] == "refresh_token"]
    assert refresh and refresh[0]["httpOnly"] and refresh[0]["path"] == "/api/auth", cookies

    page.click('button:has-text("Log out")')
    expect(page).to_have_url(f"{web_url}/auth/login?notice=logged-out")
    expect(page.locator("#notice")).to_have_text("You have logged out.")
    assert not [c for c in page.context.cookies() if c["name"] == "refresh_token"]

    # The dashboard now sends the person to log in (and back afterwards)
    page.goto(f"{web_url}/dashboard/orders")
    expect(page).to_have_url(f"{web_url}/auth/login?next=%2Fdashboard%2Forders")
    page.fill("input[type=email]", seller.email)
    page.fill("input[type=password]", seller.password)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{web_url}/dashboard/orders")


def test_the_access_token_is_in_no_storage_and_no_url(
    page: Page, web_url: str, web_stack: Stack
) -> None:
    seller = new_seller(web_stack)
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    log_in(page, web_url, seller.email, seller.password)
    page.goto(f"{web_url}/dashboard/products")
    expect(page.locator("#rows")).to_contain_text("No products yet")

    stored = page.evaluate(
        "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    assert stored == "[[],[]]"
    assert not [c for c in page.context.cookies() if c["name"] != "refresh_token"]
    assert not [u for u in urls if "token" in u.lower() or "eyJ" in u], urls


def test_two_tabs_loading_at_once_keep_one_session(
    browser: Browser, web_url: str, web_stack: Stack, origins: Origins
) -> None:
    # Two tabs of one browser, each page loaded many times while the other loads: a refresh
    # token presented twice would end the session (and the next load would ask to log in).
    seller = new_seller(web_stack)
    context = browser.new_context()
    guard = Guard(origins)
    try:
        first, second = context.new_page(), context.new_page()
        for tab in (first, second):
            guard.watch(tab)
        log_in(first, web_url, seller.email, seller.password)
        for _ in range(4):
            first.goto(f"{web_url}/dashboard/products", wait_until="commit")
            second.goto(f"{web_url}/dashboard/orders", wait_until="commit")
            first.goto(f"{web_url}/dashboard", wait_until="commit")
            second.goto(f"{web_url}/dashboard/integrations", wait_until="commit")
        for tab in (first, second):
            expect(tab.locator("#who")).to_contain_text(seller.email)
        expect(first).to_have_url(f"{web_url}/dashboard")
        expect(second).to_have_url(f"{web_url}/dashboard/integrations")
        assert guard.problems == []
    finally:
        context.close()


def test_a_reset_link_sets_a_new_password_and_leaves_the_address_bar(
    page: Page, web_url: str, web_stack: Stack, origins: Origins
) -> None:
    seller = new_seller(web_stack, "forgetful")
    page.goto(f"{web_url}/auth/forgot")
    page.fill("input[name=email]", seller.email)
    page.click("button[type=submit]")
    expect(page.locator("#sent")).to_contain_text(seller.email)

    link = link_in_mail(origins, seller.email, "/auth/reset")
    assert link.startswith(f"{web_url}/auth/reset?token=")
    page.goto(link)
    expect(page).to_have_url(f"{web_url}/auth/reset")
    page.fill("input[name=password]", "a brand new passphrase")
    page.fill("input[name=confirm]", "a brand new passphrase")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{web_url}/auth/login?notice=reset")
    log_in(page, web_url, seller.email, "a brand new passphrase")

    # The link was single-use: opened again, it is refused and says so
    page.goto(link)
    page.fill("input[name=password]", "another new passphrase")
    page.fill("input[name=confirm]", "another new passphrase")
    page.click("button[type=submit]")
    expect(page.locator("#reset [role=alert]")).to_contain_text("used already")


def test_a_verification_link_confirms_the_address_at_once(
    page: Page, web_url: str, web_stack: Stack, origins: Origins
) -> None:
    seller = new_seller(web_stack, "verify")
    link = link_in_mail(origins, seller.email, "/auth/verify")
    page.goto(link)
    expect(page).to_have_url(f"{web_url}/auth/verify")
    expect(page.locator("#state")).to_have_text(f"{seller.email} is confirmed. Thank you.")
    status, _, me = web_stack.call("GET", "/auth/me", token=seller.token)
    assert status == 200 and me["email_verified"] is True


def test_logging_out_in_one_tab_logs_out_the_others(
    browser: Browser, web_url: str, web_stack: Stack, origins: Origins
) -> None:
    seller = new_seller(web_stack)
    context = browser.new_context()
    guard = Guard(origins)
    try:
        first, second = context.new_page(), context.new_page()
        for tab in (first, second):
            guard.watch(tab)
        log_in(first, web_url, seller.email, seller.password)
        second.goto(f"{web_url}/dashboard/products")
        expect(second.locator("#who")).to_contain_text(seller.email)

        first.click('button:has-text("Log out")')
        expect(first).to_have_url(f"{web_url}/auth/login?notice=logged-out")
        # The other tab is told, forgets its token and goes to the login page too
        expect(second).to_have_url(re.compile(rf"^{re.escape(web_url)}/auth/login"))
        second.goto(f"{web_url}/dashboard")
        expect(second).to_have_url(f"{web_url}/auth/login?next=%2Fdashboard")
        assert guard.problems == []
    finally:
        context.close()


def test_logout_from_a_page_the_worker_does_not_control_forgets_the_workers_token(
    page: Page, web_url: str, web_stack: Stack
) -> None:
    # Given a session whose access token the session worker holds
    seller = new_seller(web_stack)
    log_in(page, web_url, seller.email, seller.password)
    page.goto(f"{web_url}/dashboard/products")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    # And a hard reload (as Shift+Reload), which bypasses the worker: the page is not its
    cdp = page.context.new_cdp_session(page)
    with page.expect_navigation():
        cdp.send("Page.reload", {"ignoreCache": True})
    expect(page.locator("#who")).to_contain_text(seller.email)
    assert page.evaluate("navigator.serviceWorker.controller") is None
    # When the person logs out from there
    page.click('button:has-text("Log out")')
    expect(page).to_have_url(f"{web_url}/auth/login?notice=logged-out")
    # Then the next (controlled) visit finds no session, not the worker's old token
    page.goto(f"{web_url}/dashboard")
    expect(page).to_have_url(f"{web_url}/auth/login?next=%2Fdashboard")


def test_a_logout_that_fails_says_so_and_the_session_stays(
    page: Page, web_url: str, web_stack: Stack
) -> None:
    seller = new_seller(web_stack)
    log_in(page, web_url, seller.email, seller.password)
    # When the logout is refused (a rate limit in front of the API, say)
    limited = json.dumps({"title": "Too Many Requests", "status": 429, "detail": "Slow down."})
    page.context.route(
        "**/api/auth/logout",
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "30", "Content-Type": "application/problem+json"},
            body=limited,
        ),
    )
    page.click('button:has-text("Log out")')
    # Then the person is told, still signed in, and not sent to the "logged out" page
    expect(page.locator("#page-alert")).to_contain_text("Slow down.")
    expect(page).to_have_url(f"{web_url}/dashboard")
    assert [c for c in page.context.cookies() if c["name"] == "refresh_token"]
    # And once the API answers, the same button logs out
    page.context.unroute("**/api/auth/logout")
    page.click('button:has-text("Log out")')
    expect(page).to_have_url(f"{web_url}/auth/login?notice=logged-out")
