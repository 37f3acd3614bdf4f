"""Every hostile request class of issue 11 against the process-mode local stack over HTTP:
none gets a 5xx, each gets the status the contract names."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import jwt
import pytest

from nexus_local.fake_stripe import stripe_signature
from nexus_local.openapi import generate
from nexus_local.template import parse
from tests.support.api import TEST_SECRETS
from tests.support.stack import Stack, free_port, start_stack

pytestmark = pytest.mark.e2e

HOSTILE_BODIES: dict[str, tuple[bytes, int]] = {
    "[ x 100000": (b"[" * 100_000, 400),
    "{a: x 10000": (b'{"a":' * 10_000, 400),
    "NaN": (b'{"price": NaN}', 400),
    "duplicate key": (b'{"name": "a", "name": "b"}', 400),
    "integer beyond 64 bits": (b'{"price": 18446744073709551616}', 422),
    "lone surrogate": (b'{"name": "\\ud800"}', 422),
    "an object in a list": (b'[{"name": "a"}]', 422),
}
HOSTILE_QUERIES = [
    "/analytics/metrics?content_id=%00",
    "/analytics/metrics?to=0",
    "/analytics/runs?from=20261101",
    "/products?cursor=eyJ0IjoxLCJpIjp7fX0",
    "/orders?cursor=eyJ0IjoxLCJpIjp7fX0",
    "/orders?limit=0",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack(tmp_path_factory.mktemp("hostile"), free_port(), dict(TEST_SECRETS))
    yield s
    assert s.stop() == 0


def _send(
    stack: Stack,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    req = urllib.request.Request(stack.base + path, data=body, method=method)
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read().decode()


def test_no_hostile_request_gets_a_server_error(stack: Stack) -> None:
    status, _, seller = stack.call(
        "POST", "/auth/register", {"email": "hostile@example.com", "password": "a long passphrase"}
    )
    assert status == 201
    token = seller["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    answers: list[tuple[str, int, int]] = []
    spec = generate()["paths"]
    # The routes that read a JSON body (Meta's two callbacks take forms: a JSON body is 400).
    writes = [
        r
        for r in parse().routes
        if "application/json"
        in spec[r.path].get(r.method.lower(), {}).get("requestBody", {}).get("content", {})
    ]
    for route in writes:
        path = route.path
        for name in ("{product_id}", "{integration_id}"):
            path = path.replace(name, "00000000-0000-4000-8000-000000000000")
        for case, (body, expected) in HOSTILE_BODIES.items():
            headers = {"Content-Type": "application/json", **auth}
            if route.path == "/webhooks/stripe":  # signed: the body itself is refused
                headers["Stripe-Signature"] = stripe_signature(
                    TEST_SECRETS["STRIPE_WEBHOOK_SECRET"], body
                )
            status, media, _ = _send(stack, route.method, path, body, headers)
            answers.append((f"{route.method} {route.path} {case}", status, expected))
            assert media.startswith("application/problem+json"), (route.path, case, media)
    for query in HOSTILE_QUERIES:
        answers.append((f"GET {query}", _send(stack, "GET", query, headers=auth)[0], 422))
    now = int(time.time())
    odd_claims = {"sub": "admin", "org": "x", "iat": now, "exp": now + 600}
    forged = jwt.encode(
        {**odd_claims, "iss": "nexus-sales", "aud": "nexus-sales-api"},
        TEST_SECRETS["JWT_SECRET"],
        algorithm="HS256",
    )
    answers.append(
        (
            "non-UUID sub",
            _send(stack, "GET", "/auth/me", headers={"Authorization": f"Bearer {forged}"})[0],
            403,
        )
    )
    for method in ("TRACE", "PROPFIND", "BREW"):
        status, media, text = _send(stack, method, "/products", headers=auth)
        answers.append((method, status, 404))
        assert media.startswith("application/json") and json.loads(text) == {"message": "Not Found"}
    status, _, _ = _send(
        stack,
        "POST",
        "/products",
        b'{"name": "Ebook", "price": 100}',
        {"Content-Type": "APPLICATION/JSON; charset=UTF-8", **auth},
    )
    answers.append(("upper-case media type", status, 201))
    server_errors = [a for a in answers if a[1] >= 500]
    print(f"\n{len(answers)} hostile requests over HTTP: {len(server_errors)} answered 5xx")
    assert server_errors == []
    assert [a for a in answers if a[1] != a[2]] == []
