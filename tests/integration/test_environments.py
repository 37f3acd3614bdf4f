"""Emulated execution environments share nothing a request depends on: concurrent requests
from different tenants through one runtime each see their own caller, body and answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from nexus_local.apigw import Gateway
from nexus_local.runtime import Runtime
from nexus_local.template import parse
from tests.support.api import Api


@pytest.fixture
def busy_api(database_url: str) -> Iterator[Api]:
    runtime = Runtime(parse(), concurrency=8)
    yield Api(Gateway(runtime.app, runtime))
    runtime.shutdown()


def test_concurrent_tenants_each_get_their_own_answers(busy_api: Api) -> None:
    """Given four sellers, when each creates products and asks who it is, 20 times at once,
    then every answer belongs to the seller who asked (caller, body and product alike)."""
    tokens = {f"t{i}@example.com": busy_api.seller(f"t{i}@example.com") for i in range(4)}
    ids = {email: busy_api.get("/auth/me", token=t).json()["id"] for email, t in tokens.items()}
    start = threading.Barrier(8)

    def ask(n: int) -> tuple[str, str, str, str]:
        email = list(tokens)[n % 4]
        if n < 8:
            start.wait()
        me = busy_api.get("/auth/me", token=tokens[email]).json()["id"]
        name = f"{email} #{n}"
        made = busy_api.post(
            "/products", json_body={"name": name, "price": 100}, token=tokens[email]
        )
        assert made.status == 201, made.text
        return email, me, name, made.json()["name"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(80)))
    assert all(me == ids[email] for email, me, _, _ in answers)
    assert all(sent == stored for _, _, sent, stored in answers)
    for email, token in tokens.items():
        listed = busy_api.get("/products?limit=100", token=token).json()["items"]
        assert len(listed) == 20
        assert all(p["name"].startswith(email) for p in listed)
