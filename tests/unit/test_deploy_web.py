"""make deploy-web (tools/nexus_ops/deploy_web.py): what it asks the AWS CLI, in which order,
against a fake CLI that answers as AWS does (the stack's outputs, the key value store's keys
and ETag)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nexus_ops import deploy_web
from nexus_ops.deploy_web import DeployError

from tests.support.deploy_web import FakeAws, arg


@pytest.fixture
def site(tmp_path: Path) -> Path:
    for name in (
        "index.html",
        "404.html",
        "dashboard/index.html",
        "checkout/_/index.html",
        "assets/app.js",
        "vendor/chart/chart.umd.min.js",
        "vendor/chart/LICENSE",
    ):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    return tmp_path


def test_each_kind_of_file_gets_its_cache_control() -> None:
    assert deploy_web.cache_control("index.html") == "no-cache"
    assert deploy_web.cache_control("dashboard/products/_/index.html") == "no-cache"
    assert deploy_web.cache_control("vendor/chart/chart.umd.min.js") == "public, max-age=86400"
    assert deploy_web.cache_control("assets/app.js") == "public, max-age=300"


def test_a_deploy_uploads_lists_the_files_prunes_and_invalidates_in_that_order(
    site: Path,
) -> None:
    # Given a store that still lists a page the site no longer has
    aws = FakeAws(keys=["/index.html", "/old/index.html", "/404.html"])
    # When the site is deployed
    deploy_web.deploy(aws, "nexus-sales-dev", site)
    # Then the store holds exactly the site's files
    assert aws.keys == {
        "/index.html",
        "/404.html",
        "/dashboard/index.html",
        "/checkout/_/index.html",
        "/assets/app.js",
        "/vendor/chart/chart.umd.min.js",
        "/vendor/chart/LICENSE",
    }
    steps = [" ".join(c[:2]) for c in aws.calls]
    first_sync = steps.index("s3 sync")
    puts = [
        i
        for i, c in enumerate(aws.calls)
        if c[:2] == ("cloudfront-keyvaluestore", "update-keys") and "--puts" in c
    ]
    deletes = [i for i, c in enumerate(aws.calls) if "--deletes" in c]
    pruning = max(i for i, c in enumerate(aws.calls) if "--delete" in c)
    invalidation = steps.index("cloudfront create-invalidation")
    # new keys only after their objects are up; stale keys gone before their objects
    assert steps[0] == "cloudformation describe-stacks"
    assert first_sync < min(puts) and max(puts) < min(deletes) < pruning < invalidation
    assert invalidation == len(steps) - 1
    assert aws.calls[invalidation][-2:] == ("--paths", "/*")
    assert arg(aws.calls[invalidation], "--distribution-id") == "E2EXAMPLE"


def test_every_upload_names_its_cache_control_and_the_404_page_its_status(site: Path) -> None:
    aws = FakeAws(keys=[])
    deploy_web.deploy(aws, "nexus-sales-dev", site)
    uploads = [c for c in aws.calls if c[0] == "s3" and "--delete" not in c]
    bucket = "s3://nexus-sales-dev-webbucket-1x2y/"
    controls = {arg(c, "--cache-control") for c in uploads}
    assert controls == {"no-cache", "public, max-age=86400", "public, max-age=300"}
    assert all(c[3].startswith(bucket) for c in uploads)
    (page,) = [c for c in uploads if c[1] == "cp"]
    assert page[2].endswith("404.html") and page[3] == f"{bucket}404.html"
    assert arg(page, "--metadata") == "status=404"
    assert arg(page, "--cache-control") == "no-cache"
    # the HTML pass leaves the 404 page to that copy
    (html,) = [c for c in uploads if arg(c, "--cache-control") == "no-cache" and c[1] == "sync"]
    assert html[html.index("--include") + 1] == "*.html" and "404.html" in html
    (prune,) = [c for c in aws.calls if "--delete" in c]
    assert prune[:4] == ("s3", "sync", f"{site}/", bucket)


def test_keys_are_put_and_deleted_in_batches_of_fifty() -> None:
    wanted = [f"/p{i:03}/index.html" for i in range(120)]
    present = [f"/gone{i}.js" for i in range(51)]
    puts, deletes = deploy_web.key_changes(wanted, present)
    assert [len(b) for b in puts] == [50, 50, 20]
    assert [len(b) for b in deletes] == [50, 1]
    assert sorted(k for b in puts for k in b) == sorted(wanted)
    assert deploy_web.key_changes(["/a"], ["/a"]) == ([], [])


def test_a_stack_without_the_web_outputs_is_refused_before_anything_is_uploaded(
    site: Path,
) -> None:
    aws = FakeAws(keys=[], outputs={"ApiUrl": "https://x"})
    with pytest.raises(DeployError, match="WebBucketName"):
        deploy_web.deploy(aws, "nexus-sales-dev", site)
    assert [c[:2] for c in aws.calls] == [("cloudformation", "describe-stacks")]


def test_a_site_without_its_404_page_is_refused(site: Path) -> None:
    (site / "404.html").unlink()
    aws = FakeAws(keys=[])
    with pytest.raises(DeployError, match=r"404\.html"):
        deploy_web.deploy(aws, "nexus-sales-dev", site)
    assert aws.calls == []
