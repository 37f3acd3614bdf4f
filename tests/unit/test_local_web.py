"""The local web server (nexus_local.web) as a browser meets it over HTTP: the shared URL →
file mapping, the security headers, gzip, the 404 page, and the /api proxy (prefix removed,
everything passed both ways) in front of a recording stand-in for the stack's gateway."""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nexus_local import server, web
from nexus_local.apigw import MAX_PAYLOAD, HttpRequest, HttpResponse
from nexus_local.template import parse

FILES_ORIGIN = "http://127.0.0.1:4566"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " font-src 'self'; connect-src 'self' http://127.0.0.1:4566; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'; manifest-src 'self'"
)
SECURITY = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# The vendored Swagger UI's version (web/vendor/swagger-ui/SOURCE.md).
VERSION = "5.35.0"
BIG_SCRIPT = "const pages = [];\n" + "pages.push({name: 'a page', path: '/a/path'});\n" * 400


@pytest.mark.parametrize(
    ("path", "file"),
    [
        ("/", "/index.html"),
        ("/checkout/de300000-0000-4000-8001-000000000001", "/checkout/_/index.html"),
        ("/checkout/abc", "/checkout/_/index.html"),
        ("/checkout/app.js", "/checkout/app.js"),
        ("/checkout/a/b", "/checkout/a/b/index.html"),
        ("/checkout", "/checkout/index.html"),
        ("/checkout/", "/checkout/index.html"),
        (
            "/dashboard/products/de300000-0000-4000-8001-000000000002",
            "/dashboard/products/_/index.html",
        ),
        ("/dashboard/products/new", "/dashboard/products/new/index.html"),
        ("/dashboard/products/newer", "/dashboard/products/_/index.html"),
        ("/dashboard/products/edit.js", "/dashboard/products/edit.js"),
        ("/dashboard/products", "/dashboard/products/index.html"),
        ("/dashboard/products/", "/dashboard/products/index.html"),
        ("/dashboard/", "/dashboard/index.html"),
        ("/auth/login", "/auth/login/index.html"),
        ("/dashboard/integrations/callback", "/dashboard/integrations/callback/index.html"),
        ("/assets/app.js", "/assets/app.js"),
        ("/vendor/chart/chart.umd.min.js", "/vendor/chart/chart.umd.min.js"),
        ("/docs", "/docs/index.html"),
        ("/404.html", "/404.html"),
    ],
)
def test_each_web_path_maps_to_one_file(path: str, file: str) -> None:
    assert web.web_path(path) == file


@pytest.mark.parametrize(
    ("path", "upstream"),
    [
        ("/api", "/"),
        ("/api/", "/"),
        ("/api/auth/login", "/auth/login"),
        ("/api/store/products/x", "/store/products/x"),
        ("/api/api/x", "/api/x"),
        ("/apix", None),
        ("/x/api/y", None),
        ("/", None),
    ],
)
def test_only_the_api_prefix_goes_to_the_api(path: str, upstream: str | None) -> None:
    assert web.api_path(path) == upstream


@pytest.mark.parametrize(
    ("value", "gzip_ok"),
    [
        ("gzip, deflate, br, zstd", True),
        ("GZIP", True),
        ("br", False),
        ("", False),
        ("gzip;q=0", False),
        ("gzip; q=0.5", True),
        ("*", True),
        ("*, gzip;q=0", False),
        ("identity", False),
    ],
)
def test_gzip_is_used_only_when_the_client_accepts_it(value: str, gzip_ok: bool) -> None:
    assert web.accepts_gzip(value) is gzip_ok


def test_the_policy_names_only_the_files_origin_beside_self() -> None:
    assert web.content_security_policy(FILES_ORIGIN) == CSP
    assert "connect-src 'self';" in web.content_security_policy("")
    assert web.origin("http://127.0.0.1:4566/filesbucket/k?X-Amz-Signature=s") == FILES_ORIGIN


@dataclass
class Recorder:
    """The stack's gateway as the proxy sees it: what it was asked, and a canned answer."""

    answer: HttpResponse = field(
        default_factory=lambda: HttpResponse(
            200,
            {"Content-Type": "application/json", "Cache-Control": "no-store"},
            b'{"ok": true}',
            ["refresh_token=abc; Path=/api/auth; HttpOnly; SameSite=Strict", "other=1; Path=/"],
        )
    )
    seen: list[HttpRequest] = field(default_factory=list)

    def handle(self, req: HttpRequest) -> HttpResponse:
        self.seen.append(req)
        return self.answer


@dataclass
class Served:
    base: str
    port: int
    root: Path
    gateway: Recorder

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()


def _site(root: Path) -> None:
    files = {
        "index.html": "<!doctype html><title>home</title>",
        "404.html": "<!doctype html><title>not found</title>",
        "checkout/_/index.html": "<!doctype html><title>checkout</title>",
        "dashboard/products/_/index.html": "<!doctype html><title>product</title>",
        "dashboard/products/new/index.html": "<!doctype html><title>new product</title>",
        "auth/login/index.html": "<!doctype html><title>login</title>",
        "assets/app.js": BIG_SCRIPT,
        "assets/tiny.js": "export {};\n",
        "assets/site.css": "body { margin: 0 }\n" * 100,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    (root / "assets" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(4000))
    (root.parent / "secret.txt").write_text("not for the web", encoding="utf-8")
    (root / "assets" / "out").symlink_to(root.parent)


@pytest.fixture(scope="module")
def _server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("site") / "web"
    root.mkdir()
    _site(root)
    gateway = Recorder()
    srv = web.make_web_server("127.0.0.1", 0, web.Site(root, FILES_ORIGIN), gateway)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield Served(srv.base_url, srv.server_address[1], root, gateway)
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def served(_server: Served) -> Served:
    """The module's server, its gateway's record emptied for this test."""
    _server.gateway.seen.clear()
    return _server


def _security(headers: http.client.HTTPMessage) -> dict[str, str | None]:
    return {name: headers.get(name) for name in SECURITY}


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/", "home"),
        ("/checkout/de300000-0000-4000-8001-000000000001", "checkout"),
        ("/dashboard/products/de300000-0000-4000-8001-000000000002", "product"),
        ("/dashboard/products/new", "new product"),
        ("/auth/login?next=%2Fdashboard", "login"),
        ("/auth/login/", "login"),
    ],
)
def test_pages_are_served_with_the_security_headers(served: Served, path: str, title: str) -> None:
    status, headers, body = served.request("GET", path)
    assert status == 200
    assert f"<title>{title}</title>" in body.decode()
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert _security(headers) == SECURITY
    assert "Strict-Transport-Security" not in headers  # plain HTTP: AWS adds it


@pytest.mark.parametrize(
    "path",
    [
        "/nowhere",
        "/assets/missing.js",
        "/checkout/a/b",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/assets/out/secret.txt",  # a link out of the root
        "/assets",  # a folder without an index.html
    ],
)
def test_what_is_not_a_file_of_the_site_is_the_404_page(served: Served, path: str) -> None:
    status, headers, body = served.request("GET", path)
    assert status == 404
    assert body == b"<!doctype html><title>not found</title>"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert _security(headers) == SECURITY


def test_text_assets_are_gzipped_when_the_client_accepts_it(served: Served) -> None:
    # Given a script over 1,000 bytes
    status, headers, body = served.request(
        "GET", "/assets/app.js", headers={"Accept-Encoding": "gzip, deflate, br"}
    )
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Vary"] == "Accept-Encoding"
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert gzip.decompress(body).decode() == BIG_SCRIPT
    assert int(headers["Content-Length"]) == len(body) < len(BIG_SCRIPT) / 10
    assert _security(headers) == SECURITY
    # A client that does not accept it gets the file as it is
    _, plain, raw = served.request("GET", "/assets/app.js")
    assert plain.get("Content-Encoding") is None and raw.decode() == BIG_SCRIPT
    # CSS too; not a file under 1,000 bytes, nor an image
    _, css, _ = served.request("GET", "/assets/site.css", headers={"Accept-Encoding": "gzip"})
    assert (css["Content-Encoding"], css["Content-Type"]) == ("gzip", "text/css; charset=utf-8")
    for small_or_binary in ("/assets/tiny.js", "/assets/logo.png"):
        _, headers, _ = served.request("GET", small_or_binary, headers={"Accept-Encoding": "gzip"})
        assert headers.get("Content-Encoding") is None, small_or_binary


def test_head_has_the_headers_and_no_body_and_other_methods_are_refused(served: Served) -> None:
    status, headers, body = served.request("HEAD", "/assets/app.js")
    assert (status, body) == (200, b"")
    assert int(headers["Content-Length"]) == len(BIG_SCRIPT)
    status, headers, _ = served.request("POST", "/auth/login", body=b"x")
    assert (status, headers["Allow"]) == (405, "GET, HEAD")
    assert _security(headers) == SECURITY
    assert served.gateway.seen == []


def test_api_requests_reach_the_gateway_without_the_prefix_with_everything(
    served: Served,
) -> None:
    # When the browser posts to /api/... with a bearer token, cookies and a body
    body = json.dumps({"email": "a@example.com"}).encode()
    status, headers, answer = served.request(
        "POST",
        "/api/auth/login?x=1&y=%2F",
        body=body,
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer t0ken",
            "Cookie": "refresh_token=r1; theme=dark",
            "Idempotency-Key": "k-1",
            "X-Forwarded-For": "203.0.113.7",
        },
    )
    # Then the gateway saw the API's path, the query, the body and the headers
    (seen,) = served.gateway.seen
    assert (seen.method, seen.path, seen.query, seen.body) == (
        "POST",
        "/auth/login",
        "x=1&y=%2F",
        body,
    )
    assert seen.headers["authorization"] == "Bearer t0ken"
    assert seen.headers["cookie"] == "refresh_token=r1; theme=dark"
    assert seen.headers["idempotency-key"] == "k-1"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["host"] == f"127.0.0.1:{served.port}"
    # the browser's address, as CloudFront appends it
    assert seen.source_ip == "127.0.0.1"
    assert seen.headers["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    # And the answer came back as the gateway gave it: every cookie, no web headers added
    assert (status, answer) == (200, b'{"ok": true}')
    assert headers["Cache-Control"] == "no-store"
    assert headers.get_all("Set-Cookie") == [
        "refresh_token=abc; Path=/api/auth; HttpOnly; SameSite=Strict",
        "other=1; Path=/",
    ]
    assert headers.get("Content-Security-Policy") is None
    assert headers.get("Content-Encoding") is None


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "HEAD"])
def test_every_method_goes_through_to_the_api(served: Served, method: str) -> None:
    status, _, _ = served.request(method, "/api")
    assert status == 200
    (seen,) = served.gateway.seen
    assert (seen.method, seen.path, seen.query) == (method, "/", "")
    assert seen.headers["x-forwarded-for"] == "127.0.0.1"


def test_a_body_over_the_api_limit_is_refused_before_the_gateway(served: Served) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        conn.putrequest("POST", "/api/products")
        conn.putheader("Content-Length", str(MAX_PAYLOAD + 1))
        conn.endheaders()
        resp = conn.getresponse()
        assert (resp.status, json.loads(resp.read())) == (
            413,
            {"message": "Request Entity Too Large"},
        )
    finally:
        conn.close()
    assert served.gateway.seen == []


def test_request_lines_are_logged_without_their_query(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="nexus_local"):
        served.request("GET", "/auth/reset?token=single-use-secret")
        served.request("POST", "/api/auth/password/reset?token=another-secret", body=b"{}")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /auth/reset 404" in logged
    assert "POST /api/auth/password/reset 200" in logged
    assert "secret" not in logged


def test_a_chunked_body_is_refused_and_the_connection_closed(served: Served) -> None:
    # A chunked body is not read (lengths only): it must not be taken for a next request
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/products HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"1a\r\nGET /api/smuggled HTTP/1.1\r\n\r\n0\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 411")
    assert answer.count(b"HTTP/1.1") == 1  # closed after it: nothing else was answered
    assert served.gateway.seen == []


def test_headers_the_connection_header_names_stay_on_this_hop(served: Served) -> None:
    served.request(
        "GET",
        "/api/auth/me",
        headers={"Connection": "keep-alive, X-Hop", "X-Hop": "1", "X-End": "2"},
    )
    (seen,) = served.gateway.seen
    assert "x-hop" not in seen.headers and "connection" not in seen.headers
    assert seen.headers["x-end"] == "2"


def test_a_malformed_request_line_is_logged_without_its_query(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.INFO, logger="nexus_local"),
        socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock,
    ):
        # one word: http.server answers 400 and logs "Bad request syntax ('<the line>')"
        sock.sendall(b"/auth/reset?token=single-use-secret\r\n\r\n")
        assert b"400" in sock.recv(4096)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/auth/reset?" in logged
    assert "secret" not in logged


def test_openapi_names_the_server_the_reader_used(served: Served) -> None:
    status, headers, body = served.request(
        "GET", "/openapi.json", headers={"Host": "web.example:8080"}
    )
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert _security(headers) == SECURITY
    document = json.loads(body)
    assert document["servers"] == [{"url": "http://web.example:8080/api"}]
    assert document["paths"]["/auth/login"]
    # On the API's own port, the API is the origin itself
    api = server.docs_response("/openapi.json", {"host": "127.0.0.1:3000"})
    assert api is not None
    assert json.loads(api.body)["servers"] == [{"url": "http://127.0.0.1:3000"}]
    # The committed document keeps make local's default (make openapi, test_openapi)
    committed = json.loads(
        (web.WEB_ROOT.parent / "docs" / "openapi.json").read_text(encoding="utf-8")
    )
    assert committed["servers"][0]["url"] == "http://127.0.0.1:3000"


def _references(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_the_docs_load_nothing_from_another_origin_and_everything_resolves() -> None:
    # Given the real web app (web/)
    site = web.Site(web.WEB_ROOT, FILES_ORIGIN)
    page = site.answer("GET", "/docs", {"accept-encoding": ""})
    assert page.status == 200
    html = page.body.decode()
    references = _references(html)
    assert "<script>" not in html and "style=" not in html  # nothing inline (CSP)
    assert {"/vendor/swagger-ui/swagger-ui-bundle.js", "/docs/init.js"} <= set(references)
    for ref in references:
        # Then each is a path of this origin that the web app and the API port both serve
        assert ref.startswith("/") and not ref.startswith("//"), ref
        assert site.answer("GET", ref, {}).status == 200, ref
        on_api = server.docs_response(ref, {})
        assert on_api is not None and on_api.status == 200, ref
    api_page = server.docs_response("/docs", {})
    assert api_page is not None and api_page.body == page.body
    assert api_page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    # And the vendored bundle is the pinned release
    bundle = (web.WEB_ROOT / "vendor/swagger-ui/swagger-ui-bundle.js").read_text(encoding="utf-8")
    assert f'"{VERSION}"' in bundle
    assert f"# swagger-ui-dist {VERSION}" in (
        web.WEB_ROOT / "vendor/swagger-ui/SOURCE.md"
    ).read_text(encoding="utf-8")
    assert (web.WEB_ROOT / "vendor/swagger-ui/LICENSE").is_file()


def test_the_api_port_serves_only_the_docs_from_the_web_app() -> None:
    assert server.docs_response("/index.html", {}) is None
    assert server.docs_response("/auth/login", {}) is None
    assert server.docs_response("/docsx", {}) is None


def test_the_local_buckets_get_the_templates_cors_rules_for_the_stacks_web_app() -> None:
    # The files bucket's rule names WebBaseUrl: the stack's own web app when it says so
    assert parse().bucket_cors["FilesBucket"] == [
        {
            "AllowedHeaders": ["Content-Type"],
            "AllowedMethods": ["PUT"],
            "AllowedOrigins": ["http://127.0.0.1:8080"],
            "MaxAgeSeconds": 600,
        }
    ]
    here = parse(resources_values={"WebBaseUrl": "http://127.0.0.1:18080"})
    assert here.bucket_cors["FilesBucket"][0]["AllowedOrigins"] == ["http://127.0.0.1:18080"]
    # and a bucket without CorsConfiguration has none
    assert "ExportsBucket" not in here.bucket_cors
