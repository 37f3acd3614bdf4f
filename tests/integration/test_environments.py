"""Emulated execution environments share nothing a request depends on: concurrent requests
from different tenants through one runtime each see their own caller, body and answer."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nexus.settings import get_settings
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


HANDLER = """
import os
from nexus.settings import get_settings


def lambda_handler(event, context):
    return {
        "db_user": get_settings().db_user,
        "database_url": get_settings().database_url,
        "service": os.environ.get("POWERTOOLS_SERVICE_NAME"),
        "only_one": os.environ.get("ONLY_ONE"),
    }
"""


def test_thread_mode_environments_read_their_own_function_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each worker thread reads its own function's template values where the functions
    differ (DB_USER, the service name), the test's own values (DATABASE_URL) elsewhere."""
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "app.py").write_text(HANDLER)
    functions = {
        name: {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": "code/",
                "Handler": "app.lambda_handler",
                "Environment": {"Variables": variables},
            },
        }
        for name, variables in {
            "One": {"DB_USER": "one_role", "POWERTOOLS_SERVICE_NAME": "one", "ONLY_ONE": "1"},
            "Two": {"DB_USER": "two_role", "POWERTOOLS_SERVICE_NAME": "two", "DATABASE_URL": ""},
        }.items()
    }
    monkeypatch.setenv("DATABASE_URL", "postgresql://test@127.0.0.1:1/test")
    monkeypatch.setenv("DB_USER", "the_test_process")
    get_settings.cache_clear()
    runtime = Runtime(parse({"Resources": functions}, root=tmp_path), concurrency=4)
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda n: (n, runtime.invoke(("One", "Two")[n % 2], {})), range(40))
            )
    finally:
        runtime.shutdown()
    for n, answer in answers:
        mine = ("one", "two")[n % 2]
        assert answer == {
            "db_user": f"{mine}_role",
            "database_url": "postgresql://test@127.0.0.1:1/test",
            "service": mine,
            "only_one": "1" if mine == "one" else None,
        }
    # And the test's own thread still sees its own values
    assert os.environ["DB_USER"] == "the_test_process"
    assert get_settings().db_user == "the_test_process"
