"""Development secrets: taken from the environment when set, else generated once and kept
with the local data (so tokens and password hashes stay valid across restarts). An existing
file that lacks a name (one written before it existed) gains it; names it has that are no
longer used are left alone."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

NAMES = (
    "JWT_SECRET",
    "META_APP_SECRET",
    "PASSWORD_PEPPER",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "TOKEN_ENCRYPTION_KEY",
    "VISITOR_KEY",
)
# Stripe's keys look like Stripe's (test mode): the sandbox Stripe uses the same two values.
PREFIXES = {"STRIPE_SECRET_KEY": "sk_test_", "STRIPE_WEBHOOK_SECRET": "whsec_"}


def _generate(name: str) -> str:
    if name in PREFIXES:
        return PREFIXES[name] + secrets.token_hex(24)
    return secrets.token_urlsafe(48)


def load_or_create(path: Path) -> dict[str, str]:
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for name in NAMES:
        if name not in stored:
            stored[name] = _generate(name)
            changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(json.dumps(stored, indent=2), encoding="utf-8")
    return {name: os.environ.get(name) or stored[name] for name in NAMES}
