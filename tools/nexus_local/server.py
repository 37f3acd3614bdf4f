"""The HTTP front of the local stack (API Gateway on :3000)."""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from nexus_local.apigw import MAX_PAYLOAD, Gateway, HttpRequest, HttpResponse, gateway_answer
from nexus_local.httpd import LocalHTTPServer

log = logging.getLogger("nexus_local")

SWAGGER_UI = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>Nexus Sales API</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
</body></html>
"""


def docs_response(path: str) -> HttpResponse | None:
    """The committed OpenAPI document and a Swagger UI for it (not API routes)."""
    if path == "/openapi.json":
        # Imported here: nexus_local.openapi loads Powertools' OpenAPI models, 0.3 s that
        # every start of the stack would pay.
        from nexus_local.openapi import OUTPUT

        body = OUTPUT.read_bytes()
        return HttpResponse(200, {"Content-Type": "application/json"}, body)
    if path == "/docs":
        return HttpResponse(200, {"Content-Type": "text/html; charset=utf-8"}, SWAGGER_UI)
    return None


class _ApiHandler(BaseHTTPRequestHandler):
    gateway: Gateway  # set by make_api_server

    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes: without this, Nagle's algorithm and
    # delayed ACKs add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server_version = "nexus-local"

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        docs = docs_response(split.path) if self.command == "GET" else None
        if docs is not None:
            response = docs
        elif length > MAX_PAYLOAD:
            response = gateway_answer(413, "Request Entity Too Large")
            self.close_connection = True
        else:
            body = self.rfile.read(length) if length > 0 else b""
            headers: dict[str, str] = {}
            for key, value in self.headers.items():
                k = key.lower()
                headers[k] = f"{headers[k]},{value}" if k in headers else value
            request = HttpRequest(
                method=self.command.upper(),
                path=split.path or "/",
                query=split.query,
                headers=headers,
                body=body,
                source_ip=self.client_address[0],
            )
            response = self.gateway.handle(request)
        self.send_response(response.status)
        for key, value in response.headers.items():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        for cookie in response.cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def __getattr__(self, name: str) -> object:
        # Any other method (TRACE, PROPFIND, made-up ones) goes to the gateway too, which
        # answers as API Gateway does (no route: 404 JSON), not http.server's 501 HTML.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: object) -> None:
        log.info("%s %s", self.address_string(), format % args)


def make_api_server(host: str, port: int, gateway: Gateway) -> LocalHTTPServer:
    handler = type("Handler", (_ApiHandler,), {"gateway": gateway})
    return LocalHTTPServer((host, port), handler)
