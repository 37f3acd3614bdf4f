"""No request, however hostile, gets a 5xx or a traceback; each gets the status the contract
names, as problem+json (or API Gateway's own answer)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from functions.auth import app as auth_app
from nexus_local.fake_stripe import stripe_signature
from nexus_local.openapi import generate
from nexus_local.template import parse
from tests.support.api import TEST_SECRETS, Api, lambda_context

ROUTES = [("POST", "/auth/register"), ("POST", "/auth/login")]
_SPEC = generate()
# Every route that reads a JSON body (the document says which); a POST without one, such as
# logout-all, ignores whatever is sent. Meta's callbacks take forms (a JSON body there is a
# 400: tests/integration/test_meta_compliance.py).
BODY_ROUTES = [
    (r.method, r.path.replace("{product_id}", "00000000-0000-0000-0000-000000000000"), r.authorizer)
    for r in parse().routes
    if "application/json"
    in _SPEC["paths"][r.path].get(r.method.lower(), {}).get("requestBody", {}).get("content", {})
]

HOSTILE_JSON: dict[str, Any] = {
    "array body": [],
    "string body": "hello",
    "number body": 42,
    "null body": None,
    "email number": {"email": 123, "password": "correct horse battery"},
    "password null": {"email": "a@example.com", "password": None},
    "password object": {"email": "a@example.com", "password": {"$ne": ""}},
    "email array": {"email": ["a@example.com"], "password": "correct horse battery"},
    "nul in email": {"email": "a\u0000@example.com", "password": "correct horse battery"},
    "nul in password": {"email": "a@example.com", "password": "correct\u0000horse battery"},
    "nul in name": {
        "email": "a@example.com",
        "password": "correct horse battery",
        "name": "A\u0000",
    },
    "sql metacharacters": {"email": "a'; DROP TABLE users;--@x.com", "password": "' OR '1'='1' --"},
    "extra field": {"email": "a@example.com", "password": "correct horse battery", "admin": True},
    "missing fields": {},
    "huge password": {"email": "a@example.com", "password": "p" * 100_000},
    "name too long": {
        "email": "a@example.com",
        "password": "correct horse battery",
        "name": "n" * 201,
    },
}


def assert_clean(reply: Any, expected: int) -> None:
    assert reply.status == expected, reply.text
    assert "Traceback" not in reply.text
    assert 'File "' not in reply.text
    assert reply.header("content-type") == "application/problem+json"


@pytest.mark.parametrize("method,path", ROUTES)
@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_invalid_json_values_are_422(api: Api, method: str, path: str, case: str) -> None:
    body = HOSTILE_JSON[case]
    # On login the SQL-looking values are a valid shape: just wrong credentials.
    expected = 401 if case == "sql metacharacters" and path == "/auth/login" else 422
    reply = api.request(
        method, path, body=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert_clean(reply, expected)


@pytest.mark.parametrize("method,path", ROUTES)
@pytest.mark.parametrize("raw", ["{", '{"email": ', "not json", '{"a":1}}', "\u0000", "[1,"])
def test_malformed_json_is_400(api: Api, method: str, path: str, raw: str) -> None:
    reply = api.request(method, path, body=raw, headers={"content-type": "application/json"})
    assert_clean(reply, 400)


@pytest.mark.parametrize("method,path", ROUTES)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_wrong_content_type_is_400(api: Api, method: str, path: str, content_type: str) -> None:
    body = json.dumps({"email": "a@example.com", "password": "correct horse battery"})
    reply = api.request(method, path, body=body, headers={"content-type": content_type})
    assert_clean(reply, 400)


@pytest.mark.parametrize("method,path", ROUTES)
def test_body_over_1_mib_is_413(api: Api, method: str, path: str) -> None:
    body = json.dumps({"email": "a@example.com", "password": "x" * (2 * 1024 * 1024)})
    reply = api.request(method, path, body=body, headers={"content-type": "application/json"})
    assert_clean(reply, 413)


def test_body_over_api_gateway_limit_is_gateway_413(api: Api) -> None:
    reply = api.request("POST", "/auth/login", body=b"x" * (10 * 1024 * 1024 + 1))
    assert reply.status == 413
    assert reply.json() == {"message": "Request Entity Too Large"}


def test_binary_body_that_is_not_utf8_is_400(make_event: Any) -> None:
    event = make_event("POST", "/auth/login", route_key="POST /auth/login")
    event["body"] = base64.b64encode(b"\xff\xfe\x00garbage").decode()
    event["isBase64Encoded"] = True
    result = auth_app.lambda_handler(event, lambda_context())
    assert result["statusCode"] == 400
    assert result["headers"]["Content-Type"] == "application/problem+json"


def test_base64_encoded_json_is_accepted(api: Api, make_event: Any) -> None:
    body = json.dumps({"email": "nobody@example.com", "password": "correct horse battery"})
    event = make_event("POST", "/auth/login", route_key="POST /auth/login")
    event["body"] = base64.b64encode(body.encode()).decode()
    event["isBase64Encoded"] = True
    result = auth_app.lambda_handler(event, lambda_context())
    assert result["statusCode"] == 401


@pytest.mark.parametrize(
    "path", ["/auth/../auth/me", "/auth/me/../../etc/passwd", "/auth/%00", "/AUTH/ME", "/auth/me/"]
)
def test_unrouted_paths_are_gateway_404(api: Api, path: str) -> None:
    reply = api.get(path)
    assert reply.status == 404
    assert reply.json() == {"message": "Not Found"}


def test_unknown_route_reaching_the_function_is_problem_404(make_event: Any) -> None:
    event = make_event("GET", "/auth/nowhere", route_key="GET /auth/nowhere")
    result = auth_app.lambda_handler(event, lambda_context())
    assert result["statusCode"] == 404
    assert json.loads(result["body"])["status"] == 404


@pytest.mark.parametrize("method,path,protected", BODY_ROUTES)
@pytest.mark.parametrize(
    "raw,status",
    [
        (b"x" * (2 * 1024 * 1024), 413),
        (b"{", 400),
        (b"[1, 2", 400),
        (b"[" * 100_000, 400),
        (b'{"a":' * 10_000, 400),
        (b'{"a":' * 40 + b"1" + b"}" * 40, 400),
        (b'{"name": NaN, "price": Infinity}', 400),
        (b'{"name": "a", "name": "b", "price": 1}', 400),
        (b'{"name": "a", "price": 18446744073709551616}', 422),
        (b'{"name": "a", "price": 1e400}', 422),
        (b'{"name": "\\udfff", "price": 1}', 422),
        (b'[{"name": "a", "price": 1, "date": null}]', 422),
        (b"null", 422),
    ],
    ids=[
        "2 MB",
        "truncated object",
        "truncated array",
        "[ x 100000",
        "{a: x 10000",
        "nested 40 deep",
        "NaN and Infinity",
        "duplicate key",
        "integer beyond 64 bits",
        "double overflow",
        "lone surrogate",
        "an object in a list",
        "null",
    ],
)
def test_every_body_route_refuses_huge_and_malformed_bodies(
    api: Api, method: str, path: str, protected: str | None, raw: bytes, status: int
) -> None:
    token = api.seller("hostile@example.com") if protected else None
    headers = {"content-type": "application/json"}
    if path == "/webhooks/stripe":
        headers["stripe-signature"] = stripe_signature(TEST_SECRETS["STRIPE_WEBHOOK_SECRET"], raw)
    reply = api.request(method, path, body=raw, headers=headers, token=token)
    assert_clean(reply, status)


def test_unsigned_webhook_is_401_whatever_the_body(api: Api) -> None:
    reply = api.request(
        "POST", "/webhooks/stripe", body=b"{", headers={"content-type": "application/json"}
    )
    assert_clean(reply, 401)


LONE_SURROGATE = '"\\ud800"'  # a valid JSON escape that is no valid Unicode text


@pytest.mark.parametrize(
    "path,template",
    [
        ("/auth/login", '{"email": "a@example.com", "password": %s}'),
        ("/auth/register", '{"email": "a@example.com", "password": %s}'),
        ("/auth/register", '{"email": "a@example.com", "password": "long enough", "name": %s}'),
        ("/checkout", '{"product_id": %s, "email": "a@example.com"}'),
    ],
)
def test_lone_surrogates_are_422_not_a_crash(api: Api, path: str, template: str) -> None:
    body = template.replace("%s", LONE_SURROGATE)
    reply = api.request("POST", path, body=body, headers={"content-type": "application/json"})
    assert_clean(reply, 422)


def test_lone_surrogates_in_seller_fields_are_422(api: Api) -> None:
    token = api.seller("surrogate@example.com")
    for path, body in [
        ("/products", f'{{"name": {LONE_SURROGATE}, "price": 1}}'),
        (
            "/integrations",
            '{"provider": "facebook", "external_id": "1", "name": "P",'
            f' "access_token": {LONE_SURROGATE}}}',
        ),
    ]:
        reply = api.request(
            "POST", path, body=body, headers={"content-type": "application/json"}, token=token
        )
        assert_clean(reply, 422)


# Every GET route that takes a query, with a valid value for each of its parameters.
QUERY_ROUTES = {
    "/products": {"limit": "5"},
    "/orders": {"limit": "5", "status": "paid"},
    "/analytics/metrics": {"from": "2026-11-01", "to": "2026-11-02", "content_id": "p-1"},
    "/analytics/runs": {"from": "2026-11-01", "to": "2026-11-02"},
}
# (parameter, hostile value) classes of contract §6; each must be a 422 at that parameter
# wherever the route takes the parameter.
HOSTILE_QUERY = [
    ("limit", "0"),
    ("limit", "100001"),
    ("limit", "-1"),
    ("limit", "1e3"),
    ("limit", "%00"),
    ("cursor", "bogus"),
    ("cursor", "%00"),
    ("cursor", "eyJ0IjoxLCJpIjp7fX0"),  # {"t":1,"i":{}}: decodes, to the wrong types
    ("cursor", "W10"),  # []: decodes, to the wrong shape
    ("cursor", "x" * 600),
    ("status", "shipped"),
    ("status", "%00"),
    ("from", "0"),
    ("from", "20261101"),
    ("from", "2026-13-01"),
    ("to", "0"),
    ("to", ""),
    ("to", "%EF%BC%92026-11-02"),  # a full-width digit
    ("integration_id", "not-a-uuid"),
    ("integration_id", "%00"),
    ("integration_id", "{00000000-0000-0000-0000-000000000000}"),
    ("content_id", "%00"),
    ("content_id", "a%01b"),
    ("content_id", "a%7Fb"),
    ("content_id", "x" * 256),
]
QUERY_CASES = [
    (path, name, value)
    for path, valid in QUERY_ROUTES.items()
    for name, value in HOSTILE_QUERY
    if name in valid
    or (name in ("limit", "cursor") and path in ("/products", "/orders"))
    or (name in ("integration_id", "from", "to") and path.startswith("/analytics"))
    or (name == "cursor" and path == "/analytics/metrics")
    or (name == "limit" and path == "/analytics/metrics")
]


@pytest.mark.parametrize(("path", "name", "value"), QUERY_CASES)
def test_every_hostile_query_value_is_422_at_its_parameter(
    api: Api, path: str, name: str, value: str
) -> None:
    token = api.seller("query@example.com")
    query = "&".join(f"{k}={v}" for k, v in {**QUERY_ROUTES[path], name: value}.items())
    reply = api.get(f"{path}?{query}", token=token)
    assert_clean(reply, 422)
    assert ["query", name] in [e["loc"] for e in reply.json()["errors"]]


@pytest.mark.parametrize("path", sorted(QUERY_ROUTES))
def test_the_valid_query_of_every_route_is_answered(api: Api, path: str) -> None:
    token = api.seller("query@example.com")
    query = "&".join(f"{k}={v}" for k, v in QUERY_ROUTES[path].items())
    assert api.get(f"{path}?{query}", token=token).status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/products/%00",
        "/products/..%2F..%2Fetc",
        "/orders/%00",
        "/checkout/orders/%00",
        "/store/products/%00",
        "/products/{00000000-0000-0000-0000-000000000000}",
    ],
)
def test_hostile_path_ids_are_404(api: Api, path: str) -> None:
    token = api.seller("path@example.com")
    reply = api.get(path, token=token)
    assert reply.status == 404, reply.text
    assert "Traceback" not in reply.text
