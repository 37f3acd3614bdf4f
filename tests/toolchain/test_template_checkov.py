"""The checkov exceptions: all in .checkov.yaml, each with its reason, each still needed, and
each reason's premise true of the template (a skip there holds for every resource of its type,
so a new resource that breaks the premise must fail here instead)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from nexus_local.template import ROOT, load

CONFIG = ROOT / ".checkov.yaml"
CHECKOV = ROOT / ".tools/checkov/bin/checkov"


def skips() -> dict[str, str]:
    """check id -> the reason written after it."""
    reasons = dict(re.findall(r"^\s*-\s*(CKV2?_\w+)\s*#\s*(.*\S)\s*$", CONFIG.read_text(), re.M))
    listed = yaml.safe_load(CONFIG.read_text())["skip-check"]
    assert sorted(listed) == sorted(reasons), "a skip without a reason after it"
    return reasons


def test_every_skip_says_why() -> None:
    for check, reason in skips().items():
        assert len(reason) > 40, check


def test_the_template_has_no_inline_skips() -> None:
    for name, res in load()["Resources"].items():
        assert "checkov" not in (res.get("Metadata") or {}), f"{name}: skip in .checkov.yaml"


def test_the_premises_of_the_skips_hold() -> None:
    resources = load()["Resources"]

    def of_type(kind: str) -> list[dict[str, Any]]:
        return [v.get("Properties") or {} for v in resources.values() if v["Type"] == kind]

    # CKV_AWS_27: every queue is encrypted, with SSE-SQS.
    queues = of_type("AWS::SQS::Queue")
    assert queues and all(q.get("SqsManagedSseEnabled") is True for q in queues)
    # CKV_AWS_118: the one database instance is Serverless v2.
    assert [i["DBInstanceClass"] for i in of_type("AWS::RDS::DBInstance")] == ["db.serverless"]
    # CKV_AWS_158: log groups expire (no CMK, but nothing kept forever).
    groups = of_type("AWS::Logs::LogGroup")
    assert groups and all(g["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups)
    # CKV_AWS_18: every bucket but the access-log bucket logs its accesses there.
    buckets = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::S3::Bucket"}
    logs = "FilesAccessLogsBucket"
    assert logs in buckets and "LoggingConfiguration" not in buckets[logs]
    for name, bucket in buckets.items():
        if name != logs:
            target = bucket["LoggingConfiguration"]["DestinationBucketName"]
            assert target == {"Ref": logs}, name
    # CKV_AWS_86: the one distribution has the WAF web ACL whenever one is given (its logs
    # are the access logs), and CKV_AWS_174: with a domain of its own it requires TLS 1.2.
    distributions = of_type("AWS::CloudFront::Distribution")
    assert len(distributions) == 1
    config = distributions[0]["DistributionConfig"]
    assert config["WebACLId"] == {
        "Fn::If": ["HasWebAcl", {"Ref": "WebAclArn"}, {"Ref": "AWS::NoValue"}]
    }
    condition, own, default = config["ViewerCertificate"]["Fn::If"]
    assert condition == "HasWebDomain" and own["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert default == {"CloudFrontDefaultCertificate": True}
    # CKV_AWS_149 (each secret readable only by the functions that use it) and CKV_AWS_173
    # (no secret in a function's environment) are pinned in test_template.py, by
    # test_least_privilege_per_function and test_secrets_come_from_secrets_manager_...


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov is installed by make validate")
def test_every_skip_is_still_needed(tmp_path: Path) -> None:
    """Without the config, checkov fails exactly the skipped checks: none is unused."""
    command = [str(CHECKOV), "-f", str(ROOT / "template.yaml"), "--framework", "cloudformation"]
    out = subprocess.run(
        [*command, "--skip-download", "--compact", "--output", "json"],
        cwd=tmp_path,  # away from the repository's .checkov.yaml
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    report = json.loads(out.stdout)
    failed = {r["check_id"] for r in report["results"]["failed_checks"]}
    assert failed == set(skips())
