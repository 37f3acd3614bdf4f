"""``make local ARGS=--seed-demo``: a demo seller with products and the sandbox's pages
connected, made through the API itself."""

from __future__ import annotations

import json
import logging

from nexus_local.apigw import Gateway, HttpRequest

log = logging.getLogger("nexus_local")
DEMO_EMAIL = "demo@nexus.local"
DEMO_PASSWORD = "nexus demo seller"  # noqa: S105 - printed in the banner on purpose
PAGES = [
    ("1010", "Demo Bakery", "demo-token-bakery"),
    ("2020", "Demo Studio", "demo-token-studio"),
    ("3030", "Demo Gallery", "demo-token-expired"),  # dead-letters until reconnected
]


def _call(
    gateway: Gateway, method: str, path: str, body: object, token: str | None = None
) -> tuple[int, dict[str, object]]:
    headers = {"content-type": "application/json", "host": "127.0.0.1"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    reply = gateway.handle(HttpRequest(method, path, "", headers, json.dumps(body).encode()))
    return reply.status, json.loads(reply.body or b"{}")


def seed(gateway: Gateway) -> str:
    """Create (or log in as) the demo seller; return a fresh access token."""
    credentials = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    status, body = _call(gateway, "POST", "/auth/register", {**credentials, "name": "Demo Seller"})
    if status == 409:
        status, body = _call(gateway, "POST", "/auth/login", credentials)
        return str(body.get("access_token", ""))
    token = str(body["access_token"])
    for name, price in (("Sourdough course", 4900), ("Studio presets", 1500)):
        _call(gateway, "POST", "/products", {"name": name, "price": price}, token)
    for page_id, name, page_token in PAGES:
        _call(
            gateway,
            "POST",
            "/integrations",
            {
                "provider": "facebook",
                "external_id": page_id,
                "name": name,
                "access_token": page_token,
            },
            token,
        )
    log.info("demo seller created")
    return token
