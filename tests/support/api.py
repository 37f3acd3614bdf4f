"""Helpers for tests that call the API in-process: the test secrets, a Lambda context, and an
API client that goes through the template's routes and authorizer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_local.apigw import Gateway, HttpRequest, HttpResponse
from nexus_local.runtime import LambdaContext

ROOT = Path(__file__).resolve().parents[2]

TEST_SECRETS = {
    "JWT_SECRET": "test-jwt-secret-" + "0123456789abcdef" * 4,
    "META_APP_SECRET": "test-meta-app-secret-0123456789",
    "PASSWORD_PEPPER": "test-pepper-0123456789",
    "STRIPE_SECRET_KEY": "sk_test_nexus_0123456789abcdef",
    "STRIPE_WEBHOOK_SECRET": "whsec_test_nexus_0123456789abcdef",
    "TOKEN_ENCRYPTION_KEY": "test-token-encryption-key-0123456789abcdef",
    "VISITOR_KEY": "test-visitor-key-0123456789abcdef",
}


def lambda_context(name: str = "test") -> Any:
    return LambdaContext(
        function_name=name,
        memory_limit_in_mb=512,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
        aws_request_id="req-test",
        deadline=1e12,
    )


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str
    cookies: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.text)

    def header(self, name: str) -> str | None:
        return {k.lower(): v for k, v in self.headers.items()}.get(name.lower())


class Api:
    """Calls the API as API Gateway would: template routes, the Lambda authorizer, handlers."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        source_ip: str = "127.0.0.1",
    ) -> Reply:
        hdrs = {"host": "127.0.0.1:3000", "user-agent": "pytest"}
        if json_body is not None:
            body = json.dumps(json_body)
            hdrs["content-type"] = "application/json"
        if token is not None:
            hdrs["authorization"] = f"Bearer {token}"
        hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
        raw = body.encode() if isinstance(body, str) else (body or b"")
        path, _, query = path.partition("?")
        resp: HttpResponse = self.gateway.handle(
            HttpRequest(
                method=method, path=path, query=query, headers=hdrs, body=raw, source_ip=source_ip
            )
        )
        return Reply(
            resp.status, resp.headers, resp.body.decode("utf-8", "replace"), list(resp.cookies)
        )

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Reply:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Reply:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.request("DELETE", path, **kw)

    def seller(self, email: str) -> str:
        """Register a seller and return their access token."""
        reply = self.post(
            "/auth/register", json_body={"email": email, "password": "correct horse battery"}
        )
        assert reply.status == 201, reply.text
        return str(reply.json()["access_token"])

    def product(self, token: str, **fields: Any) -> dict[str, Any]:
        body = {"name": "Ebook", "price": 1999, **fields}
        reply = self.post("/products", json_body=body, token=token)
        assert reply.status == 201, reply.text
        return dict(reply.json())


def assert_problem(reply: Reply, status: int) -> dict[str, Any]:
    assert reply.status == status, reply.text
    assert reply.header("content-type") == "application/problem+json"
    body = reply.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    assert "Traceback" not in reply.text
    return dict(body)
