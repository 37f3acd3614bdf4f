"""The seed's three browser flows, with its own selectors (contract §11): log in and land on
/dashboard; create a product at /dashboard/products/new with a name and 29.99 and see
"Product created"; buy at /checkout/{id} with an email: Buy Now, the payment page's Pay, and
the URL matches /success."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from nexus_local import demo
from tests.browser.conftest import Origins
from tests.browser.people import log_in, new_seller, product
from tests.support.stack import Stack


def test_logging_in_lands_on_the_dashboard(page: Page, web_url: str) -> None:
    # Given the demo seller, when they log in with the login page's selectors
    page.goto(f"{web_url}/auth/login")
    page.fill("input[type=email]", demo.DEMO_EMAIL)
    page.fill("input[type=password]", demo.DEMO_PASSWORD)
    page.click('button[type=submit]:has-text("Log in")')

    # Then the dashboard is where they are, and it knows who they are
    expect(page).to_have_url(f"{web_url}/dashboard")
    expect(page.locator("#who")).to_contain_text(demo.DEMO_EMAIL)


def test_a_product_made_with_29_99_is_created_at_2999_cents(
    page: Page, web_url: str, web_stack: Stack
) -> None:
    seller = new_seller(web_stack)
    log_in(page, web_url, seller.email, seller.password)

    # When the seller fills in the new product form with 29.99
    page.goto(f"{web_url}/dashboard/products/new")
    page.fill("input[name=name]", "Sourdough ebook")
    page.fill("textarea[name=description]", "Bake at home.")
    page.fill("input[name=price]", "29.99")
    expect(page.locator("select[name=currency]")).to_have_value("USD")
    page.click("button[type=submit]")

    # Then "Product created" shows with the public checkout link
    expect(page.locator("text=Product created")).to_be_visible()
    link = page.locator("#checkout-link")
    expect(link).to_have_attribute("href", re.compile(rf"^{re.escape(web_url)}/checkout/[^/]+$"))
    # and the API holds the price in cents
    status, _, page_of = web_stack.call("GET", "/products?limit=1", token=seller.token)
    assert status == 200
    created = page_of["items"][0]
    assert (created["name"], created["price"], created["currency"]) == (
        "Sourdough ebook",
        2999,
        "USD",
    )
    assert link.get_attribute("href") == f"{web_url}/checkout/{created['id']}"


def test_buying_goes_through_the_payment_page_to_success(
    page: Page, web_url: str, web_stack: Stack, origins: Origins
) -> None:
    seller = new_seller(web_stack)
    item = product(web_stack, seller, name="Presets pack", price=1250, currency="EUR")

    # When a buyer opens the checkout page and buys with an email
    page.goto(f"{web_url}/checkout/{item['id']}")
    expect(page.locator("h1")).to_have_text("Presets pack")
    expect(page.locator("#product-price")).to_have_text("€12.50")
    page.fill('input[name="email"]', "buyer@example.com")
    page.click('button:has-text("Buy Now")')

    # Then the payment page is the sandbox Stripe's, and Pay leads to /success
    expect(page).to_have_url(re.compile(rf"^{re.escape(origins.stripe)}/pay/"))
    page.click('button:has-text("Pay")')
    expect(page).to_have_url(re.compile(r"/success"))
    expect(page).to_have_url(re.compile(rf"^{re.escape(web_url)}/success\?order=[^&]+$"))
    expect(page.locator("h1")).to_have_text("Payment received")
    expect(page.locator("#summary")).to_have_text("Presets pack · €12.50")
