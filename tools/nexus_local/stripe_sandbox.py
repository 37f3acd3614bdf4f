"""The sandbox Stripe in the local stack: when ``STRIPE_API_BASE_URL`` is not set, ``make
local`` serves :class:`~nexus_local.fake_stripe.FakeStripe` on ``STRIPE_SANDBOX_PORT``
(default 3004; 0 picks a free port) with the stack's own ``STRIPE_SECRET_KEY`` and
``STRIPE_WEBHOOK_SECRET``, sends its signed webhooks to the stack's ``POST
/webhooks/stripe``, and gives the functions its URL as ``STRIPE_API_BASE_URL`` (as the
sandbox Graph server is given as ``GRAPH_API_BASE_URL``)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from nexus_local.fake_stripe import FakeStripe

DEFAULT_PORT = 3004
WEBHOOK_PATH = "/webhooks/stripe"


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the stack serves the sandbox: no Stripe API was named."""
    env = os.environ if environ is None else environ
    return not env.get("STRIPE_API_BASE_URL")


def port(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    return int(env.get("STRIPE_SANDBOX_PORT") or DEFAULT_PORT)


def start(host: str, listen_port: int, api_url: str) -> FakeStripe:
    """Serve the sandbox on ``host:listen_port`` with the secrets in this process's
    environment (the stack has put them there), webhooks to the HTTP API at ``api_url``;
    sets ``STRIPE_API_BASE_URL`` for the functions."""
    sandbox = FakeStripe(
        os.environ["STRIPE_SECRET_KEY"],
        os.environ["STRIPE_WEBHOOK_SECRET"],
        webhook_url=api_url.rstrip("/") + WEBHOOK_PATH,
    )
    url = sandbox.start(port=listen_port, host=host)
    if host in ("0.0.0.0", ""):  # what a browser on this machine opens (checkout_url)
        url = url.replace(f"//{host}:", "//127.0.0.1:", 1)
        sandbox.base_url = url
    os.environ["STRIPE_API_BASE_URL"] = url
    return sandbox
