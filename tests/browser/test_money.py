"""web/assets/money.js in the browser: prices typed in major units become integer minor units
by the currency's ISO 4217 exponent, by string arithmetic (no float rounding), and are shown
with Intl.NumberFormat."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

CASES = [
    ("29.99", "USD", 2999),
    ("0.29", "USD", 29),  # 0.29 * 100 is 28.999999999999996 in floating point
    ("1,5", "EUR", 150),
    (" 12 ", "GBP", 1200),
    ("500", "JPY", 500),
    ("1.250", "KWD", 1250),
    ("1.2345", "CLF", 12345),
    ("1000000", "USD", 100000000),
]
REFUSED = [
    ("29.999", "USD", "USD has at most 2 decimal places."),
    ("500.5", "JPY", "JPY has no decimal places: enter a whole number."),
    ("-1", "USD", "Enter the price as a number, e.g. 29.99."),
    ("1e3", "USD", "Enter the price as a number, e.g. 29.99."),
    ("", "USD", "Enter the price as a number, e.g. 29.99."),
]
SHOWN = [
    (2999, "USD", "$29.99"),
    (500, "JPY", "¥500"),
    (1250, "KWD", "KWD 1.250"),
    (0, "EUR", "€0.00"),
]


def _money(page: Page, web_url: str, expression: str, *args: Any) -> Any:
    page.goto(f"{web_url}/")
    return page.evaluate(
        f"async (args) => {{ const m = await import('/assets/money.js'); return {expression}; }}",
        list(args),
    )


@pytest.mark.parametrize(("text", "currency", "minor"), CASES)
def test_a_price_becomes_minor_units(
    page: Page, web_url: str, text: str, currency: str, minor: int
) -> None:
    assert _money(page, web_url, "m.toMinor(args[0], args[1])", text, currency) == minor


@pytest.mark.parametrize(("text", "currency", "why"), REFUSED)
def test_a_price_the_currency_cannot_hold_is_refused(
    page: Page, web_url: str, text: str, currency: str, why: str
) -> None:
    expression = (
        "(() => { try { m.toMinor(args[0], args[1]); return null }"
        " catch (e) { return e.message } })()"
    )
    assert _money(page, web_url, expression, text, currency) == why


@pytest.mark.parametrize(("minor", "currency", "shown"), SHOWN)
def test_an_amount_is_shown_in_major_units(
    page: Page, web_url: str, minor: int, currency: str, shown: str
) -> None:
    formatted = _money(page, web_url, "m.formatMoney(args[0], args[1])", minor, currency)
    assert formatted.replace("\u00a0", " ") == shown
    # and back into an input's value
    major = _money(page, web_url, "m.toMajor(args[0], args[1])", minor, currency)
    assert _money(page, web_url, "m.toMinor(args[0], args[1])", major, currency) == minor
