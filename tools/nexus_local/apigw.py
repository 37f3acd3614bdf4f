"""API Gateway HTTP API emulation: route matching, payload format 2.0 events, the Lambda
authorizer (simple responses, cached by identity source) and the answers API Gateway gives
itself (401/403/404/413/500 with a {"message": ...} body)."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from nexus_local.runtime import InvocationError, Runtime
from nexus_local.template import App, Authorizer, Route

# API Gateway's own payload limit for HTTP APIs.
MAX_PAYLOAD = 10 * 1024 * 1024
API_ID = "localapi"


@dataclass
class HttpRequest:
    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    source_ip: str = "127.0.0.1"


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    cookies: list[str] = field(default_factory=list)


def gateway_answer(status: int, message: str) -> HttpResponse:
    body = json.dumps({"message": message}).encode()
    return HttpResponse(status, {"Content-Type": "application/json"}, body)


def _request_context(req: HttpRequest, route_key: str, request_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "accountId": "000000000000",
        "apiId": API_ID,
        "domainName": req.headers.get("host", "127.0.0.1"),
        "domainPrefix": "127",
        "http": {
            "method": req.method,
            "path": req.path,
            "protocol": "HTTP/1.1",
            "sourceIp": req.source_ip,
            "userAgent": req.headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }


def build_event(
    req: HttpRequest,
    route_key: str,
    path_parameters: dict[str, str] | None = None,
    authorizer_context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A payload format 2.0 event as API Gateway builds it."""
    headers = {k.lower(): v for k, v in req.headers.items() if k.lower() != "cookie"}
    cookies = [c.strip() for c in req.headers.get("cookie", "").split(";") if c.strip()]
    query: dict[str, str] = {}
    for key, value in parse_qsl(req.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": req.path,
        "rawQueryString": req.query,
        "headers": headers,
        "requestContext": _request_context(req, route_key, str(uuid.uuid4())),
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if authorizer_context is not None:
        event["requestContext"]["authorizer"] = {"lambda": authorizer_context}
    if req.body:
        media_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
        text = _as_text(req.body, media_type)
        if text is None:
            # As API Gateway does: a body of any other media type arrives base64-encoded.
            event["body"] = base64.b64encode(req.body).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
    return event


def _as_text(body: bytes, media_type: str) -> str | None:
    """The body as API Gateway passes it to Lambda as text, or None for base64."""
    if not _is_text(media_type):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _is_text(media_type: str) -> bool:
    """The media types API Gateway passes to Lambda as text."""
    major, _, minor = media_type.partition("/")
    return major == "text" or (
        major == "application"
        and (minor in ("json", "xml", "javascript") or minor.endswith(("+json", "+xml")))
    )


def to_http_response(result: Any) -> HttpResponse:
    """Lambda's payload 2.0 response (or a bare value) to HTTP, as API Gateway maps it."""
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        raw = result.get("body") or ""
        body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        return HttpResponse(
            int(result["statusCode"]), headers, body, list(result.get("cookies") or [])
        )
    body = (result if isinstance(result, str) else json.dumps(result)).encode()
    return HttpResponse(200, {"Content-Type": "application/json"}, body)


class Gateway:
    def __init__(self, app: App, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.app.routes:
            if route.method not in (method, "ANY"):
                continue
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None

    def _authorize(
        self, authorizer: Authorizer, req: HttpRequest, route: Route, params: dict[str, str]
    ) -> dict[str, Any] | HttpResponse:
        lower = {k.lower(): v for k, v in req.headers.items()}
        sources = [lower.get(h.lower()) for h in authorizer.identity_headers]
        if any(not s for s in sources):
            return gateway_answer(401, "Unauthorized")
        identity = tuple(str(s) for s in sources)
        key = (authorizer.name, identity)
        with self._lock:
            cached = self._cache.get(key)
        if cached and cached[0] > time.monotonic():
            context = cached[1]
        else:
            event = build_event(req, route.route_key, params)
            event.update(
                {
                    "type": "REQUEST",
                    "routeArn": (
                        f"arn:aws:execute-api:us-east-1:000000000000:{API_ID}/$default/"
                        f"{req.method}{req.path}"
                    ),
                    "identitySource": list(identity),
                }
            )
            try:
                result = self.runtime.invoke(authorizer.function_id, event)
            except InvocationError:
                return gateway_answer(500, "Internal Server Error")
            allowed = isinstance(result, dict) and result.get("isAuthorized") is True
            context = dict(result.get("context") or {}) if allowed else None
            if authorizer.ttl_seconds > 0:
                with self._lock:
                    self._cache[key] = (time.monotonic() + authorizer.ttl_seconds, context)
        if context is None:
            return gateway_answer(403, "Forbidden")
        return context

    def handle(self, req: HttpRequest) -> HttpResponse:
        if len(req.body) > MAX_PAYLOAD:
            return gateway_answer(413, "Request Entity Too Large")
        matched = self.match(req.method, req.path)
        if matched is None:
            return gateway_answer(404, "Not Found")
        route, params = matched
        authorizer_context: dict[str, Any] | None = None
        if route.authorizer:
            outcome = self._authorize(self.app.authorizers[route.authorizer], req, route, params)
            if isinstance(outcome, HttpResponse):
                return outcome
            authorizer_context = outcome
        event = build_event(req, route.route_key, params, authorizer_context)
        try:
            result = self.runtime.invoke(route.function_id, event)
        except InvocationError:
            return gateway_answer(500, "Internal Server Error")
        try:
            return to_http_response(result)
        except (ValueError, TypeError):
            return gateway_answer(500, "Internal Server Error")
