"""The HTTP front of the local stack (API Gateway on :3000)."""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from nexus_local import web
from nexus_local.apigw import MAX_PAYLOAD, Gateway, HttpRequest, HttpResponse, gateway_answer
from nexus_local.httpd import LocalHTTPServer, joined_headers, write_answer

log = logging.getLogger("nexus_local")


def docs_response(path: str, headers: dict[str, str]) -> HttpResponse | None:
    """The committed OpenAPI document (its server: this port, as the request's Host names
    it) and the web app's Swagger UI (web/docs/, its vendored assets), which are not API
    routes."""
    if path == "/openapi.json":
        return web.openapi_response(f"http://{headers.get('host', '127.0.0.1')}")
    if web.is_docs_path(path):
        site = web.Site()
        target = web.web_path(path)
        return site.file(target, headers.get("accept-encoding", ""))
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
        headers = joined_headers(self)
        docs = docs_response(split.path, headers) if self.command in ("GET", "HEAD") else None
        if docs is not None:
            response = docs
        elif length > MAX_PAYLOAD:
            response = gateway_answer(413, "Request Entity Too Large")
            self.close_connection = True
        else:
            body = self.rfile.read(length) if length > 0 else b""
            request = HttpRequest(
                method=self.command.upper(),
                path=split.path or "/",
                query=split.query,
                headers=headers,
                body=body,
                source_ip=self.client_address[0],
            )
            response = self.gateway.handle(request)
        write_answer(self, response.status, response.headers, response.body, response.cookies)

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
