"""Schema-driven fuzzing of every route in the template (hypothesis): hostile path ids, query
strings, bodies, content types and tokens. No answer may be a 5xx or carry a traceback, and
every answer a function gives must be a status the OpenAPI document lists for that route,
with a body that validates against the schema it documents."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from nexus_local.openapi import generate
from nexus_local.template import Route, parse
from tests.support.api import Api, Reply

ROUTES = parse().routes
SPEC = generate()
GATEWAY_ANSWERS = {401, 403, 404, 413}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
hostile_text = st.sampled_from(
    ["", "0", "-1", "1e9", "null", "../../etc/passwd", "%00", "' OR 1=1 --", "\u0000", "é" * 300]
) | st.text(max_size=60)
field_names = st.sampled_from(
    [
        "name",
        "price",
        "description",
        "currency",
        "email",
        "password",
        "product_id",
        "event_id",
        "type",
        "order_id",
        "amount",
        "status",
    ]
)
bodies = st.one_of(
    json_values,
    st.dictionaries(field_names, json_values | hostile_text, max_size=6),
    st.binary(max_size=64),
)


def _validator(route: Route, status: int, content_type: str) -> Draft202012Validator | None:
    operation = SPEC["paths"][route.path][route.method.lower()]
    response = operation["responses"].get(str(status))
    assert response is not None, f"{route.route_key} answered {status}, not in the spec"
    content = response.get("content") or {}
    if not content:
        return None
    media = content.get(content_type.split(";", maxsplit=1)[0])
    assert media is not None, f"{route.route_key} {status} answered as {content_type}"
    return Draft202012Validator({**media["schema"], "components": SPEC["components"]})


def check(route: Route, reply: Reply) -> None:
    assert reply.status < 500, f"{route.route_key}: {reply.status} {reply.text[:300]}"
    assert "Traceback" not in reply.text
    content_type = reply.header("content-type") or ""
    if reply.status in GATEWAY_ANSWERS and content_type == "application/json":
        body = reply.json()
        if set(body) == {"message"}:
            return  # API Gateway's own answer, before any function ran
    validator = _validator(route, reply.status, content_type)
    if validator is not None:
        errors = sorted(validator.iter_errors(reply.json()), key=str)
        assert not errors, f"{route.route_key} {reply.status}: {errors[0].message}"


@pytest.fixture
def token(api: Api) -> str:
    return api.seller("fuzz@example.com")


@pytest.mark.parametrize("route", ROUTES, ids=[r.route_key for r in ROUTES])
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path_value=hostile_text,
    query=st.dictionaries(
        st.sampled_from(["limit", "cursor", "status", "x"]), hostile_text, max_size=3
    ),
    body=bodies,
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/merge-patch+json", ""]
    ),
    authed=st.booleans(),
)
def test_no_server_errors_and_no_answers_outside_the_spec(
    api: Api,
    token: str,
    route: Route,
    path_value: str,
    query: dict[str, str],
    body: Any,
    content_type: str,
    authed: bool,
) -> None:
    from urllib.parse import quote, urlencode

    path = route.path
    for name in route.pattern.groupindex:
        path = path.replace("{" + name + "}", quote(path_value, safe="") or "x")
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": content_type} if content_type else {}
    reply = api.request(
        route.method,
        path + ("?" + urlencode(query) if query else ""),
        body=raw if route.method in ("POST", "PATCH") else None,
        headers=headers,
        token=token if authed else None,
    )
    check(route, reply)


def test_valid_requests_conform_to_the_spec(api: Api, token: str) -> None:
    """The happy paths too: every success body matches its documented schema."""
    routes = {r.route_key: r for r in ROUTES}
    product = api.post("/products", json_body={"name": "P", "price": 100}, token=token)
    check(routes["POST /products"], product)
    pid = product.json()["id"]
    order = api.post("/checkout", json_body={"product_id": pid, "email": "b@example.com"})
    check(routes["POST /checkout"], order)
    oid = order.json()["id"]
    for key, path in [
        ("GET /products", "/products"),
        ("GET /products/{product_id}", f"/products/{pid}"),
        ("GET /store/products/{product_id}", f"/store/products/{pid}"),
        ("GET /checkout/orders/{order_id}", f"/checkout/orders/{oid}"),
        ("GET /orders", "/orders"),
        ("GET /orders/{order_id}", f"/orders/{oid}"),
        ("GET /auth/me", "/auth/me"),
    ]:
        reply = api.get(path, token=token)
        assert reply.status == 200, (key, reply.text)
        check(routes[key], reply)
    patched = api.patch(f"/products/{pid}", json_body={"price": 5}, token=token)
    check(routes["PATCH /products/{product_id}"], patched)
    deleted = api.delete(f"/products/{pid}", token=token)
    assert deleted.status == 204
    login = api.post(
        "/auth/login", json_body={"email": "fuzz@example.com", "password": "correct horse battery"}
    )
    check(routes["POST /auth/login"], login)
