"""The CloudFront Functions of template.yaml, run in Node.js as CloudFront runs them (their
code read from the template; ``import cf from 'cloudfront'`` bound to a key value store that
holds the test's file list): the web app's URL -> file mapping with its 404 for a missing
file, the 404 status of /404.html, and the /api prefix removed. ``make test`` installs Node.js
when the machine lacks it (the Makefile's ``node`` target)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nexus_local.template import load

HARNESS = Path(__file__).with_name("cloudfront_harness.mjs")
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is installed by make test")

# What make deploy-web writes into WebFilesStore for a web/ tree like the shared spec's.
FILES = [
    "/index.html",
    "/404.html",
    "/auth/login/index.html",
    "/auth/reset/index.html",
    "/dashboard/index.html",
    "/dashboard/products/index.html",
    "/dashboard/products/new/index.html",
    "/dashboard/products/_/index.html",
    "/checkout/_/index.html",
    "/success/index.html",
    "/assets/app.js",
    "/assets/site.css",
    "/vendor/chart/chart.umd.min.js",
]

PRODUCT = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def function_code(name: str) -> str:
    return str(load()["Resources"][name]["Properties"]["FunctionCode"])


def run(name: str, events: list[dict[str, Any]], **store: Any) -> list[dict[str, Any]]:
    assert NODE is not None
    payload = {"code": function_code(name), "events": events, "keys": FILES, **store}
    out = subprocess.run(
        [NODE, str(HARNESS)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    results: list[dict[str, Any]] = json.loads(out.stdout)
    return results


def viewer_request(uri: str, querystring: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-request"},
        "viewer": {"ip": "198.51.100.10"},
        "request": {
            "method": "GET",
            "uri": uri,
            "querystring": querystring or {},
            "headers": {"host": {"value": "d111111abcdef8.cloudfront.net"}},
            "cookies": {},
        },
    }


# (viewer's path, the object CloudFront asks WebBucket for): the shared spec's rules 2-6.
ROUTES = [
    ("/", "/index.html"),  # 2
    (f"/checkout/{PRODUCT}", "/checkout/_/index.html"),  # 3
    ("/checkout/anything-without-a-dot", "/checkout/_/index.html"),
    (f"/dashboard/products/{PRODUCT}", "/dashboard/products/_/index.html"),  # 4
    ("/dashboard/products/newer", "/dashboard/products/_/index.html"),
    ("/dashboard/products/new", "/dashboard/products/new/index.html"),  # 4: not "new"
    ("/dashboard/products", "/dashboard/products/index.html"),  # 5
    ("/dashboard/products/", "/dashboard/products/index.html"),
    ("/dashboard", "/dashboard/index.html"),
    ("/auth/login", "/auth/login/index.html"),
    ("/auth/login/", "/auth/login/index.html"),
    ("/success", "/success/index.html"),
    ("/assets/app.js", "/assets/app.js"),  # 6
    ("/vendor/chart/chart.umd.min.js", "/vendor/chart/chart.umd.min.js"),
    ("/404.html", "/404.html"),
    # a file that does not exist: the 404 page (whose metadata makes it a 404)
    ("/nowhere", "/404.html"),
    ("/assets/missing.js", "/404.html"),
    ("/checkout/", "/404.html"),  # no segment: rule 5, /checkout/index.html, missing
    ("/checkout/a.b", "/404.html"),  # a dot: a file, missing
    (f"/checkout/{PRODUCT}/extra", "/404.html"),  # two segments: rule 5, missing
    ("/dashboard/products/x/y", "/404.html"),
    ("/index.html/", "/404.html"),  # rule 5: /index.html/index.html
    ("/assets/app%2Ejs", "/404.html"),  # no dot as sent: rule 5
    ("/%E0%A4%A", "/404.html"),  # not percent-decodable
    ("/" + "a" * 600, "/404.html"),  # longer than any key of the store
]


def test_web_paths_map_to_the_files_of_the_shared_spec() -> None:
    results = run("WebRouteFunction", [viewer_request(uri) for uri, _ in ROUTES])
    assert [r["uri"] for r in results] == [file for _, file in ROUTES]
    # the request goes on to the origin: method, headers and the rest untouched
    assert all(r["method"] == "GET" and "host" in r["headers"] for r in results)


def test_the_query_string_goes_to_the_page_unchanged() -> None:
    query = {"order": {"value": "b2f3"}, "token": {"value": "single-use"}}
    (result,) = run("WebRouteFunction", [viewer_request("/success", query)])
    assert (result["uri"], result["querystring"]) == ("/success/index.html", query)


def test_an_unreadable_store_leaves_the_answer_to_s3() -> None:
    """A store error must not turn the whole site into 404s: the mapped file is asked for,
    and S3 answers a missing one itself (403: CloudFront may not list the bucket)."""
    results = run(
        "WebRouteFunction",
        [viewer_request("/dashboard"), viewer_request("/nowhere")],
        kvsFails=True,
    )
    assert [r["uri"] for r in results] == ["/dashboard/index.html", "/nowhere/index.html"]


def test_an_empty_store_serves_only_the_404_page() -> None:
    # before the first make deploy-web
    results = run("WebRouteFunction", [viewer_request("/")], keys=[])
    assert results[0]["uri"] == "/404.html"


def viewer_response(status: int, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-response"},
        "viewer": {"ip": "198.51.100.10"},
        "request": viewer_request("/nowhere")["request"],
        "response": {
            "statusCode": status,
            "statusDescription": "OK" if status == 200 else "Not Modified",
            "headers": {k: {"value": v} for k, v in headers.items()},
            "cookies": {},
        },
    }


def test_the_404_page_is_answered_as_a_404_and_its_metadata_is_not_shown() -> None:
    html = {"content-type": "text/html; charset=utf-8", "cache-control": "no-cache"}
    results = run(
        "WebStatusFunction",
        [
            viewer_response(200, {**html, "x-amz-meta-status": "404"}),
            viewer_response(304, {**html, "x-amz-meta-status": "404"}),
            viewer_response(200, html),
        ],
    )
    page, revalidated, other = results
    assert (page["statusCode"], page["statusDescription"]) == (404, "Not Found")
    assert "x-amz-meta-status" not in page["headers"]
    assert page["headers"]["content-type"] == {"value": "text/html; charset=utf-8"}
    assert "body" not in page  # the page itself, as S3 sent it
    # a 304 revalidates the browser's own copy of that 404: left as it is
    assert revalidated["statusCode"] == 304 and "x-amz-meta-status" not in revalidated["headers"]
    assert (
        other["statusCode"] == 200
        and other["headers"] == viewer_response(200, html)["response"]["headers"]
    )


def test_api_paths_reach_the_http_api_without_the_prefix() -> None:
    cases = [
        ("/api/auth/login", "/auth/login"),
        ("/api/products/7c9e/file", "/products/7c9e/file"),
        ("/api/meta/data-deletion/abc", "/meta/data-deletion/abc"),
        ("/api", "/"),
        ("/api/", "/"),
    ]
    query = {"limit": {"value": "10"}, "cursor": {"value": "a b"}}
    events = []
    for uri, _ in cases:
        event = viewer_request(uri, query)
        event["request"]["method"] = "POST"
        event["request"]["headers"]["authorization"] = {"value": "Bearer t"}
        events.append(event)
    results = run("ApiPrefixFunction", events)
    assert [r["uri"] for r in results] == [path for _, path in cases]
    for result in results:
        assert result["querystring"] == query
        assert result["method"] == "POST"
        assert result["headers"]["authorization"] == {"value": "Bearer t"}


def test_the_local_web_server_maps_every_path_as_the_distribution_does() -> None:
    """tools/nexus_local/web.py (make local's web server) and WebRouteFunction implement the
    one mapping: for every path above whose file exists, the same file."""
    web = pytest.importorskip("nexus_local.web", reason="the local web server is not here")
    paths = [uri for uri, _ in ROUTES if "%" not in uri and len(uri) < 512]
    local = {uri: web.web_path(uri) for uri in paths}
    results = run(
        "WebRouteFunction", [viewer_request(uri) for uri in paths], keys=list(local.values())
    )
    assert {uri: r["uri"] for uri, r in zip(paths, results, strict=True)} == local
