"""The web app's currency list (web/assets/currencies.js) is the API's (nexus.models.currency):
a code the page offers that the API refuses, or one it leaves out, is a seller's dead end."""

from __future__ import annotations

import re
from pathlib import Path

from nexus.models.currency import ISO_4217

SCRIPT = Path(__file__).resolve().parents[2] / "web" / "assets" / "currencies.js"


def _listed(name: str, text: str) -> list[str]:
    match = re.search(rf"const {name} = (?:\[([^\]]*)\]|`([^`]*)`)", text)
    assert match, name
    return re.findall(r"[A-Z]{3}", match.group(1) or match.group(2))


def test_the_page_offers_exactly_the_currencies_the_api_accepts() -> None:
    text = SCRIPT.read_text(encoding="utf-8")
    offered = _listed("ALL", text)
    assert len(offered) == len(set(offered))
    assert set(offered) == ISO_4217
    assert set(_listed("COMMON", text)) <= ISO_4217
