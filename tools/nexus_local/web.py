"""The web app on ``WEB_BASE_URL`` (``http://127.0.0.1:8080``, ``WEB_PORT``), served as the
CloudFront distribution serves it on AWS: ``web/`` as the S3 origin, and ``/api/*`` to the
HTTP API with the prefix removed.

URL → file (the CloudFront viewer-request function maps exactly the same way):

1. ``/api`` and ``/api/...`` → the HTTP API with ``/api`` removed (``/api/auth/login?x=1`` →
   ``/auth/login?x=1``): every method, headers, cookies and body passed both ways, never
   cached, not compressed (CloudFront compresses nothing under a policy that caches nothing);
2. ``/`` → ``/index.html``;
3. ``/checkout/<one segment without a dot>`` → ``/checkout/_/index.html``;
4. ``/dashboard/products/<one segment without a dot, not "new">`` →
   ``/dashboard/products/_/index.html``;
5. any other path whose last segment has no dot → ``<path without trailing slash>/index.html``;
6. a path with an extension → itself; a file that does not exist → 404 with ``/404.html``'s body.

Every web (non-``/api``) answer carries the security headers of the distribution's response
headers policy (:func:`security_headers`; HSTS only on AWS: this is plain HTTP). Text assets
of 1,000 bytes to 10 MB are gzipped for a client that accepts it, as CloudFront's
``Compress: true`` does (CloudFront prefers Brotli when the viewer offers it, which is
smaller: a weight measured here is an upper bound).

The proxy calls the stack's API Gateway in process, as CloudFront reaches API Gateway: the
browser's address is the request's ``sourceIp`` (CloudFront's own address on AWS, where the
API reads ``CloudFront-Viewer-Address`` instead, trusted through the origin-verify header;
locally the secret is not set and ``sourceIp`` is the browser), and it is appended to
``X-Forwarded-For`` as CloudFront appends it. The ``Host`` the browser sent is kept, so the
refresh cookie knows it is on loopback (no ``Secure`` over plain HTTP).

``GET /openapi.json`` names the server the browser used: here ``<origin>/api``, on the API's
own port ``<origin>`` (:func:`openapi_response`). Swagger UI at ``/docs`` is ``web/docs/``
with ``web/vendor/swagger-ui/`` (pinned, vendored: no CDN), on both ports.

Request lines are logged without their query: the pages that exchange an email's single-use
token (``/auth/reset?token=...``) carry it there.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from nexus_local.apigw import MAX_PAYLOAD, HttpRequest, HttpResponse, gateway_answer
from nexus_local.httpd import LocalHTTPServer, joined_headers, write_answer
from nexus_local.template import ROOT

log = logging.getLogger("nexus_local")

WEB_ROOT = ROOT / "web"
DEFAULT_PORT = 8080
API_PREFIX = "/api"
NOT_FOUND_PAGE = "/404.html"
# The Swagger UI's page, its start-up script and the vendored assets (also on the API port).
DOCS_PAGE = "/docs"
DOCS_ASSETS = ("/docs/", "/vendor/swagger-ui/")

# Headers that belong to one connection, not to the request (RFC 9110 7.6.1): a proxy drops them.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_CHECKOUT = re.compile(r"/checkout/[^/.]+")
_PRODUCT = re.compile(r"/dashboard/products/(?!new$)[^/.]+")

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}
# What CloudFront compresses (its list of file types), between these sizes.
_COMPRESSIBLE = (
    "text/",
    "application/javascript",
    "application/json",
    "application/manifest+json",
    "application/xml",
    "image/svg+xml",
    "image/x-icon",
)
COMPRESS_MIN, COMPRESS_MAX = 1_000, 10_000_000


def port(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    return int(env.get("WEB_PORT") or DEFAULT_PORT)


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(files_origin: str) -> str:
    """The web app's policy: everything from its own origin, fetches also to the files
    bucket (the presigned upload), nothing inline, no framing."""
    connect = " ".join(["'self'", *([files_origin] if files_origin else [])])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {connect}",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "manifest-src 'self'",
        ]
    )


def security_headers(files_origin: str) -> dict[str, str]:
    """The response headers of every web answer (the distribution's response headers
    policy, less HSTS, which plain HTTP cannot carry)."""
    return {
        "Content-Security-Policy": content_security_policy(files_origin),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }


def api_path(path: str) -> str | None:
    """The HTTP API's path for a web path under ``/api`` (``/api`` alone is ``/``), else None."""
    if path == API_PREFIX:
        return "/"
    if path.startswith(API_PREFIX + "/"):
        return path[len(API_PREFIX) :]
    return None


def web_path(path: str) -> str:
    """The file (a path in ``web/``) that answers a web path (rules 2-6 above)."""
    if path == "/":
        return "/index.html"
    if _CHECKOUT.fullmatch(path):
        return "/checkout/_/index.html"
    if _PRODUCT.fullmatch(path):
        return "/dashboard/products/_/index.html"
    if "." in path.rsplit("/", 1)[-1]:
        return path
    return path.rstrip("/") + "/index.html"


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (``gzip`` or ``*``, q above 0)."""
    allowed: dict[str, bool] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        allowed[coding.strip().lower()] = quality > 0
    return allowed.get("gzip", allowed.get("*", False))


def _compressible(content_type: str, size: int) -> bool:
    return COMPRESS_MIN <= size <= COMPRESS_MAX and content_type.startswith(_COMPRESSIBLE)


@functools.lru_cache(maxsize=256)
def _gzipped(path: Path, mtime_ns: int, size: int) -> bytes:
    """The file gzipped, once per version of it (the vendored bundles are over a megabyte)."""
    return gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)


def _file_in(root: Path, file_path: str) -> Path | None:
    """The file ``file_path`` (URL-encoded, as an S3 key arrives) names under ``root``, or
    None: missing, a folder, or outside ``root`` (``..``, a link out)."""
    segments = unquote(file_path).split("/")[1:]
    if any(s in ("", ".", "..") or "\\" in s or "\x00" in s for s in segments):
        return None
    candidate = root.joinpath(*segments)
    try:
        resolved = candidate.resolve(strict=True)
    except OSError:
        return None
    if not resolved.is_relative_to(root.resolve()) or not resolved.is_file():
        return None
    return resolved


@dataclass
class Site:
    """The files of ``root`` as the web origin serves them, with the security headers."""

    root: Path = WEB_ROOT
    files_origin: str = ""
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = security_headers(self.files_origin)

    def file(self, file_path: str, accept_encoding: str = "", status: int = 200) -> HttpResponse:
        """``file_path`` (a path in ``root``) with its type, gzipped when the client accepts
        it; a missing one is the 404 page."""
        found = _file_in(self.root, file_path)
        if found is None:
            return self.not_found(accept_encoding)
        content_type = TYPES.get(found.suffix.lower(), "application/octet-stream")
        headers = {**self.headers, "Content-Type": content_type, "Cache-Control": "no-cache"}
        info = found.stat()
        if _compressible(content_type, info.st_size):
            headers["Vary"] = "Accept-Encoding"
            if accepts_gzip(accept_encoding):
                headers["Content-Encoding"] = "gzip"
                body = _gzipped(found, info.st_mtime_ns, info.st_size)
                return HttpResponse(status, headers, body)
        return HttpResponse(status, headers, found.read_bytes())

    def compressed(self, response: HttpResponse, accept_encoding: str) -> HttpResponse:
        """A generated answer (not a file) gzipped as CloudFront would."""
        content_type = response.headers.get("Content-Type", "")
        if _compressible(content_type, len(response.body)):
            response.headers["Vary"] = "Accept-Encoding"
            if accepts_gzip(accept_encoding):
                response.headers["Content-Encoding"] = "gzip"
                response.body = gzip.compress(response.body, compresslevel=6, mtime=0)
        return response

    def not_found(self, accept_encoding: str = "") -> HttpResponse:
        if _file_in(self.root, NOT_FOUND_PAGE) is not None:
            return self.file(NOT_FOUND_PAGE, accept_encoding, status=404)
        headers = {**self.headers, "Content-Type": "text/plain; charset=utf-8"}
        return HttpResponse(404, headers, b"Not Found\n")

    def answer(self, method: str, path: str, headers: Mapping[str, str]) -> HttpResponse:
        """A web request's answer (``headers`` in lower case)."""
        if method not in ("GET", "HEAD"):
            # What an origin of static files allows (CloudFront's default behaviour: GET, HEAD).
            response = HttpResponse(
                405,
                {**self.headers, "Allow": "GET, HEAD", "Content-Type": "text/plain"},
                b"Method Not Allowed\n",
            )
        elif path == "/openapi.json":
            response = openapi_response(f"http://{headers.get('host', '127.0.0.1')}{API_PREFIX}")
            response.headers.update(self.headers)
            response = self.compressed(response, headers.get("accept-encoding", ""))
        else:
            response = self.file(web_path(path), headers.get("accept-encoding", ""))
        return response


def is_docs_path(path: str) -> bool:
    """Whether the API's own port serves ``path`` from the web app (Swagger UI)."""
    return path == DOCS_PAGE or path.startswith(DOCS_ASSETS)


def openapi_response(server_url: str) -> HttpResponse:
    """The committed OpenAPI document with one server: the URL its reader used."""
    # Imported here: nexus_local.openapi loads Powertools' OpenAPI models, 0.3 s that every
    # start of the stack would pay.
    from nexus_local.openapi import OUTPUT

    document = json.loads(OUTPUT.read_bytes())
    document["servers"] = [{"url": server_url}]
    body = json.dumps(document, indent=2).encode()
    return HttpResponse(200, {"Content-Type": "application/json"}, body)


class Upstream(Protocol):
    """What the proxy sends ``/api`` requests to: the stack's API Gateway."""

    def handle(self, req: HttpRequest) -> HttpResponse: ...


class WebServer(LocalHTTPServer):
    site: Site
    gateway: Upstream | None

    def handle_error(self, request: object, client_address: object) -> None:
        # A browser drops keep-alive connections it no longer needs: not worth a traceback.
        if isinstance(sys.exception(), ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    @property
    def base_url(self) -> str:
        host, bound = str(self.server_address[0]), self.server_address[1]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{bound}"


class _WebHandler(BaseHTTPRequestHandler):
    server: WebServer

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as the API front: no 40 ms per keep-alive request
    server_version = "nexus-local-web"

    def _target(self) -> tuple[str, str]:
        """Path and query of the request target (an absolute form's too)."""
        target = self.path if self.path.startswith("/") else urlsplit(self.path).path or "/"
        path, _, query = target.partition("?")
        return path, query.partition("#")[0]

    def _serve(self) -> None:
        path, query = self._target()
        upstream = api_path(path)
        if upstream is None:
            response = self.server.site.answer(self.command.upper(), path, joined_headers(self))
        else:
            response = self._proxy(upstream, query)
        write_answer(self, response.status, response.headers, response.body, response.cookies)

    def _proxy(self, path: str, query: str) -> HttpResponse:
        if self.headers.get("Transfer-Encoding"):
            # Bodies are read by Content-Length only: a chunked one left unread would be taken
            # for the next request on this connection (CloudFront sends lengths too).
            self.close_connection = True
            return gateway_answer(411, "Length Required")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return gateway_answer(400, "Bad Request")
        if length > MAX_PAYLOAD:
            self.close_connection = True
            return gateway_answer(413, "Request Entity Too Large")
        body = self.rfile.read(length) if length > 0 else b""
        gateway = self.server.gateway
        if gateway is None:
            return gateway_answer(503, "Service Unavailable")
        # Hop-by-hop: the fixed ones and whatever Connection names (RFC 9110 §7.6.1).
        named = {n.strip().lower() for n in (self.headers.get("Connection") or "").split(",")}
        dropped = _HOP_BY_HOP | named
        headers = {k: v for k, v in joined_headers(self).items() if k not in dropped}
        client = self.client_address[0]
        forwarded = headers.get("x-forwarded-for")
        headers["x-forwarded-for"] = f"{forwarded}, {client}" if forwarded else client
        request = HttpRequest(
            method=self.command.upper(),
            path=path,
            query=query,
            headers=headers,
            body=body,
            source_ip=client,
        )
        return gateway.handle(request)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def __getattr__(self, name: str) -> object:
        # Any other method goes through too: the API answers it as API Gateway does (404
        # JSON), a web path with 405; not http.server's 501 HTML.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = getattr(self, "path", "").partition("?")[0]  # never the query (tokens)
        log.info("web %s %s %s", getattr(self, "command", "-"), path, code)

    def log_message(self, format: str, *args: object) -> None:
        # http.server's own messages (a malformed request line, say) quote the request line:
        # never what follows a "?" there either.
        text = re.sub(r"\?[^\s'\"]*", "?…", format % args)
        log.info("web %s %s", self.address_string(), text)


def make_web_server(
    host: str, listen_port: int, site: Site, gateway: Upstream | None = None
) -> WebServer:
    """The web app's server, bound (port 0: a free one); ``gateway`` may be attached later,
    once the stack has one (``/api`` answers 503 until then)."""
    server = WebServer((host, listen_port), _WebHandler)
    server.site = site
    server.gateway = gateway
    return server
