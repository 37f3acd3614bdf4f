"""waf.yaml, the web distribution's WAF web ACL: a stack of its own pinned to us-east-1 (where
CLOUDFRONT-scope web ACLs live), a per-IP rate limit on /api answered as contract §6 says,
AWS's managed rule groups with the one rule that would refuse legitimate bodies only
counting, and logs that never hold a token."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest

from nexus_local.template import ROOT, load

MANAGED = [
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesCommonRuleSet",
]


@pytest.fixture(scope="module")
def waf() -> dict[str, Any]:
    return load(ROOT / "waf.yaml")


def acl(waf: dict[str, Any]) -> dict[str, Any]:
    return dict(waf["Resources"]["WebAcl"]["Properties"])


def test_the_stack_is_deployed_to_us_east_1_for_every_environment() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    for env in ("dev", "prod"):
        section = config[f"waf-{env}"]
        assert section["global"]["parameters"]["region"] == "us-east-1", env
        assert section["deploy"]["parameters"]["template_file"] == "waf.yaml", env
        assert f"EnvName={env}" in section["deploy"]["parameters"]["parameter_overrides"]
        main = config[env]["global"]["parameters"]["stack_name"]
        assert section["global"]["parameters"]["stack_name"] != main, env


def test_the_acl_is_cloudfronts_and_its_arn_is_the_main_stacks_parameter(
    waf: dict[str, Any],
) -> None:
    assert acl(waf)["Scope"] == "CLOUDFRONT"
    assert acl(waf)["DefaultAction"] == {"Allow": {}}
    assert waf["Outputs"]["WebAclArn"]["Value"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}
    main = load()
    assert main["Parameters"]["WebAclArn"]["Default"] == ""


def test_a_client_over_its_api_rate_is_answered_429_problem_with_retry_after(
    waf: dict[str, Any],
) -> None:
    rules = sorted(acl(waf)["Rules"], key=lambda r: r["Priority"])
    rate = rules[0]  # evaluated first
    statement = rate["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "IP"
    assert statement["Limit"] == {"Ref": "ApiRequestsPerIp"}
    assert statement["EvaluationWindowSec"] == {"Ref": "RateWindowSeconds"}
    scope = statement["ScopeDownStatement"]["ByteMatchStatement"]
    assert (scope["FieldToMatch"], scope["PositionalConstraint"], scope["SearchString"]) == (
        {"UriPath": {}},
        "STARTS_WITH",
        "/api",
    )
    # the seed's limit: 10 requests per 10 s, counted over WAF's one-minute window
    assert waf["Parameters"]["ApiRequestsPerIp"]["Default"] == 60
    assert waf["Parameters"]["RateWindowSeconds"]["Default"] == 60
    response = rate["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 429
    assert response["ResponseHeaders"] == [
        {"Name": "Retry-After", "Value": {"Ref": "RateWindowSeconds"}}
    ]
    body = acl(waf)["CustomResponseBodies"][response["CustomResponseBodyKey"]]
    assert body["ContentType"] == "APPLICATION_JSON"
    problem = json.loads(body["Content"])
    assert problem["status"] == 429 and {"type", "title", "detail"} <= problem.keys()


def test_the_managed_rule_groups_block_but_large_bodies_only_count(waf: dict[str, Any]) -> None:
    groups = {}
    for rule in acl(waf)["Rules"]:
        managed = rule["Statement"].get("ManagedRuleGroupStatement")
        if managed:
            assert managed["VendorName"] == "AWS"
            assert rule["OverrideAction"] == {"None": {}}, rule["Name"]  # the groups' own blocks
            groups[managed["Name"]] = managed
    assert sorted(groups) == sorted(MANAGED)
    overrides = groups["AWSManagedRulesCommonRuleSet"]["RuleActionOverrides"]
    assert overrides == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    assert all("RuleActionOverrides" not in g for n, g in groups.items() if n != MANAGED[2])
    priorities = [r["Priority"] for r in acl(waf)["Rules"]]
    assert len(set(priorities)) == len(priorities)


def test_the_logs_redact_every_token(waf: dict[str, Any]) -> None:
    logging = waf["Resources"]["WebAclLogging"]["Properties"]
    assert logging["ResourceArn"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}
    assert logging["RedactedFields"] == [
        {"SingleHeader": {"Name": "authorization"}},
        {"SingleHeader": {"Name": "cookie"}},
        {"QueryString": {}},
    ]
    group = waf["Resources"]["WebAclLogs"]["Properties"]
    assert group["LogGroupName"]["Fn::Sub"].startswith("aws-waf-logs-")  # WAF's rule
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
