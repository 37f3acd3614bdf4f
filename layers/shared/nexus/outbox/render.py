"""Emails from the templates beside this module: ``templates/<kind>.txt`` and ``.html``,
``string.Template`` placeholders (``${name}``), every value HTML-escaped in the HTML part.

Payloads (what writers store; see docs/architecture.md, "Email: the outbox"):
- verify_email, password_reset: ``{"name"}``; the link carries the row's secret;
- order_confirmation (to the buyer): ``{"order_id", "product_name", "amount", "currency",
  "name"}`` → ``/success?order={order_id}``;
- new_sale (to the seller): the same plus ``"buyer_email"`` → ``/dashboard/orders``;
- reconnect: ``{"integration_id", "provider", "external_id", "name"}`` (or an
  ``"integration_name"``) → ``/dashboard/integrations``.
Amounts are minor units, shown in major units by the currency's ISO 4217 exponent.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlencode

from nexus.outbox.models import Email

_TEMPLATES = Path(__file__).parent / "templates"

SUBJECTS = {
    "verify_email": "Confirm your email address",
    "password_reset": "Reset your Nexus Sales password",
    "order_confirmation": "Your order: ${product_name}",
    "new_sale": "New sale: ${product_name}",
    "reconnect": "Reconnect ${integration_name} to Nexus Sales",
}
# Currencies whose minor unit is not a hundredth (ISO 4217 exponents other than 2).
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3}


@cache
def _template(kind: str, suffix: str) -> Template:
    return Template((_TEMPLATES / f"{kind}.{suffix}").read_text(encoding="utf-8"))


def money(amount: int, currency: str) -> str:
    exponent = _EXPONENTS.get(currency.upper(), 2)
    if exponent == 0:
        return f"{amount} {currency}"
    whole, part = divmod(abs(amount), 10**exponent)
    sign = "-" if amount < 0 else ""
    return f"{sign}{whole}.{part:0{exponent}d} {currency}"


def link(kind: str, payload: dict[str, Any], secret: str | None, base_url: str) -> str:
    base = base_url.rstrip("/")
    match kind:
        case "verify_email":
            return f"{base}/auth/verify?{urlencode({'token': secret or ''})}"
        case "password_reset":
            return f"{base}/auth/reset?{urlencode({'token': secret or ''})}"
        case "order_confirmation":
            return f"{base}/success?{urlencode({'order': payload.get('order_id', '')})}"
        case "new_sale":
            return f"{base}/dashboard/orders"
        case _:
            return f"{base}/dashboard/integrations"


def values(kind: str, payload: dict[str, Any], secret: str | None, base_url: str) -> dict[str, str]:
    """Every placeholder's text (plain, not escaped)."""
    found = {k: "" if v is None else str(v) for k, v in payload.items()}
    found["name"] = str(payload.get("name") or "there")
    if "amount" in payload:
        found["amount"] = money(int(payload["amount"]), str(payload.get("currency") or ""))
    if kind == "reconnect" and not payload.get("integration_name"):
        provider = str(payload.get("provider") or "facebook").capitalize()
        found["integration_name"] = f"your {provider} Page {payload.get('external_id', '')}".strip()
    found["link"] = link(kind, payload, secret, base_url)
    return found


def render(
    *,
    outbox_id: str,
    kind: str,
    recipient: str,
    payload: dict[str, Any],
    secret: str | None,
    base_url: str,
) -> Email:
    plain = values(kind, payload, secret, base_url)
    escaped = {k: html.escape(v, quote=True) for k, v in plain.items()}
    # A subject is one line whatever a payload holds (no header folding from a name).
    subject = " ".join(Template(SUBJECTS[kind]).safe_substitute(plain).split())
    return Email(
        outbox_id=outbox_id,
        kind=kind,
        to=recipient,
        subject=subject,
        text=_template(kind, "txt").safe_substitute(plain),
        html=_template(kind, "html").safe_substitute(escaped),
    )
