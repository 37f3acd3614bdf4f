"""Selling in the browser: a buyer pays on the sandbox Stripe page and the success page waits
for the webhook, then shows "Payment received" and the Download link; the seller's orders
page shows the paid order and refunds it; the dashboard's revenue counts it; a product that
is gone says so."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import Origins
from tests.browser.people import Seller, log_in, new_seller, product, settle
from tests.support.stack import Stack


def _with_file(stack: Stack, seller: Seller, product_id: str, data: bytes) -> None:
    """The product's file, uploaded as the page does: the presigned PUT."""
    status, _, target = stack.call(
        "PUT",
        f"/products/{product_id}/file",
        {"filename": "guide.pdf", "content_type": "application/pdf", "size": len(data)},
        token=seller.token,
    )
    assert status == 200, target
    req = urllib.request.Request(
        target["upload_url"], data=data, method="PUT", headers=target["headers"]
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


def _buy(page: Page, web_url: str, product_id: str, email: str) -> str:
    """Checkout, the sandbox payment page's Pay, the success page: the order id."""
    page.goto(f"{web_url}/checkout/{product_id}")
    page.fill('input[name="email"]', email)
    page.fill('input[name="name"]', "Bea Buyer")
    page.click('button:has-text("Buy Now")')
    page.click('button:has-text("Pay")')
    expect(page).to_have_url(re.compile(rf"^{re.escape(web_url)}/success\?order="))
    expect(page.locator("h1")).to_have_text("Payment received")
    return page.url.split("order=", 1)[1]


def test_the_paid_order_downloads_shows_in_orders_and_refunds(
    page: Page, web_url: str, web_stack: Stack, origins: Origins, tmp_path: Path
) -> None:
    seller = new_seller(web_stack)
    item = product(web_stack, seller, name="Field guide", price=2999)
    data = b"%PDF-1.4 the guide\n" * 100
    _with_file(web_stack, seller, item["id"], data)

    # The buyer pays; the success page offers the file
    order_id = _buy(page, web_url, item["id"], "bea@example.com")
    download = page.locator("#download-link")
    expect(download).to_have_text("Download")
    href = download.get_attribute("href") or ""
    assert href.startswith(f"{origins.files}/"), href
    with page.expect_download() as fetched:
        download.click()
    saved = tmp_path / "guide.pdf"
    fetched.value.save_as(saved)
    assert saved.read_bytes() == data

    # The seller sees the paid order with the product's name, filtered by status
    log_in(page, web_url, seller.email, seller.password)
    expect(page.locator("#revenue")).to_contain_text("$29.99")
    page.goto(f"{web_url}/dashboard/orders")
    row = page.locator(f'tr[data-order="{order_id}"]')
    expect(row).to_contain_text("Field guide")
    expect(row).to_contain_text("Bea Buyer · bea@example.com")
    expect(row).to_contain_text("$29.99")
    expect(row.locator(".badge")).to_have_text("paid")
    page.select_option("select[name=status]", "pending")
    expect(page.locator("#rows")).to_contain_text("No pending orders.")
    page.select_option("select[name=status]", "paid")
    expect(row).to_be_visible()

    # Refund: asked of Stripe, and the order becomes refunded when its event arrives
    row.locator('button:has-text("Refund")').click()
    expect(page.locator("#notice")).to_have_text("Refund of $29.99 to bea@example.com requested.")

    def refunded() -> bool | None:
        status, _, order = web_stack.call("GET", f"/orders/{order_id}", token=seller.token)
        assert status == 200
        return True if order["status"] == "refunded" else None

    settle(refunded, "the refund's charge.refunded event")
    page.select_option("select[name=status]", "refunded")
    expect(row.locator(".badge")).to_have_text("refunded")
    expect(row.locator("button")).to_have_count(0)


def test_the_success_page_of_a_product_without_file_has_no_download(
    page: Page, web_url: str, web_stack: Stack
) -> None:
    seller = new_seller(web_stack)
    item = product(web_stack, seller, name="Receipt only", price=500)
    _buy(page, web_url, item["id"], "bo@example.com")
    expect(page.locator("#summary")).to_have_text("Receipt only · $5.00")
    expect(page.locator("#download")).to_be_hidden()


def test_cancel_on_the_payment_page_comes_back_to_the_checkout(
    page: Page, web_url: str, web_stack: Stack
) -> None:
    seller = new_seller(web_stack)
    item = product(web_stack, seller, name="Maybe later", price=700)
    page.goto(f"{web_url}/checkout/{item['id']}")
    page.fill('input[name="email"]', "undecided@example.com")
    page.click('button:has-text("Buy Now")')
    page.click('button:has-text("Cancel")')
    expect(page).to_have_url(f"{web_url}/checkout/{item['id']}")
    expect(page.locator('button:has-text("Buy Now")')).to_be_visible()


def test_a_checkout_page_of_no_product_says_so(page: Page, web_url: str, web_stack: Stack) -> None:
    seller = new_seller(web_stack)
    item = product(web_stack, seller, name="Withdrawn")
    status, _, _ = web_stack.call("DELETE", f"/products/{item['id']}", token=seller.token)
    assert status == 204
    page.goto(f"{web_url}/checkout/{item['id']}")
    expect(page.locator("#page-alert")).to_have_text("This product is not for sale (any more).")
    expect(page.locator("#buy")).to_be_hidden()


def test_a_checkout_the_api_refuses_shows_why(page: Page, web_url: str, web_stack: Stack) -> None:
    seller = new_seller(web_stack)
    item = product(web_stack, seller, name="Guide")
    page.goto(f"{web_url}/checkout/{item['id']}")
    page.fill('input[name="email"]', "not an address")
    page.click('button:has-text("Buy Now")')
    expect(page.locator("#buy [role=alert]")).to_contain_text("Email")
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(f"{web_url}/checkout/{item['id']}")
