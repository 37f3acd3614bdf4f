"""make deploy-web's uploads with the real AWS CLI (``.tools/awscli``, which ``make test``
installs) against moto's S3 server: which object gets which Cache-Control, Content-Type and
metadata (the CLI's --exclude/--include filters apply in order, the last match winning), and
that a second deploy removes what left web/. The stack's outputs, the key value store and the
invalidation are tests.support.deploy_web's fake: moto serves none of them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nexus_ops import deploy_web

from nexus_local.aws import LocalAws
from nexus_local.template import ROOT
from tests.support.deploy_web import OUTPUTS, FakeAws
from tests.support.stack import free_port

CLI = ROOT / ".tools/awscli/bin/aws"
BUCKET = OUTPUTS["WebBucketName"]
pytestmark = pytest.mark.skipif(not CLI.exists(), reason="the AWS CLI is installed by make test")


class CliForS3(FakeAws):
    """The real CLI for ``aws s3``, the fake for the rest."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(keys=[])
        environ = {
            **os.environ,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        self.cli = deploy_web.Aws([str(CLI)], env=environ)

    def run(self, *args: str) -> None:
        assert args[0] == "s3"
        self.cli.run(*args)


@pytest.fixture
def s3() -> Iterator[tuple[str, Any]]:
    local = LocalAws("127.0.0.1", free_port())
    local.start()
    client = local.client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield local.url, client
    local.stop()


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_each_file_is_uploaded_with_its_headers_and_a_later_deploy_prunes(
    s3: tuple[str, Any], tmp_path: Path
) -> None:
    endpoint, client = s3
    site = tmp_path / "web"
    _write(
        site,
        {
            "index.html": "<!doctype html>",
            "404.html": "<!doctype html><h1>Not found</h1>",
            "dashboard/index.html": "<!doctype html>",
            "assets/app.js": "export {};",
            "assets/site.css": "body{}",
            "vendor/chart/chart.umd.min.js": "/* chart */",
            "vendor/chart/LICENSE": "MIT",
        },
    )
    # When the site is deployed
    deploy_web.deploy(CliForS3(endpoint), "nexus-sales-dev", site)
    # Then every file is there with the headers of its kind
    heads = {
        o["Key"]: client.head_object(Bucket=BUCKET, Key=o["Key"])
        for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]
    }
    assert {k: h["CacheControl"] for k, h in heads.items()} == {
        "index.html": "no-cache",
        "404.html": "no-cache",
        "dashboard/index.html": "no-cache",
        "assets/app.js": "public, max-age=300",
        "assets/site.css": "public, max-age=300",
        "vendor/chart/chart.umd.min.js": "public, max-age=86400",
        "vendor/chart/LICENSE": "public, max-age=86400",
    }
    assert heads["404.html"]["Metadata"] == {"status": "404"}
    assert all(h["Metadata"] == {} for k, h in heads.items() if k != "404.html")
    assert heads["404.html"]["ContentType"] == "text/html; charset=utf-8"
    assert heads["index.html"]["ContentType"].startswith("text/html")
    assert heads["assets/app.js"]["ContentType"].endswith("javascript")
    assert heads["assets/site.css"]["ContentType"].startswith("text/css")
    # And a deploy after a page went and another came removes the one, adds the other
    (site / "dashboard/index.html").unlink()
    _write(site, {"success/index.html": "<!doctype html>"})
    deploy_web.deploy(CliForS3(endpoint), "nexus-sales-dev", site)
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert "dashboard/index.html" not in keys and "success/index.html" in keys
    assert client.head_object(Bucket=BUCKET, Key="success/index.html")["CacheControl"] == (
        "no-cache"
    )
