"""Screenshots of every page of the web app into docs/screens/ (``make screens``): a local
stack of its own (``--seed-demo``, a temporary data folder), Debian's chromium at 1280 px, the
en-US locale and UTC, driven as a person uses the app: a buyer pays for the demo seller's
course, the seller logs in, creates a product, connects the sandbox's Facebook account, syncs
it and reads the analytics. Run again, it makes the same pictures (dates and ids aside)."""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, expect, sync_playwright

from bench.web import CHROMIUM, launch
from nexus_local import demo
from tests.support.stack import Stack, free_port, start_stack

OUT = Path(__file__).resolve().parents[2] / "docs" / "screens"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


def shot(page: Page, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True, animations="disabled")
    print(f"docs/screens/{name}.png  {page.url}")


def api_token(stack: Stack) -> str:
    status, _, pair = stack.call(
        "POST", "/auth/login", {"email": demo.DEMO_EMAIL, "password": demo.DEMO_PASSWORD}
    )
    assert status == 200, pair
    return str(pair["access_token"])


def attach_file(stack: Stack, token: str, product_id: str) -> None:
    data = b"%PDF-1.4 Sourdough course workbook\n" * 200
    status, _, target = stack.call(
        "PUT",
        f"/products/{product_id}/file",
        {"filename": "workbook.pdf", "content_type": "application/pdf", "size": len(data)},
        token=token,
    )
    assert status == 200, target
    req = urllib.request.Request(target["upload_url"], data=data, method="PUT")
    for name, value in target["headers"].items():
        req.add_header(name, value)
    urllib.request.urlopen(req, timeout=30).close()


def wait_for_sync(stack: Stack, token: str, external_id: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        _, _, listed = stack.call("GET", "/integrations", token=token)
        for i in listed["items"]:
            run = i["last_run"] or {}
            if i["external_id"] == external_id and run.get("status") in ("ok", "partial"):
                return
        time.sleep(0.5)
    raise SystemExit(f"the sync of {external_id} did not finish")


def buyer(page: Page, web: str) -> None:
    course = demo.PRODUCTS[0].id
    page.goto(f"{web}/checkout/{course}")
    expect(page.locator("#buy")).to_be_visible()
    page.fill("input[name=email]", "bea@example.com")
    page.fill("input[name=name]", "Bea Buyer")
    shot(page, "checkout")
    page.click('button:has-text("Buy Now")')
    expect(page.locator('button:has-text("Pay")')).to_be_visible()
    page.click('button:has-text("Pay")')
    expect(page.locator("#download-link")).to_be_visible()
    shot(page, "success")


def public(page: Page, web: str) -> None:
    page.goto(f"{web}/")
    shot(page, "home")
    page.goto(f"{web}/auth/register")
    shot(page, "register")
    page.goto(f"{web}/auth/forgot")
    shot(page, "forgot")
    page.goto(f"{web}/auth/reset?token=from-the-email")
    expect(page).to_have_url(f"{web}/auth/reset")
    shot(page, "reset")
    page.goto(f"{web}/auth/login")
    page.fill("input[type=email]", demo.DEMO_EMAIL)
    page.fill("input[type=password]", "not the password")
    page.click("button[type=submit]")
    expect(page.locator("#login [role=alert]")).not_to_be_empty()
    shot(page, "login-error")


def seller(page: Page, web: str, stack: Stack, token: str) -> None:
    page.goto(f"{web}/auth/login")
    page.fill("input[type=email]", demo.DEMO_EMAIL)
    page.fill("input[type=password]", demo.DEMO_PASSWORD)
    shot(page, "login")
    page.click("button[type=submit]")
    expect(page.locator("#revenue .stat").first).to_be_visible()
    expect(page.locator("#attention li").first).not_to_have_text("Loading…")
    shot(page, "dashboard")

    page.goto(f"{web}/dashboard/products/new")
    page.fill("input[name=name]", "Bread photography presets")
    page.fill("textarea[name=description]", "Twelve Lightroom presets for warm, crusty loaves.")
    page.fill("input[name=price]", "29.99")
    page.click("button[type=submit]")
    expect(page.locator("text=Product created")).to_be_visible()
    shot(page, "product-new")
    page.goto(f"{web}/dashboard/products")
    expect(page.locator("#rows a").first).to_be_visible()
    shot(page, "products")
    page.goto(f"{web}/dashboard/products/{demo.PRODUCTS[0].id}")
    expect(page.locator("#upload")).to_be_visible()
    shot(page, "product")
    page.goto(f"{web}/dashboard/orders")
    expect(page.locator("#rows tr[data-order]").first).to_be_visible()
    shot(page, "orders")

    page.goto(f"{web}/dashboard/integrations")
    page.click('button:has-text("Connect Facebook")')
    page.click('button:has-text("Continue as Dana Demo")')
    expect(page.locator("#accounts")).to_be_visible()
    shot(page, "integrations-callback")
    page.click('button:has-text("Connect selected")')
    expect(page).to_have_url(re.compile(r"notice=connected"))
    page.locator("#rows tr", has_text="Facebook Page · 1010").locator(
        'button:has-text("Sync now")'
    ).click()
    wait_for_sync(stack, token, "1010")
    page.reload()
    expect(page.locator("#rows tr[data-integration]").first).to_be_visible()
    shot(page, "integrations")

    page.goto(f"{web}/dashboard/analytics")
    expect(page.locator("#chart canvas").first).to_be_visible()
    page.click('button:has-text("Export CSV")')
    expect(page.locator("#export-download")).to_be_visible()
    shot(page, "analytics")


def main() -> int:
    if not CHROMIUM.exists():
        print(f"error: {CHROMIUM} is missing (make chromium)", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nexus-screens-") as data:
        stack = start_stack(
            Path(data),
            free_port(),
            {"BCRYPT_ROUNDS": "4", "LOCAL_ISOLATION": "thread"},
            ["--seed-demo"],
        )
        try:
            token = api_token(stack)
            attach_file(stack, token, demo.PRODUCTS[0].id)
            with sync_playwright() as playwright:
                browser = launch(playwright)
                try:
                    for part in (buyer, public):
                        context = browser.new_context(
                            viewport=VIEWPORT, locale="en-US", timezone_id="UTC"
                        )
                        part(context.new_page(), stack.web_url)
                        context.close()
                    context = browser.new_context(
                        viewport=VIEWPORT, locale="en-US", timezone_id="UTC"
                    )
                    seller(context.new_page(), stack.web_url, stack, token)
                    context.close()
                finally:
                    browser.close()
        finally:
            stack.stop()
    print(json.dumps({"screens": sorted(p.name for p in OUT.glob("*.png"))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
