"""Connecting Meta accounts in the browser through the sandbox Graph's Login dialog, and the
analytics page after a sync: the chart of daily views and engagements, the top posts with
their text, the sales funnel and the CSV export."""

from __future__ import annotations

import re
import urllib.request
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import Origins
from tests.browser.people import Seller, log_in, new_seller, product, settle
from tests.support.stack import Stack

FINAL_RUNS = {"ok", "partial", "needs_reauth", "failed"}


def _connect_dana(page: Page, web_url: str, origins: Origins) -> None:
    """Connect Facebook → the dialog (Dana Demo) → the callback → Connect selected."""
    page.goto(f"{web_url}/dashboard/integrations")
    page.click('button:has-text("Connect Facebook")')
    expect(page).to_have_url(re.compile(rf"^{re.escape(origins.graph)}/v[\d.]+/dialog/oauth\?"))
    page.click('button:has-text("Continue as Dana Demo")')
    # Back on the web app: the code and state are redeemed and leave the address bar
    expect(page).to_have_url(f"{web_url}/dashboard/integrations/callback")
    choices = page.locator("#choices")
    expect(choices).to_contain_text("Demo Bakery · Facebook Page")
    expect(choices).to_contain_text("Demo Bakery (@demo.bakery) · Instagram")
    expect(choices).to_contain_text("Demo Studio · Facebook Page")
    page.uncheck("label:has-text('Demo Studio') input")
    page.click('button:has-text("Connect selected")')
    expect(page).to_have_url(f"{web_url}/dashboard/integrations?notice=connected")


def _integrations(stack: Stack, seller: Seller) -> list[dict[str, Any]]:
    status, _, listed = stack.call("GET", "/integrations", token=seller.token)
    assert status == 200
    items: list[dict[str, Any]] = listed["items"]
    return items


def test_connect_facebook_through_the_dialog_then_sync_now(
    page: Page, web_url: str, web_stack: Stack, origins: Origins
) -> None:
    seller = new_seller(web_stack)
    log_in(page, web_url, seller.email, seller.password)
    _connect_dana(page, web_url, origins)

    rows = page.locator("#rows tr[data-integration]")
    expect(rows).to_have_count(2)
    bakery = page.locator("#rows tr", has_text="Facebook Page · 1010")
    expect(bakery.locator(".badge").first).to_have_text("active")
    assert sorted((i["provider"], i["external_id"]) for i in _integrations(web_stack, seller)) == [
        ("facebook", "1010"),
        ("instagram", "17841400000001010"),
    ]

    # Connected already: the dialog offers it as such, not to connect twice
    page.click('button:has-text("Connect Facebook")')
    page.click('button:has-text("Continue as Dana Demo")')
    expect(page.locator("label", has_text="Demo Bakery · Facebook Page")).to_contain_text(
        "already connected"
    )
    expect(page.locator("label:has-text('Demo Bakery · Facebook Page') input")).to_be_disabled()

    # Sync now queues the page's job; the run it makes shows on the page
    page.goto(f"{web_url}/dashboard/integrations")
    bakery.locator('button:has-text("Sync now")').click()
    expect(page.locator("#notice")).to_have_text(
        "Sync of Demo Bakery queued: its metrics are fetched in a moment."
    )
    facebook = next(i for i in _integrations(web_stack, seller) if i["provider"] == "facebook")

    def finished() -> dict[str, Any] | None:
        run = next(i for i in _integrations(web_stack, seller) if i["id"] == facebook["id"])[
            "last_run"
        ]
        return run if run and run["status"] in FINAL_RUNS else None

    run = settle(finished, "the page's sync run")
    page.reload()
    expect(bakery).to_contain_text(f"{run['content_total'] - run['content_failed']} of")


def test_a_cancelled_dialog_connects_nothing(
    page: Page, web_url: str, web_stack: Stack, origins: Origins
) -> None:
    seller = new_seller(web_stack)
    log_in(page, web_url, seller.email, seller.password)
    page.goto(f"{web_url}/dashboard/integrations")
    page.click('button:has-text("Connect Facebook")')
    page.click('button:has-text("Cancel")')
    expect(page).to_have_url(f"{web_url}/dashboard/integrations/callback")
    expect(page.locator("#state")).to_contain_text("Nothing was connected.")
    assert _integrations(web_stack, seller) == []


def test_reconnect_on_an_account_that_needs_it(
    page: Page, web_url: str, web_stack: Stack, origins: Origins
) -> None:
    # An integration whose token Meta no longer takes (pasted by hand, an unknown token):
    # its sync marks it needs_reauth, and Reconnect through the dialog makes it active again.
    seller = new_seller(web_stack)
    status, _, stale = web_stack.call(
        "POST",
        "/integrations",
        {
            "provider": "facebook",
            "external_id": "1010",
            "name": "Old Bakery",
            "access_token": "demo-token-expired",
        },
        token=seller.token,
    )
    assert status == 201, stale
    status, _, _ = web_stack.call("POST", f"/integrations/{stale['id']}/sync", token=seller.token)
    assert status == 202
    settle(
        lambda: True if _integrations(web_stack, seller)[0]["status"] == "needs_reauth" else None,
        "the sync to find the token refused",
    )
    log_in(page, web_url, seller.email, seller.password)
    expect(page.locator("#attention")).to_contain_text("Old Bakery")
    page.goto(f"{web_url}/dashboard/integrations")
    row = page.locator("#rows tr", has_text="Old Bakery")
    expect(row.locator(".badge").first).to_have_text("needs reconnecting")
    row.locator('button:has-text("Reconnect")').click()
    page.click('button:has-text("Continue as Dana Demo")')
    expect(page.locator("label", has_text="Demo Bakery · Facebook Page")).not_to_contain_text(
        "already connected"
    )
    page.uncheck("label:has-text('Instagram') input")
    page.uncheck("label:has-text('Demo Studio') input")
    page.click('button:has-text("Connect selected")')
    expect(page).to_have_url(f"{web_url}/dashboard/integrations?notice=connected")
    expect(row.locator(".badge").first).to_have_text("active")
    assert [i["status"] for i in _integrations(web_stack, seller)] == ["active"]


def test_the_analytics_chart_after_a_sync(
    page: Page, web_url: str, web_stack: Stack, origins: Origins
) -> None:
    seller = new_seller(web_stack)
    sold = product(web_stack, seller, name="Sourdough course")
    log_in(page, web_url, seller.email, seller.password)
    _connect_dana(page, web_url, origins)
    page.locator("#rows tr", has_text="Facebook Page · 1010").locator(
        'button:has-text("Sync now")'
    ).click()
    expect(page.locator("#notice")).to_contain_text("queued")
    facebook = next(i for i in _integrations(web_stack, seller) if i["provider"] == "facebook")
    settle(
        lambda: (
            True
            if (
                next(i for i in _integrations(web_stack, seller) if i["id"] == facebook["id"])[
                    "last_run"
                ]
                or {}
            ).get("status")
            in FINAL_RUNS
            else None
        ),
        "the sync run",
    )
    # A visit to the product's store page, for the funnel
    with urllib.request.urlopen(f"{web_stack.base}/store/products/{sold['id']}", timeout=10):
        pass

    page.goto(f"{web_url}/dashboard/analytics")
    # The chart is drawn (uPlot's canvas), of 28 days, with views from the sync
    expect(page.locator("#chart canvas").first).to_be_visible()
    expect(page.locator("#chart")).to_have_attribute(
        "aria-label", re.compile(r"^Chart of views and engagements, 28 periods: [1-9][\d,]* views")
    )
    expect(page.locator("#buckets tr")).to_have_count(28)
    # Top posts with their text, and a link to each
    top = page.locator("#top tr")
    expect(top.first).to_contain_text(re.compile(r"Post \d+ on page 1010"))
    expect(top.first.locator("a")).to_have_text("View on Facebook")

    # The account filter: the Instagram account's posts alone (its media, once its own first
    # sync has run, or none yet), not the page's
    page.select_option("select[name=integration_id]", label="Demo Bakery (Instagram)")
    page.click('#filters button:has-text("Show")')
    expect(page.locator("#top")).not_to_contain_text("on page 1010")
    expect(page.locator("#top")).to_contain_text(re.compile(r"View on Instagram|No posts"))

    # The funnel of the seller's product: the store page view
    expect(page.locator("select[name=product_id]")).to_have_value(sold["id"])
    expect(page.locator("#conversion")).to_have_text(
        "1 page view → 0 checkouts (0%) → 0 paid orders (0%)"
    )

    # Export CSV: polled until ready, then offered as a link to the CSV
    page.click('button:has-text("Export CSV")')
    link = page.locator("#export-download")
    expect(link).to_have_text("Download CSV")
    href = link.get_attribute("href") or ""
    assert href.startswith(f"{origins.files}/"), href
    with urllib.request.urlopen(href, timeout=10) as resp:
        header = resp.read().decode().splitlines()[0]
    assert header.startswith("integration_id,provider,content_id,date,impressions")
