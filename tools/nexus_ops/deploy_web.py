"""``make deploy-web ENV=dev|prod``: the web app (``web/``) onto a deployed stack, with the AWS
CLI (``.tools/awscli``, installed by the Makefile).

Steps, in the order that never leaves a page pointing at something missing:

1. the stack's outputs: ``WebBucketName``, ``WebFilesStoreArn``, ``WebDistributionId``;
2. upload what changed (``aws s3 sync``, without deleting yet), each kind of file with its
   ``Cache-Control``: HTML ``no-cache`` (the browser revalidates every time, so a deploy is
   seen at once), ``vendor/`` a day (pinned third-party files: a new version is a new path),
   other assets five minutes (their names carry no hash: this bounds how long a browser may
   pair a new page with an old script); ``404.html`` with the metadata ``status=404``, which
   the distribution's status function turns into the answer's status;
3. the file list in ``WebFilesStore``: a key per file (``/dashboard/index.html``); the
   routing function answers any other path with ``/404.html``. New keys after their objects,
   stale keys before theirs go;
4. ``aws s3 sync --delete``: objects no longer in ``web/`` are removed (WebBucket is
   versioned: a removed or replaced file can be restored for 30 days);
5. an invalidation of ``/*``, so that CloudFront's edges drop what they hold.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
NOT_FOUND_PAGE = "404.html"

HTML = "no-cache"
VENDOR = "public, max-age=86400"
ASSET = "public, max-age=300"
# UpdateKeys takes at most 50 puts and deletes together.
KVS_BATCH = 50
OUTPUTS = ("WebBucketName", "WebFilesStoreArn", "WebDistributionId")


class DeployError(RuntimeError):
    pass


def cache_control(key: str) -> str:
    """The Cache-Control of the object ``key`` (``dashboard/index.html``)."""
    if key.endswith(".html"):
        return HTML
    if key.startswith("vendor/"):
        return VENDOR
    return ASSET


def site_keys(root: Path) -> list[str]:
    """Every file of the site, as a key of WebFilesStore (``/assets/app.js``)."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    keys = ["/" + p.relative_to(root).as_posix() for p in files]
    if f"/{NOT_FOUND_PAGE}" not in keys:
        raise DeployError(f"{root} has no {NOT_FOUND_PAGE}: every missing file is answered with it")
    return keys


def key_changes(
    wanted: Iterable[str], present: Iterable[str]
) -> tuple[list[list[str]], list[list[str]]]:
    """The UpdateKeys calls that make the store hold exactly ``wanted``: the puts (keys
    missing), then the deletes (keys no longer in the site), each in batches of 50."""
    want, have = set(wanted), set(present)
    puts, deletes = sorted(want - have), sorted(have - want)

    def batches(keys: list[str]) -> list[list[str]]:
        return [keys[i : i + KVS_BATCH] for i in range(0, len(keys), KVS_BATCH)]

    return batches(puts), batches(deletes)


class Cli(Protocol):
    """What the steps need of the AWS CLI (a fake in tests/unit/test_deploy_web.py)."""

    def __call__(self, *args: str) -> Any: ...

    def run(self, *args: str) -> None: ...


@dataclass
class Aws:
    """The AWS CLI, its answers read as JSON; ``env``: its environment (else this process's)."""

    command: Sequence[str]
    env: Mapping[str, str] | None = None

    def __call__(self, *args: str) -> Any:
        done = subprocess.run(
            [*self.command, *args, "--output", "json"],
            capture_output=True,
            text=True,
            check=False,
            env=self.env,
        )
        if done.returncode != 0:
            raise DeployError(f"aws {' '.join(args[:2])} failed: {done.stderr.strip()}")
        print(done.stderr, end="", file=sys.stderr)
        return json.loads(done.stdout) if done.stdout.strip() else None

    def run(self, *args: str) -> None:
        """A command whose progress is the user's to see (s3 sync)."""
        done = subprocess.run([*self.command, *args], check=False, env=self.env)
        if done.returncode != 0:
            raise DeployError(f"aws {' '.join(args[:2])} failed (exit {done.returncode})")


def outputs(aws: Cli, stack: str) -> dict[str, str]:
    answer = aws("cloudformation", "describe-stacks", "--stack-name", stack)
    found = {o["OutputKey"]: o["OutputValue"] for o in answer["Stacks"][0].get("Outputs", [])}
    missing = [name for name in OUTPUTS if name not in found]
    if missing:
        raise DeployError(f"stack {stack} has no output {', '.join(missing)}: deploy it first")
    return found


def upload(aws: Cli, root: Path, bucket: str) -> None:
    target = f"s3://{bucket}/"
    html = ("--exclude", "*", "--include", "*.html", "--exclude", NOT_FOUND_PAGE)
    vendor = ("--exclude", "*", "--include", "vendor/*", "--exclude", "*.html")
    assets = ("--exclude", "*.html", "--exclude", "vendor/*")
    for filters, control in ((html, HTML), (vendor, VENDOR), (assets, ASSET)):
        aws.run("s3", "sync", f"{root}/", target, *filters, "--cache-control", control)
    aws.run(
        "s3",
        "cp",
        str(root / NOT_FOUND_PAGE),
        f"{target}{NOT_FOUND_PAGE}",
        "--cache-control",
        HTML,
        "--content-type",
        "text/html; charset=utf-8",
        "--metadata",
        "status=404",
    )


def store_keys(aws: Cli, store: str) -> list[str]:
    """The store's keys (the CLI follows the pages itself)."""
    page = aws("cloudfront-keyvaluestore", "list-keys", "--kvs-arn", store)
    return [item["Key"] for item in (page or {}).get("Items", [])]


def update_store(aws: Cli, store: str, puts: list[str], deletes: list[str]) -> None:
    """One UpdateKeys call: the store's ETag is asked for each time (it changes per update)."""
    etag = aws("cloudfront-keyvaluestore", "describe-key-value-store", "--kvs-arn", store)["ETag"]
    args = ["cloudfront-keyvaluestore", "update-keys", "--kvs-arn", store, "--if-match", etag]
    if puts:
        args += ["--puts", json.dumps([{"Key": k, "Value": "1"} for k in puts])]
    if deletes:
        args += ["--deletes", json.dumps([{"Key": k} for k in deletes])]
    aws(*args)


def deploy(aws: Cli, stack: str, root: Path = WEB) -> None:
    keys = site_keys(root)
    found = outputs(aws, stack)
    bucket, store = found["WebBucketName"], found["WebFilesStoreArn"]
    upload(aws, root, bucket)
    puts, deletes = key_changes(keys, store_keys(aws, store))
    for batch in puts:
        update_store(aws, store, batch, [])
    for batch in deletes:
        update_store(aws, store, [], batch)
    aws.run("s3", "sync", f"{root}/", f"s3://{bucket}/", "--delete", "--size-only")
    aws(
        "cloudfront",
        "create-invalidation",
        "--distribution-id",
        found["WebDistributionId"],
        "--paths",
        "/*",
    )
    print(f"deployed {len(keys)} files to s3://{bucket}/ ({stack})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make deploy-web", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", required=True, help="the main stack (nexus-sales-<env>)")
    parser.add_argument("--aws", default=str(ROOT / ".tools/awscli/bin/aws"), help="AWS CLI")
    parser.add_argument("--web", default=str(WEB), help="the site's folder")
    args = parser.parse_args(argv)
    try:
        deploy(Aws([args.aws]), args.stack, Path(args.web))
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
