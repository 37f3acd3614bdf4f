"""docs/openapi.json is generated from the code and must not drift from it."""

from __future__ import annotations

from typing import Any

import pytest

from nexus_local.openapi import OUTPUT, generate, render
from nexus_local.template import parse


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return generate()


def test_committed_spec_matches_the_code(document: dict[str, Any]) -> None:
    assert OUTPUT.read_text(encoding="utf-8") == render(document), (
        "docs/openapi.json is out of date: run `make openapi`"
    )


def test_every_template_route_is_documented(document: dict[str, Any]) -> None:
    documented = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    assert documented == {(r.method, r.path) for r in parse().routes}


def test_protected_routes_declare_bearer_security_and_gateway_answers(
    document: dict[str, Any],
) -> None:
    for route in parse().routes:
        operation = document["paths"][route.path][route.method.lower()]
        if route.authorizer:
            assert operation["security"] == [{"bearerAuth": []}]
            assert {"401", "403"} <= operation["responses"].keys()
        else:
            assert "security" not in operation


def test_errors_are_problem_json(document: dict[str, Any]) -> None:
    for ops in document["paths"].values():
        for operation in ops.values():
            for code, response in operation["responses"].items():
                if int(code) >= 400 and code not in ("401", "403"):
                    assert list(response["content"]) == ["application/problem+json"]


def test_created_and_deleted_statuses(document: dict[str, Any]) -> None:
    assert "201" in document["paths"]["/products"]["post"]["responses"]
    assert "204" in document["paths"]["/products/{product_id}"]["delete"]["responses"]
    assert {"200", "201"} <= document["paths"]["/checkout"]["post"]["responses"].keys()
