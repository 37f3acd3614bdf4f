"""Invariants of template.yaml that the contract and the design rely on."""

from __future__ import annotations

from typing import Any

import pytest

from nexus_local.template import load, parse

CONTRACT_IDS = {
    "HttpApi",
    "AuthFunction",
    "AuthorizerFunction",
    "ProductsFunction",
    "CheckoutFunction",
    "IntegrationsFunction",
    "IngestFanoutFunction",
    "IngestMetricsFunction",
    "IngestQueue",
    "IngestDeadLetterQueue",
    "SharedLayer",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load()


def functions(template: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"
    }


def test_contract_logical_ids_exist(template: dict[str, Any]) -> None:
    assert template["Resources"].keys() >= CONTRACT_IDS


def test_globals_pin_runtime_architecture_json_logs_and_tracing(template: dict[str, Any]) -> None:
    glob = template["Globals"]["Function"]
    assert glob["Runtime"] == "python3.13"
    assert glob["Architectures"] == ["arm64"]
    assert glob["Tracing"] == "Active"
    assert glob["LoggingConfig"]["LogFormat"] == "JSON"
    assert glob["Layers"] == [{"Ref": "SharedLayer"}]


def test_shared_layer_builds_for_python313_arm64(template: dict[str, Any]) -> None:
    layer = template["Resources"]["SharedLayer"]
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["ContentUri"] == "layers/shared/"


def test_api_functions_time_out_within_10_seconds(template: dict[str, Any]) -> None:
    default = template["Globals"]["Function"]["Timeout"]
    api_functions = {r.function_id for r in parse().routes}
    assert api_functions
    for name in api_functions:
        fn = template["Resources"][name]
        assert fn["Properties"].get("Timeout", default) <= 10, name


def test_ingest_queue_visibility_redrive_and_dead_letter_retention(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    queue = resources["IngestQueue"]["Properties"]
    consumer = resources["IngestMetricsFunction"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * consumer["Timeout"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 5
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]
    }
    dlq = resources["IngestDeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["SqsManagedSseEnabled"] and dlq["SqsManagedSseEnabled"]
    source = consumer["Events"]["Jobs"]["Properties"]
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["BatchSize"] <= 10
    assert source["ScalingConfig"]["MaximumConcurrency"] >= 2


def test_fanout_runs_on_a_retrying_schedule_with_the_scheduled_time(
    template: dict[str, Any],
) -> None:
    event = template["Resources"]["IngestFanoutFunction"]["Properties"]["Events"]["Daily"]
    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == {"Ref": "IngestSchedule"}
    assert "<aws.scheduler.scheduled-time>" in event["Properties"]["Input"]
    assert event["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] >= 1


def test_authorizer_uses_simple_responses_cached_by_authorization_header(
    template: dict[str, Any],
) -> None:
    auth = template["Resources"]["HttpApi"]["Properties"]["Auth"]
    spec = auth["Authorizers"][auth["DefaultAuthorizer"]]
    assert spec["FunctionArn"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    assert spec["EnableSimpleResponses"] is True
    assert spec["AuthorizerPayloadFormatVersion"] == "2.0"
    assert spec["Identity"]["Headers"] == ["Authorization"]
    assert 0 < spec["Identity"]["ReauthorizeEvery"] <= 300


def test_only_the_public_routes_skip_the_authorizer() -> None:
    app = parse()
    public = {r.route_key for r in app.routes if r.authorizer is None}
    assert public == {
        "POST /auth/register",
        "POST /auth/login",
        "GET /store/products/{product_id}",
        "POST /checkout",
        "GET /checkout/orders/{order_id}",
        "POST /webhooks/payments",
    }


SECRETS = ("JWT_SECRET", "PASSWORD_PEPPER", "PAYMENT_WEBHOOK_SECRET", "TOKEN_ENCRYPTION_KEY")


def test_secrets_come_from_secrets_manager_not_plain_environment(template: dict[str, Any]) -> None:
    glob = template["Globals"]["Function"]["Environment"]["Variables"]
    for key in (*SECRETS, "DATABASE_URL"):
        assert glob.get(key, "") == "", f"Globals set {key} in plain text"
    for name, fn in functions(template).items():
        env = fn["Properties"].get("Environment", {}).get("Variables", {})
        for key in (*SECRETS, "DATABASE_URL"):
            assert key not in env, f"{name} sets {key} in plain text"


def test_bcrypt_cost_cannot_be_deployed_below_12(template: dict[str, Any]) -> None:
    assert template["Parameters"]["BcryptRounds"]["MinValue"] >= 12


def test_api_throttles_and_credential_routes_are_tighter(template: dict[str, Any]) -> None:
    api = template["Resources"]["HttpApi"]["Properties"]
    default = template["Parameters"]["ApiRateLimit"]["Default"]
    for route in ("POST /auth/login", "POST /auth/register"):
        assert api["RouteSettings"][route]["ThrottlingRateLimit"] < default


def test_api_access_logs_are_json_with_retention(template: dict[str, Any]) -> None:
    import json

    settings = template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]
    fields = json.loads(settings["Format"])
    assert {"requestId", "routeKey", "status", "latencyMs"} <= fields.keys()
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    assert template["Resources"]["ApiAccessLogs"]["Properties"]["RetentionInDays"] == {
        "Ref": "LogRetentionDays"
    }


def test_cors_origins_come_from_a_parameter(template: dict[str, Any]) -> None:
    cors = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == {"Ref": "CorsAllowedOrigins"}
    assert "Authorization" in cors["AllowHeaders"]


def test_functions_run_in_private_subnets_behind_the_proxy(template: dict[str, Any]) -> None:
    vpc = template["Globals"]["Function"]["VpcConfig"]
    assert vpc["SubnetIds"] == [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]
    resources = template["Resources"]
    proxy_in = resources["ProxySecurityGroup"]["Properties"]["SecurityGroupIngress"]
    db_in = resources["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert [r["SourceSecurityGroupId"] for r in proxy_in] == [{"Ref": "FunctionSecurityGroup"}]
    assert [r["SourceSecurityGroupId"] for r in db_in] == [{"Ref": "ProxySecurityGroup"}]
    assert template["Globals"]["Function"]["Environment"]["Variables"]["DB_HOST"] == {
        "Fn::GetAtt": ["DbProxy", "Endpoint"]
    }


def test_database_is_encrypted_protected_in_prod_and_proxy_requires_tls_and_iam(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    cluster = resources["DbCluster"]
    assert cluster["DeletionPolicy"] == "Snapshot"
    props = cluster["Properties"]
    assert props["StorageEncrypted"] is True
    assert props["ManageMasterUserPassword"] is True
    assert props["DeletionProtection"] == {"Fn::If": ["IsProd", True, False]}
    proxy = resources["DbProxy"]["Properties"]
    assert proxy["RequireTLS"] is True
    assert proxy["Auth"][0]["IAMAuth"] == "REQUIRED"


def test_every_database_function_may_connect_only_as_the_app_user(
    template: dict[str, Any],
) -> None:
    for name, fn in functions(template).items():
        if name == "AuthorizerFunction":
            continue
        statements = [p for p in fn["Properties"]["Policies"] if "Statement" in p]
        actions = [s["Action"] for p in statements for s in p["Statement"]]
        assert "rds-db:connect" in actions, name


def test_migrations_run_on_every_new_layer_version(template: dict[str, Any]) -> None:
    migrations = template["Resources"]["Migrations"]
    assert migrations["Properties"]["LayerVersion"] == {"Ref": "SharedLayer"}
    assert migrations["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["MigrationFunction", "Arn"]}


def test_alarms_cover_dead_letters_backlog_errors_api_and_proxy(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    alarms = {k for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert {
        "DeadLetterAlarm",
        "IngestBacklogAgeAlarm",
        "Api5xxAlarm",
        "ApiLatencyAlarm",
        "ProxySaturationAlarm",
        "LambdaThrottlesAlarm",
    } <= alarms
    assert {f"{name}ErrorsAlarm" for name in functions(template)} <= alarms
    for name in alarms:
        assert resources[name]["Properties"]["AlarmActions"]["Fn::If"][0] == "HasAlarmTopic"


def test_every_function_logs_to_a_group_with_retention(template: dict[str, Any]) -> None:
    for name, fn in functions(template).items():
        group = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        retention = template["Resources"][group]["Properties"]["RetentionInDays"]
        assert retention == {"Ref": "LogRetentionDays"}, name


def test_functions_that_encrypt_carry_the_crypto_layer_and_no_others(
    template: dict[str, Any],
) -> None:
    import subprocess
    import sys

    from tests.support.api import ROOT

    for name, fn in parse().functions.items():
        probe = (
            "import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('h', {str(fn.module_path)!r})\n"
            "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
            "print('nexus.crypto' in sys.modules)"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT / "layers/shared"), "PATH": "/usr/bin:/bin"},
        )
        encrypts = out.stdout.strip() == "True"
        layers = template["Resources"][name]["Properties"].get("Layers", [])
        assert encrypts == ({"Ref": "CryptoLayer"} in layers), name
