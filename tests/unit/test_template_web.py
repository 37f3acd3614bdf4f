"""The web app's part of template.yaml: WebBucket behind origin access control, WebDistribution's
behaviours and security headers, no dependency of the functions or HttpApi on the
distribution, the WAF condition, and the origin check's wiring. (The CloudFront Functions'
code runs in Node.js in tests/toolchain/test_cloudfront_functions.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from nexus.http import ORIGIN_VERIFY_HEADER, SIGNED_ROUTES
from nexus_local.template import load, parse

CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
ALL_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
API_FUNCTIONS = ("AuthFunction", "ProductsFunction", "CheckoutFunction", "IntegrationsFunction")

# The shared web spec's policy, with the files bucket's regional S3 origin (where
# nexus.files presigns the upload: tests/unit/test_files.py).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; "
    "connect-src 'self' https://${FilesBucket}.s3.${AWS::Region}.${AWS::URLSuffix}; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; manifest-src 'self'"
)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load()


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(template["Resources"][name]["Properties"])


def distribution(template: dict[str, Any]) -> dict[str, Any]:
    return dict(resource(template, "WebDistribution")["DistributionConfig"])


def references(value: Any) -> set[str]:
    """Every logical id ``value`` names: Ref, GetAtt, ${Id} / ${Id.Attr} in Sub, DependsOn."""
    import re

    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= references(v)
    elif isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text, variables = (inner, {}) if isinstance(inner, str) else inner
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([\w.:]+)\}", text)}
                found |= references(variables)
            elif key == "DependsOn":
                found |= {inner} if isinstance(inner, str) else set(inner)
            else:
                found |= references(inner)
    return found


def dependencies(template: dict[str, Any], name: str) -> set[str]:
    """Every resource ``name`` depends on, directly or not."""
    resources = template["Resources"]
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        for ref in references(resources[current]) & resources.keys():
            if ref not in seen:
                seen.add(ref)
                todo.append(ref)
    return seen


def test_no_function_nor_the_api_depends_on_the_distribution(template: dict[str, Any]) -> None:
    """No cycle: the distribution depends on HttpApi (its origin), so neither HttpApi nor
    anything it runs may depend on the distribution; the web origin reaches them as the
    WebBaseUrl parameter."""
    functions = [
        k for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"
    ]
    web = {"WebDistribution", "WebBucketPolicy"}
    for name in ["HttpApi", *functions]:
        assert not dependencies(template, name) & web, name
    assert "HttpApi" in dependencies(template, "WebDistribution")
    for name in ("CheckoutFunction", "IntegrationsFunction", "NotifyFunction"):
        env = resource(template, name)["Environment"]["Variables"]
        assert env["WEB_BASE_URL"] == {"Ref": "WebBaseUrl"}, name


def test_the_bucket_is_private_encrypted_tls_only_and_read_by_the_distribution_alone(
    template: dict[str, Any],
) -> None:
    bucket = resource(template, "WebBucket")
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    statements = resource(template, "WebBucketPolicy")["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    assert set(by_sid) == {"CloudFrontReads", "TlsOnly"}
    read = by_sid["CloudFrontReads"]
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert read["Action"] == "s3:GetObject"
    source = read["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source.endswith(":distribution/${WebDistribution}")
    assert by_sid["TlsOnly"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    oac = resource(template, "WebOriginAccessControl")["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"]) == ("s3", "always")
    (web,) = [o for o in distribution(template)["Origins"] if o["Id"] == "web"]
    assert web["OriginAccessControlId"] == {"Fn::GetAtt": ["WebOriginAccessControl", "Id"]}
    assert web["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy OAI


def test_web_paths_are_https_compressed_mapped_and_carry_the_security_headers(
    template: dict[str, Any],
) -> None:
    config = distribution(template)
    assert config["DefaultRootObject"] == "index.html"
    default = config["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == "web"
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["Compress"] is True
    assert default["CachePolicyId"] == CACHING_OPTIMIZED
    assert set(default["AllowedMethods"]) == {"GET", "HEAD"}
    assert default["ResponseHeadersPolicyId"] == {"Ref": "WebSecurityHeaders"}
    assert {
        a["EventType"]: a["FunctionARN"]["Fn::GetAtt"][0] for a in default["FunctionAssociations"]
    } == {
        "viewer-request": "WebRouteFunction",
        "viewer-response": "WebStatusFunction",
    }
    # Custom error responses apply to every behaviour, /api's included: the 404 page comes
    # from the routing function and WebFilesStore instead.
    assert "CustomErrorResponses" not in config
    route = resource(template, "WebRouteFunction")["FunctionConfig"]
    assert route["KeyValueStoreAssociations"] == [
        {"KeyValueStoreARN": {"Fn::GetAtt": ["WebFilesStore", "Arn"]}}
    ]


def test_api_paths_reach_httpapi_uncached_with_every_method_and_the_prefix_removed(
    template: dict[str, Any],
) -> None:
    config = distribution(template)
    behaviours = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert set(behaviours) == {"/api", "/api/*"}
    for pattern, behaviour in behaviours.items():
        assert behaviour["TargetOriginId"] == "api", pattern
        assert behaviour["ViewerProtocolPolicy"] == "https-only", pattern
        assert set(behaviour["AllowedMethods"]) == ALL_METHODS, pattern
        assert behaviour["CachePolicyId"] == CACHING_DISABLED, pattern
        assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST, pattern
        assert "ResponseHeadersPolicyId" not in behaviour, pattern  # answers pass as they are
        (association,) = behaviour["FunctionAssociations"]
        assert association == {
            "EventType": "viewer-request",
            "FunctionARN": {"Fn::GetAtt": ["ApiPrefixFunction", "FunctionMetadata.FunctionARN"]},
        }
    (api,) = [o for o in config["Origins"] if o["Id"] == "api"]
    assert api["DomainName"] == {
        "Fn::Sub": "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }
    assert api["CustomOriginConfig"] == {
        "OriginProtocolPolicy": "https-only",
        "OriginSSLProtocols": ["TLSv1.2"],
    }


def test_the_security_headers_are_exactly_the_specs_plus_hsts(template: dict[str, Any]) -> None:
    config = resource(template, "WebSecurityHeaders")["ResponseHeadersPolicyConfig"]
    security = config["SecurityHeadersConfig"]
    assert security["ContentSecurityPolicy"] == {
        "ContentSecurityPolicy": {"Fn::Sub": CSP},
        "Override": True,
    }
    assert security["ContentTypeOptions"] == {"Override": True}  # nosniff
    assert security["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert security["ReferrerPolicy"] == {"ReferrerPolicy": "no-referrer", "Override": True}
    hsts = security["StrictTransportSecurity"]
    assert hsts["AccessControlMaxAgeSec"] >= 31536000 and hsts["Override"] is True
    assert set(security) == {
        "ContentSecurityPolicy",
        "ContentTypeOptions",
        "FrameOptions",
        "ReferrerPolicy",
        "StrictTransportSecurity",
    }
    assert config["CustomHeadersConfig"]["Items"] == [
        {
            "Header": "Permissions-Policy",
            "Value": "camera=(), microphone=(), geolocation=()",
            "Override": True,
        }
    ]
    assert set(config) == {"Name", "Comment", "SecurityHeadersConfig", "CustomHeadersConfig"}


def test_the_waf_is_on_exactly_when_its_arn_is_given(template: dict[str, Any]) -> None:
    assert template["Parameters"]["WebAclArn"]["Default"] == ""
    assert template["Conditions"]["HasWebAcl"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "WebAclArn"}, ""]}]
    }
    assert distribution(template)["WebACLId"] == {
        "Fn::If": ["HasWebAcl", {"Ref": "WebAclArn"}, {"Ref": "AWS::NoValue"}]
    }


def test_the_distribution_sends_the_origin_secret_from_secrets_manager(
    template: dict[str, Any],
) -> None:
    (api,) = [o for o in distribution(template)["Origins"] if o["Id"] == "api"]
    (header,) = api["OriginCustomHeaders"]
    assert header["HeaderName"].lower() == ORIGIN_VERIFY_HEADER
    # a dynamic reference, read by CloudFormation: the value is in no template or parameter
    assert header["HeaderValue"] == {
        "Fn::Sub": "{{resolve:secretsmanager:${OriginVerifySecret}:SecretString:current}}"
    }
    generated = resource(template, "OriginVerifySecret")["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "current"
    assert generated["PasswordLength"] >= 32
    # changing OriginVerifyGeneration changes the distribution, which reads the secret again
    assert "${OriginVerifyGeneration}" in distribution(template)["Comment"]["Fn::Sub"]


def test_every_api_function_checks_the_origin_and_only_they_read_its_secret(
    template: dict[str, Any],
) -> None:
    readers = set()
    for name, res in template["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        props = res["Properties"]
        env = props.get("Environment", {}).get("Variables", {})
        policies = [p.get("AWSSecretsManagerGetSecretValuePolicy") for p in props["Policies"]]
        if {"SecretArn": {"Ref": "OriginVerifySecret"}} in policies:
            readers.add(name)
            assert env["ORIGIN_VERIFY_SECRET_ARN"] == {"Ref": "OriginVerifySecret"}, name
            assert env["ORIGIN_VERIFY_REQUIRED"] == {
                "Fn::If": ["OriginVerifyOn", "true", "false"]
            }, name
    assert readers == set(API_FUNCTIONS)
    # Every function behind a route is one of them (the authorizer needs no check: every
    # route it guards runs one of these, which refuses)
    routed = {route.function_id for route in parse().routes}
    assert routed == set(API_FUNCTIONS)
    spec = template["Parameters"]["RequireOriginVerify"]
    assert (spec["Default"], spec["AllowedValues"]) == ("true", ["true", "false"])  # secure


def test_locally_the_origin_check_stays_off() -> None:
    """The local stack resolves !Ref to a parameter's default but not !If: no function gets
    ORIGIN_VERIFY_REQUIRED from the template, so make local needs no secret header."""
    for name, fn in parse().functions.items():
        assert "ORIGIN_VERIFY_REQUIRED" not in fn.environment, name


def test_the_exempt_routes_are_exactly_the_webhooks() -> None:
    webhooks = {(r.method, r.path) for r in parse().routes if r.path.startswith("/webhooks/")}
    assert webhooks == SIGNED_ROUTES
    assert ("POST", "/webhooks/stripe") in webhooks


def test_the_outputs_name_what_make_deploy_web_reads(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["WebBucketName"]["Value"] == {"Ref": "WebBucket"}
    assert outputs["WebDistributionId"]["Value"] == {"Ref": "WebDistribution"}
    assert outputs["WebFilesStoreArn"]["Value"] == {"Fn::GetAtt": ["WebFilesStore", "Arn"]}
    assert outputs["WebDistributionDomain"]["Value"] == {
        "Fn::GetAtt": ["WebDistribution", "DomainName"]
    }
    assert "WebApiUrl" in outputs and "ApiUrl" in outputs


def test_a_domain_of_its_own_comes_with_its_certificate(template: dict[str, Any]) -> None:
    # A WebDomainName without WebCertificateArn is refused before anything is made, rather
    # than quietly serving the cloudfront.net name.
    rule = template["Rules"]["WebDomainNeedsItsCertificate"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "WebDomainName"}, ""]}]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "WebCertificateArn"}, ""]}]}
    condition, own, _ = distribution(template)["ViewerCertificate"]["Fn::If"]
    assert condition == "HasWebDomain"
    assert own == {
        "AcmCertificateArn": {"Ref": "WebCertificateArn"},
        "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }
    assert distribution(template)["Aliases"] == {
        "Fn::If": ["HasWebDomain", [{"Ref": "WebDomainName"}], {"Ref": "AWS::NoValue"}]
    }
