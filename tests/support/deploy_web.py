"""A fake of the AWS CLI as make deploy-web (tools/nexus_ops/deploy_web.py) uses it, answering
as AWS does: the stack's outputs, the key value store's keys and ETag, the invalidation."""

from __future__ import annotations

import json
from typing import Any

STORE = "arn:aws:cloudfront::123456789012:key-value-store/0a1b"
OUTPUTS = {
    "WebBucketName": "nexus-sales-dev-webbucket-1x2y",
    "WebFilesStoreArn": STORE,
    "WebDistributionId": "E2EXAMPLE",
    "ApiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com",
}


class FakeAws:
    """The AWS CLI as deploy_web uses it: API calls answer JSON, s3 commands just run."""

    def __init__(self, keys: list[str], outputs: dict[str, str] = OUTPUTS) -> None:
        self.keys = set(keys)
        self.outputs = outputs
        self.etag = 1
        self.calls: list[tuple[str, ...]] = []

    def run(self, *args: str) -> None:
        self.calls.append(args)

    def __call__(self, *args: str) -> Any:
        self.calls.append(args)
        command = args[:2]
        if command == ("cloudformation", "describe-stacks"):
            outputs = [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()]
            return {"Stacks": [{"Outputs": outputs}]}
        if command == ("cloudfront-keyvaluestore", "list-keys"):  # the CLI joins the pages
            return {"Items": [{"Key": k, "Value": "1"} for k in sorted(self.keys)]}
        if command == ("cloudfront-keyvaluestore", "describe-key-value-store"):
            return {"ETag": f"etag-{self.etag}"}
        if command == ("cloudfront-keyvaluestore", "update-keys"):
            assert arg(args, "--if-match") == f"etag-{self.etag}", "a stale ETag"
            self.etag += 1
            self.keys |= {p["Key"] for p in json.loads(arg(args, "--puts") or "[]")}
            self.keys -= {d["Key"] for d in json.loads(arg(args, "--deletes") or "[]")}
            return {"ETag": f"etag-{self.etag}"}
        if command == ("cloudfront", "create-invalidation"):
            return {"Invalidation": {"Id": "I1"}}
        raise AssertionError(f"unexpected aws call {args}")


def arg(args: tuple[str, ...], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None
