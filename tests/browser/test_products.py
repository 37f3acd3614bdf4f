"""The seller's products in the browser: a bad price is refused next to its field (by the
page when the currency cannot hold it, by the API otherwise), prices by the currency's
ISO 4217 exponent, editing, the file upload straight to the files bucket, deleting."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.people import log_in, new_seller, product
from tests.support.stack import Stack


def test_a_bad_price_is_shown_next_to_the_form_and_nothing_is_created(
    page: Page, web_url: str, web_stack: Stack
) -> None:
    seller = new_seller(web_stack)
    log_in(page, web_url, seller.email, seller.password)
    page.goto(f"{web_url}/dashboard/products/new")
    alert = page.locator("#product [role=alert]")
    page.fill("input[name=name]", "Too precise")

    # More decimals than dollars have: the page refuses it, at the field
    page.fill("input[name=price]", "29.999")
    page.click("button[type=submit]")
    expect(alert).to_contain_text("Price: USD has at most 2 decimal places.")
    expect(page.locator("#price")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#price-error")).to_have_text("USD has at most 2 decimal places.")

    # Not a number at all
    page.fill("input[name=price]", "twelve")
    page.click("button[type=submit]")
    expect(alert).to_contain_text("Enter the price as a number")

    # Zero is a number the API refuses: its per-field error shows the same way
    page.fill("input[name=price]", "0")
    page.click("button[type=submit]")
    expect(alert).to_contain_text("The request is not valid.")
    expect(alert).to_contain_text("Price: ")
    expect(page.locator("#price-error")).to_be_visible()

    status, _, listed = web_stack.call("GET", "/products", token=seller.token)
    assert status == 200 and listed["items"] == []


def test_yen_have_no_decimals_and_dinars_three(page: Page, web_url: str, web_stack: Stack) -> None:
    seller = new_seller(web_stack)
    log_in(page, web_url, seller.email, seller.password)
    page.goto(f"{web_url}/dashboard/products/new")
    page.fill("input[name=name]", "Yen item")
    page.select_option("select[name=currency]", "JPY")
    page.fill("input[name=price]", "500.5")
    page.click("button[type=submit]")
    expect(page.locator("#price-error")).to_have_text(
        "JPY has no decimal places: enter a whole number."
    )
    page.fill("input[name=price]", "500")
    page.click("button[type=submit]")
    expect(page.locator("text=Product created")).to_be_visible()

    page.fill("input[name=name]", "Dinar item")
    page.select_option("select[name=currency]", "KWD")
    page.fill("input[name=price]", "1.25")
    page.click("button[type=submit]")
    expect(page.locator("#created")).to_contain_text("Product created: Dinar item.")

    status, _, listed = web_stack.call("GET", "/products", token=seller.token)
    assert status == 200
    assert [(p["name"], p["price"], p["currency"]) for p in listed["items"]] == [
        ("Dinar item", 1250, "KWD"),
        ("Yen item", 500, "JPY"),
    ]
    # The list shows them in major units, as Intl.NumberFormat does in the page's locale
    page.goto(f"{web_url}/dashboard/products")
    expect(page.locator("#rows tr").nth(0)).to_contain_text("KWD 1.250")
    expect(page.locator("#rows tr").nth(1)).to_contain_text("¥500")


def test_edit_upload_a_file_and_delete(
    page: Page, web_url: str, web_stack: Stack, tmp_path: Path
) -> None:
    seller = new_seller(web_stack)
    item = product(web_stack, seller, name="Course", price=4900)
    log_in(page, web_url, seller.email, seller.password)

    page.goto(f"{web_url}/dashboard/products")
    page.click("#rows a:has-text('Course')")
    expect(page).to_have_url(f"{web_url}/dashboard/products/{item['id']}")
    expect(page.locator("input[name=price]")).to_have_value("49.00")

    # Edit: only what changed is sent, the page shows the saved product
    page.fill("input[name=price]", "39.50")
    page.click("#product button[type=submit]")
    expect(page.locator("#saved")).to_have_text("Product saved.")
    expect(page.locator("#public")).to_contain_text("$39.50")

    # Upload: the presigned PUT goes to the files bucket; the product then has the file
    pdf = tmp_path / "course notes.pdf"
    pdf.write_bytes(b"%PDF-1.4 course notes\n" * 64)
    page.set_input_files("input[type=file]", str(pdf))
    page.click("#upload button[type=submit]")
    expect(page.locator("#saved")).to_have_text("File uploaded: course notes.pdf.")
    expect(page.locator("#current-file")).to_have_text("Current file: course notes.pdf (1.4 KB)")
    status, _, stored = web_stack.call("GET", f"/products/{item['id']}", token=seller.token)
    assert status == 200
    assert (stored["price"], stored["file"]) == (
        3950,
        {"filename": "course notes.pdf", "size": pdf.stat().st_size},
    )

    # Delete asks once more, then the product is gone
    page.click("#delete-ask")
    page.click("#delete-cancel")
    expect(page.locator("#delete-ask")).to_be_visible()
    page.click("#delete-ask")
    page.click("#delete-confirm")
    expect(page).to_have_url(f"{web_url}/dashboard/products")
    expect(page.locator("#rows")).to_contain_text("No products yet")
    status, _, _ = web_stack.call("GET", f"/products/{item['id']}", token=seller.token)
    assert status == 404
