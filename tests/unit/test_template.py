"""Invariants of template.yaml that the contract and the design rely on."""

from __future__ import annotations

import ast
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from nexus_local.template import ROOT, load, merge_globals, parse, resource_properties

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


def merged(template: dict[str, Any], name: str) -> dict[str, Any]:
    """A function's properties with Globals applied (as SAM applies them)."""
    return resource_properties(template, name)


def env(template: dict[str, Any], name: str) -> dict[str, Any]:
    return dict((merged(template, name).get("Environment") or {}).get("Variables") or {})


def test_contract_logical_ids_exist(template: dict[str, Any]) -> None:
    assert template["Resources"].keys() >= CONTRACT_IDS


# What every function shares lives in Globals only: no function sets these itself.
SHARED = ("Handler", "Runtime", "Architectures", "Tracing", "VpcConfig")


def test_globals_hold_what_every_function_shares(template: dict[str, Any]) -> None:
    glob = template["Globals"]["Function"]
    assert glob["Handler"] == "app.lambda_handler"
    assert glob["Runtime"] == "python3.13"
    assert glob["Architectures"] == ["arm64"]
    assert glob["Tracing"] == "Active"
    assert glob["LoggingConfig"]["LogFormat"] == "JSON"
    assert glob["Layers"] == [{"Ref": "SharedLayer"}]
    for name, fn in functions(template).items():
        props = fn["Properties"]
        # The one exception: the migration adds a security group (its way in to Aurora).
        exempt = {"VpcConfig"} if name == "MigrationFunction" else set()
        overridden = (set(SHARED) & props.keys()) - exempt
        assert not overridden, f"{name} overrides {overridden}"
        # A function's own variables add to the shared ones; only the migration replaces
        # one: DB_HOST, the cluster instead of the proxy.
        own = (props.get("Environment") or {}).get("Variables") or {}
        shared_env = glob["Environment"]["Variables"]
        replaced = {"DB_HOST"} if name == "MigrationFunction" else set()
        assert not (own.keys() & shared_env.keys()) - replaced, name


def test_only_the_migration_reaches_aurora_itself(template: dict[str, Any]) -> None:
    props = template["Resources"]["MigrationFunction"]["Properties"]
    assert props["VpcConfig"] == {"SecurityGroupIds": [{"Ref": "MigrationSecurityGroup"}]}
    assert merged(template, "MigrationFunction")["VpcConfig"]["SecurityGroupIds"] == [
        {"Ref": "FunctionSecurityGroup"},
        {"Ref": "MigrationSecurityGroup"},
    ]
    assert env(template, "MigrationFunction")["DB_HOST"] == {
        "Fn::GetAtt": ["DbCluster", "Endpoint.Address"]
    }


def test_every_function_gets_the_globals(template: dict[str, Any]) -> None:
    glob = template["Globals"]["Function"]
    app = parse()
    assert app.functions.keys() == functions(template).keys()
    for name, fn in app.functions.items():
        props = merged(template, name)
        for key in SHARED:
            if (name, key) != ("MigrationFunction", "VpcConfig"):  # its own test, below
                assert props[key] == glob[key], name
        assert fn.handler == "app.lambda_handler"
        assert fn.layers[0] == "SharedLayer", name
        assert props["LoggingConfig"] == {
            **glob["LoggingConfig"],
            "LogGroup": {"Ref": f"{name}Logs"},
        }
        assert glob["Environment"]["Variables"].keys() <= env(template, name).keys(), name
        assert fn.timeout == props["Timeout"] and fn.memory == props["MemorySize"], name


def test_the_local_parser_merges_globals_as_sam_does() -> None:
    """samtranslator's rules: scalars and intrinsics, local wins; maps merge key by key;
    lists are global + local, except Architectures (replaced); IgnoreGlobals drops globals."""
    data: dict[str, Any] = {
        "Parameters": {"Level": {"Type": "String", "Default": "INFO"}},
        "Globals": {
            "Function": {
                "Handler": "app.lambda_handler",
                "Timeout": 10,
                "MemorySize": 512,
                "Architectures": ["arm64"],
                "Layers": [{"Ref": "Shared"}],
                "LoggingConfig": {"LogFormat": "JSON"},
                "Environment": {"Variables": {"A": "global", "B": "global", "C": {"Ref": "X"}}},
            }
        },
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "fn/",
                    "Timeout": 60,
                    "Architectures": ["x86_64"],
                    "Layers": [{"Ref": "Extra"}],
                    "LoggingConfig": {"LogGroup": {"Ref": "FnLogs"}},
                    "Environment": {
                        "Variables": {"B": "local", "C": "local", "D": {"Ref": "Level"}}
                    },
                },
            },
            "Bare": {
                "Type": "AWS::Serverless::Function",
                "IgnoreGlobals": ["Layers", "Timeout"],
                "Properties": {"CodeUri": "bare/"},
            },
            "Other": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 5}},
        },
    }
    props = resource_properties(data, "Fn")
    assert props["Timeout"] == 60
    assert props["Handler"] == "app.lambda_handler"
    assert props["Architectures"] == ["x86_64"]
    assert props["Layers"] == [{"Ref": "Shared"}, {"Ref": "Extra"}]
    assert props["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": "FnLogs"}}
    assert props["Environment"]["Variables"] == {
        "A": "global",
        "B": "local",
        "C": "local",
        "D": {"Ref": "Level"},
    }
    assert data["Globals"]["Function"]["Layers"] == [{"Ref": "Shared"}]  # inputs untouched
    assert resource_properties(data, "Other") == {"VisibilityTimeout": 5}
    bare = resource_properties(data, "Bare")
    assert "Layers" not in bare and "Timeout" not in bare and bare["MemorySize"] == 512
    assert merge_globals({"Fn::If": ["C", 1, 2]}, {"k": 1}) == {"k": 1}
    assert merge_globals({"k": 1}, {"Ref": "P"}) == {"Ref": "P"}
    assert merge_globals([1], {"Ref": "P"}) == {"Ref": "P"}

    app = parse(data, root=Path("/app"))
    fn = app.functions["Fn"]
    assert (fn.handler, fn.timeout, fn.memory, fn.code_uri) == (
        "app.lambda_handler",
        60,
        512,
        Path("/app/fn"),
    )
    assert fn.layers == ("Shared", "Extra")
    assert fn.environment == {"A": "global", "B": "local", "C": "local", "D": "INFO"}
    assert app.functions["Bare"].timeout == 3  # Lambda's default once Globals is ignored


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
    # SQS's MaximumConcurrency takes 2..1000: the parameter cannot ask for less or more.
    assert source["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "IngestConcurrency"}
    concurrency = template["Parameters"]["IngestConcurrency"]
    assert (concurrency["MinValue"], concurrency["MaxValue"]) == (2, 1000)
    assert 2 <= concurrency["Default"] <= 1000


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
    assert spec["FunctionArn"] == {"Ref": "AuthorizerFunction.Alias"}  # SnapStart, below
    assert spec["EnableSimpleResponses"] is True
    assert spec["AuthorizerPayloadFormatVersion"] == "2.0"
    assert spec["Identity"]["Headers"] == ["Authorization"]
    assert 0 < spec["Identity"]["ReauthorizeEvery"] <= 300


# SnapStart (docs/deploy.md, "SnapStart"): the properties of a function that are not part of
# what a published version freezes; a version must not be republished for them alone
# (CloudFormation refuses to publish a version identical to the last one).
UNVERSIONED = ("Events", "Policies", "VersionDescription", "ReservedConcurrentExecutions", "Tags")


def resolve_if(value: Any, conditions: dict[str, bool]) -> Any:
    """``value`` with each Fn::If decided as CloudFormation would for ``conditions``."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        name, when_true, when_false = value["Fn::If"]
        return resolve_if(when_true if conditions[name] else when_false, conditions)
    if isinstance(value, dict):
        return {k: resolve_if(v, conditions) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_if(v, conditions) for v in value]
    return value


def parameters_read(template: dict[str, Any], value: Any) -> set[str]:
    """The template parameters ``value`` depends on: !Ref, ${Name} in !Sub, and those of the
    conditions its Fn::If test."""
    names = set(template["Parameters"])
    if isinstance(value, list):
        return set().union(*(parameters_read(template, v) for v in value))
    if not isinstance(value, dict):
        return set()
    found: set[str] = set()
    for key, inner in value.items():
        if key == "Ref" and inner in names:
            found.add(inner)
        elif key == "Fn::Sub":
            text, variables = (inner, {}) if isinstance(inner, str) else inner
            found |= set(re.findall(r"\$\{(\w+)\}", text)) & names
            found |= parameters_read(template, variables)
        elif key == "Fn::If":
            found |= parameters_read(template, template["Conditions"][inner[0]])
            found |= parameters_read(template, inner[1:])
        else:
            found |= parameters_read(template, inner)
    return found


def test_snapstart_is_a_deploy_option_off_by_default(template: dict[str, Any]) -> None:
    spec = template["Parameters"]["EnableSnapStart"]
    assert (spec["Type"], spec["Default"], spec["AllowedValues"]) == (
        "String",
        "false",
        ["true", "false"],
    )
    assert template["Conditions"]["SnapStartOn"] == {
        "Fn::Equals": [{"Ref": "EnableSnapStart"}, "true"]
    }
    # SnapStart for Python needs 3.12 or later.
    assert template["Globals"]["Function"]["Runtime"] == "python3.13"


@pytest.mark.parametrize("enabled", [True, False])
def test_with_enable_snapstart_every_function_snapshots_its_published_versions(
    template: dict[str, Any], enabled: bool
) -> None:
    """EnableSnapStart=true: SnapStart on the published versions of every function, except
    the migration, which the Migrations custom resource invokes unqualified once per
    deploy (a snapshot would be billed and never restored). Nothing SnapStart cannot be
    combined with is set: provisioned concurrency, EFS, ephemeral storage over 512 MB."""
    glob = template["Globals"]["Function"]
    assert (glob["AutoPublishAlias"], glob["VersionDeletionPolicy"]) == ("live", "Delete")
    for name in functions(template):
        props = merged(template, name)
        snapstart = resolve_if(props["SnapStart"], {"SnapStartOn": enabled})
        on = enabled and name != "MigrationFunction"
        assert snapstart == {"ApplyOn": "PublishedVersions" if on else "None"}, name
        assert props["AutoPublishAlias"] == "live", name
        assert not props.keys() & {"ProvisionedConcurrencyConfig", "FileSystemConfigs"}, name
        assert props.get("EphemeralStorage", {"Size": 512})["Size"] <= 512, name


def test_every_change_that_reaches_a_function_publishes_a_version(
    template: dict[str, Any],
) -> None:
    """The alias serves a published version, so whatever changes a function must publish
    another: its code or any property (AutoPublishAliasAllProperties), a layer's content
    (PublishLambdaVersion), or a parameter it reads, whose value its VersionDescription
    shows (a new description replaces the version). It names exactly those parameters:
    one more would republish an unchanged function, which CloudFormation refuses."""
    for layer in ("SharedLayer", "CryptoLayer"):
        assert template["Resources"][layer]["Properties"]["PublishLambdaVersion"] is True
    defaults = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    for name in functions(template):
        props = merged(template, name)
        assert props["AutoPublishAliasAllProperties"] is True, name
        text = props["VersionDescription"]["Fn::Sub"]
        versioned = {k: v for k, v in props.items() if k not in UNVERSIONED}
        read = parameters_read(template, versioned)
        assert set(re.findall(r"\$\{(\w+)\}", text)) == read, name
        assert text == " ".join(
            f"{p}=${{{p}}}" for p in sorted(read, key=lambda p: (p != "EnableSnapStart", p))
        ), name
        assert (name == "MigrationFunction") != ("EnableSnapStart" in read), name
        # A version's description is at most 256 characters.
        assert len(re.sub(r"\$\{(\w+)\}", lambda m: defaults[m[1]], text)) <= 200, name


def test_only_the_public_routes_skip_the_authorizer() -> None:
    app = parse()
    public = {r.route_key for r in app.routes if r.authorizer is None}
    assert public == {
        "POST /auth/register",
        "POST /auth/login",
        "POST /auth/refresh",
        "POST /auth/logout",
        "POST /auth/verify-email",
        "POST /auth/password/forgot",
        "POST /auth/password/reset",
        "GET /store/products/{product_id}",
        "POST /checkout",
        "GET /checkout/orders/{order_id}",
        "POST /webhooks/stripe",
        "POST /webhooks/meta/deauthorize",
        "POST /webhooks/meta/data-deletion",
        "GET /meta/data-deletion/{confirmation_code}",
    }


SECRETS = (
    "JWT_SECRET",
    "PASSWORD_PEPPER",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "META_APP_SECRET",
    "TOKEN_ENCRYPTION_KEY",
    "VISITOR_KEY",
)


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


def test_the_one_origin_cors_allows_is_the_web_apps(template: dict[str, Any]) -> None:
    cors = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == [{"Ref": "WebBaseUrl"}]
    # the file upload goes from that origin straight to FilesBucket
    files = template["Resources"]["FilesBucket"]["Properties"]["CorsConfiguration"]
    assert files["CorsRules"][0]["AllowedOrigins"] == [{"Ref": "WebBaseUrl"}]
    assert "Authorization" in cors["AllowHeaders"]


def test_functions_run_in_private_subnets_behind_the_proxy(template: dict[str, Any]) -> None:
    vpc = template["Globals"]["Function"]["VpcConfig"]
    assert vpc["SubnetIds"] == [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]
    resources = template["Resources"]
    proxy_in = resources["ProxySecurityGroup"]["Properties"]["SecurityGroupIngress"]
    db_in = resources["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert [r["SourceSecurityGroupId"] for r in proxy_in] == [{"Ref": "FunctionSecurityGroup"}]
    assert [r["SourceSecurityGroupId"] for r in db_in] == [
        {"Ref": "ProxySecurityGroup"},
        {"Ref": "MigrationSecurityGroup"},
    ]
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
    # End-to-end IAM: clients and the proxy both sign in with IAM tokens, no secrets.
    assert proxy["DefaultAuthScheme"] == "IAM_AUTH"
    assert "Auth" not in proxy


def db_role(template: dict[str, Any], policy_id: str) -> Any:
    """The PostgreSQL role a DbConnect policy lets a function log in as; fails unless the
    policy is the one pattern: rds-db:connect through DbProxy as that role, nothing else."""
    policy = template["Resources"][policy_id]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy", policy_id
    assert re.fullmatch(r"DbConnect\w+Policy", policy_id), policy_id
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement.keys() == {"Effect", "Action", "Resource"}
    assert (statement["Effect"], statement["Action"]) == ("Allow", "rds-db:connect")
    arn, variables = statement["Resource"]["Fn::Sub"]
    assert arn == (
        "arn:${AWS::Partition}:rds-db:${AWS::Region}:${AWS::AccountId}:dbuser:${ProxyId}/${DbUser}"
    )
    assert variables["ProxyId"] == {
        "Fn::Select": [6, {"Fn::Split": [":", {"Fn::GetAtt": ["DbProxy", "DBProxyArn"]}]}]
    }
    assert variables.keys() == {"ProxyId", "DbUser"}
    return variables["DbUser"]


def grants(template: dict[str, Any], name: str) -> set[str]:
    """What a function's Policies allow, one word per policy; an unknown form (an inline
    statement, a managed policy by name, another policy template) fails the test."""
    out: set[str] = set()
    for policy in template["Resources"][name]["Properties"].get("Policies", []):
        assert isinstance(policy, dict) and len(policy) == 1, f"{name}: {policy!r}"
        ((kind, value),) = policy.items()
        if kind == "Ref":
            role = db_role(template, value)
            out.add(f"db:{role['Ref'] if isinstance(role, dict) else role}")
        elif kind == "AWSSecretsManagerGetSecretValuePolicy":
            arn = value["SecretArn"]
            out.add(f"secret:{arn['Ref'] if 'Ref' in arn else '.'.join(arn['Fn::GetAtt'])}")
        elif kind == "SQSSendMessagePolicy":
            out.add(f"sqs-send:{value['QueueName']['Fn::GetAtt'][0]}")
        elif kind == "SQSPollerPolicy":
            out.add(f"sqs-poll:{value['QueueName']['Fn::GetAtt'][0]}")
        elif kind == "Statement":
            out |= {f"statement:{s['Action']}" for s in value}  # pinned by ses_send_statement
        else:
            raise AssertionError(f"{name}: unknown policy {policy!r}")
    return out


# Least privilege, pinned: what each function may do beyond writing its logs and traces.
# A change here is a change in what a function may reach.
ACCESS = {
    # The schema owner: the master secret, straight to the cluster (no rds-db:connect).
    "MigrationFunction": {"secret:DbCluster.MasterUserSecret.SecretArn"},
    "AuthorizerFunction": {"secret:JwtSecret"},
    "AuthFunction": {
        "secret:OriginVerifySecret",
        "secret:JwtSecret",
        "secret:PasswordPepperSecret",
        "secret:TokenEncryptionKeySecret",
        "sqs-send:NotifyQueue",
        "db:nexus_auth",
    },
    "ProductsFunction": {
        "secret:OriginVerifySecret",
        "db:nexus_products",
        "statement:s3:GetObject",
        "statement:s3:PutObject",
    },
    "CheckoutFunction": {
        "secret:OriginVerifySecret",
        "secret:StripeSecretKeySecret",
        "secret:StripeWebhookSecret",
        "secret:VisitorKeySecret",
        "sqs-send:NotifyQueue",
        "statement:s3:GetObject",
        "db:nexus_checkout",
    },
    "IntegrationsFunction": {
        "secret:OriginVerifySecret",
        "secret:TokenEncryptionKeySecret",
        "secret:MetaAppSecret",
        "sqs-send:IngestQueue",
        "sqs-send:ExportQueue",
        "statement:s3:GetObject",
        "db:nexus_integrations",
    },
    "IngestFanoutFunction": {"sqs-send:IngestQueue", "db:nexus_fanout"},
    "IngestMetricsFunction": {
        "secret:TokenEncryptionKeySecret",
        "secret:MetaAppSecret",
        "sqs-send:IngestDeadLetterQueue",
        "sqs-poll:IngestQueue",
        "sqs-send:NotifyQueue",
        "db:nexus_ingest",
    },
    "NotifyFunction": {
        "secret:TokenEncryptionKeySecret",
        "sqs-poll:NotifyQueue",
        "statement:ses:SendEmail",
        "db:nexus_notify",
    },
    "MaintenanceFunction": {
        "secret:StripeSecretKeySecret",
        "sqs-send:NotifyQueue",
        "db:nexus_maintenance",
    },
    "ExportFunction": {
        "sqs-poll:ExportQueue",
        "statement:s3:PutObject",
        "statement:s3:AbortMultipartUpload",
        "db:nexus_export",
    },
}


def test_least_privilege_per_function(template: dict[str, Any]) -> None:
    assert {name: grants(template, name) for name in functions(template)} == ACCESS
    for name, fn in functions(template).items():
        assert "Role" not in fn["Properties"], name  # SAM's role, built from the Policies


def migration_roles() -> set[str]:
    """The roles the migrations create (their VALUES lists of time budgets)."""
    migrations = sorted((ROOT / "layers/shared/nexus/db/migrations").glob("*.sql"))
    sql = "\n".join(m.read_text() for m in migrations)
    return set(re.findall(r"^\s*\('(nexus_\w+)',", sql, flags=re.MULTILINE))


def test_database_access_is_one_managed_policy_per_role_matching_db_user(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    policies = {k for k, v in resources.items() if v["Type"] == "AWS::IAM::ManagedPolicy"}
    roles = {p: db_role(template, p) for p in sorted(policies)}
    assert len(set(roles.values())) == len(roles)  # one policy per role
    assert set(roles.values()) == migration_roles()
    attached: set[str] = set()
    for name, fn in functions(template).items():
        refs = [p["Ref"] for p in fn["Properties"].get("Policies", []) if "Ref" in p]
        db_user = env(template, name).get("DB_USER")
        if name == "MigrationFunction":
            # Only the migration is the owner, and it does not go through the proxy.
            assert (db_user, refs) == ({"Ref": "DatabaseUser"}, []), name
            continue
        if db_user is None:
            assert refs == [], f"{name} has no role but may connect"
            continue
        # Exactly the policy of the role the function logs in as.
        assert [roles[r] for r in refs] == [db_user], name
        attached.update(refs)
    assert attached == policies, "a DbConnect policy no function attaches"


def test_the_proxy_signs_in_to_aurora_as_exactly_the_function_roles(
    template: dict[str, Any],
) -> None:
    (policy,) = template["Resources"]["DbProxyRole"]["Properties"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Allow", "rds-db:connect")
    prefix = "arn:${AWS::Partition}:rds-db:${AWS::Region}:${AWS::AccountId}:dbuser:"
    users = set()
    for resource in statement["Resource"]:
        arn = resource["Fn::Sub"]
        assert arn.startswith(prefix + "${DbCluster.DBClusterResourceId}/"), arn
        users.add(arn.rsplit("/", 1)[1])
    assert users == migration_roles()  # never the owner: it signs in with its password


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


def log_group_and_errors_alarm(name: str) -> dict[str, Any]:
    """The two resources every function has, exactly (only the logical id varies)."""
    return {
        f"{name}Logs": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"RetentionInDays": {"Ref": "LogRetentionDays"}},
        },
        f"{name}ErrorsAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": {"Fn::Sub": f"${{{name}}} raised errors"},
                "Namespace": "AWS/Lambda",
                "MetricName": "Errors",
                "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": name}}],
                "Statistic": "Sum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "AlarmActions": {
                    "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
                },
                "TreatMissingData": "notBreaching",
            },
        },
    }


def test_every_function_has_its_log_group_with_retention_and_errors_alarm(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    for name, fn in functions(template).items():
        for logical_id, expected in log_group_and_errors_alarm(name).items():
            assert resources.get(logical_id) == expected, f"{logical_id}: not the shared shape"
        assert fn["Properties"]["LoggingConfig"] == {"LogGroup": {"Ref": f"{name}Logs"}}, name


def test_functions_are_told_the_queues_they_may_use_and_only_those(
    template: dict[str, Any],
) -> None:
    queues = {k for k, v in template["Resources"].items() if v["Type"] == "AWS::SQS::Queue"}
    secrets = {
        k for k, v in template["Resources"].items() if v["Type"] == "AWS::SecretsManager::Secret"
    }
    for name in functions(template):
        variables = env(template, name)
        refs = {key: v["Ref"] for key, v in variables.items() if isinstance(v, dict) and "Ref" in v}
        allowed = grants(template, name)
        told_queues = {q for q in refs.values() if q in queues}
        may_use = {g.split(":", 1)[1] for g in allowed if g.startswith("sqs-")}
        assert told_queues == may_use, name
        told_secrets = {key: s for key, s in refs.items() if s in secrets}
        assert all(key.endswith("_ARN") for key in told_secrets), name
        assert set(told_secrets.values()) == {
            g.split(":", 1)[1] for g in allowed if g.startswith("secret:") and "." not in g
        }, name
    assert env(template, "MigrationFunction")["DB_SECRET_ARN"] == {
        "Fn::GetAtt": ["DbCluster", "MasterUserSecret.SecretArn"]
    }
    assert env(template, "IntegrationsFunction")["INGEST_QUEUE_URL"] == {"Ref": "IngestQueue"}
    assert env(template, "IngestFanoutFunction")["INGEST_QUEUE_URL"] == {"Ref": "IngestQueue"}
    consumer = env(template, "IngestMetricsFunction")
    assert consumer["INGEST_QUEUE_URL"] == {"Ref": "IngestQueue"}  # hold(): visibility
    assert consumer["INGEST_DLQ_URL"] == {"Ref": "IngestDeadLetterQueue"}


def test_sam_local_env_vars_are_declared(template: dict[str, Any]) -> None:
    """`sam local invoke --env-vars env.json` sets only the variables the template declares
    for that function; the ones every function needs are declared in Globals."""
    glob = template["Globals"]["Function"]["Environment"]["Variables"]
    assert glob["AWS_ENDPOINT_URL"] == ""  # botocore treats empty as unset: AWS's endpoints
    assert glob["DATABASE_URL"] == ""
    overrides = json.loads((ROOT / "env.json").read_text(encoding="utf-8"))
    declared = {name: env(template, name).keys() for name in functions(template)}
    for section, values in overrides.items():
        targets = declared.values() if section == "Parameters" else [declared[section]]
        for key in values:
            assert any(key in keys for keys in targets), f"env.json {section}.{key} is not declared"


def test_powertools_settings_are_the_ones_it_reads(template: dict[str, Any]) -> None:
    from aws_lambda_powertools.shared import constants

    from nexus.observability import metrics

    glob = template["Globals"]["Function"]
    powertools = {
        key for name in functions(template) for key in env(template, name) if "POWERTOOLS" in key
    }
    assert powertools == {constants.SERVICE_NAME_ENV, constants.POWERTOOLS_LOG_LEVEL_ENV}
    # The namespace is the code's constant, so POWERTOOLS_METRICS_NAMESPACE would be inert.
    assert constants.METRICS_NAMESPACE_ENV not in powertools
    assert metrics.namespace == "NexusSales"
    level = {"Ref": "LogLevel"}
    assert glob["Environment"]["Variables"][constants.POWERTOOLS_LOG_LEVEL_ENV] == level
    assert glob["LoggingConfig"]["ApplicationLogLevel"] == level
    # Valid for Lambda's ApplicationLogLevel and for Python's logging (Powertools).
    for value in template["Parameters"]["LogLevel"]["AllowedValues"]:
        assert value in {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}, value
        assert isinstance(logging.getLevelName(value), int), value


def emitted_metrics() -> tuple[set[str], set[str]]:
    """Metric names the code passes to metrics.add_metric: exact names and f-string prefixes."""
    names: set[str] = set()
    prefixes: set[str] = set()
    for path in [*ROOT.glob("functions/*/*.py"), *ROOT.glob("layers/shared/nexus/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_metric"
            ):
                continue
            name = next(k.value for k in node.keywords if k.arg == "name")
            if isinstance(name, ast.Constant):
                names.add(str(name.value))
            elif isinstance(name, ast.JoinedStr) and isinstance(name.values[0], ast.Constant):
                prefixes.add(str(name.values[0].value))
    return names, prefixes


def dashboard_metrics(template: dict[str, Any]) -> list[list[Any]]:
    """The dashboard's metric rows with CloudWatch's "." shorthand expanded."""
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    rows: list[list[Any]] = []
    for widget in widgets:
        previous: list[Any] = []
        for row in widget["properties"].get("metrics", []):
            fields = [f for f in row if not isinstance(f, dict)]
            if "..." not in fields:
                fields = [previous[i] if f == "." else f for i, f in enumerate(fields)]
                rows.append(fields)
                previous = fields
    return rows


def test_dashboard_shows_what_the_code_emits(template: dict[str, Any]) -> None:
    from nexus.observability import METRICS_NAMESPACE

    service = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    names, prefixes = emitted_metrics()
    assert names, "no metrics.add_metric call found"
    custom = [row for row in dashboard_metrics(template) if row[0] == METRICS_NAMESPACE]
    assert custom, "the dashboard shows none of the Powertools metrics"
    for _, name, *dimensions in custom:
        assert name in names or name.startswith(tuple(prefixes)), name
        # Powertools Metrics adds the service as the one default dimension.
        assert dimensions == ["service", service], name
    alarms = [
        v["Properties"]
        for v in template["Resources"].values()
        if v["Type"] == "AWS::CloudWatch::Alarm"
    ]
    for alarm in alarms:
        if alarm.get("Namespace") == METRICS_NAMESPACE:
            assert alarm["MetricName"] in names or alarm["MetricName"].startswith(tuple(prefixes))
            assert alarm["Dimensions"] == [{"Name": "service", "Value": service}]


def test_email_queue_retries_then_dead_letters_and_ses_is_sent_as_the_identity_only(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    queue = resources["NotifyQueue"]["Properties"]
    timeout = merged(template, "NotifyFunction")["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["NotifyDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    events = resources["NotifyFunction"]["Properties"]["Events"]
    assert events["Emails"]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    (ses_send,) = [
        p["Statement"]
        for p in resources["NotifyFunction"]["Properties"]["Policies"]
        if "Statement" in p
    ]
    (statement,) = ses_send
    assert (statement["Effect"], statement["Action"]) == ("Allow", "ses:SendEmail")
    identity, configuration_set = statement["Resource"]
    assert identity["Fn::Sub"][0].endswith(":identity/${Identity}")
    assert configuration_set["Fn::Sub"].endswith(":configuration-set/${EmailConfigurationSet}")
    for name in ("NotifyFunction", "MaintenanceFunction", "AuthFunction", "CheckoutFunction"):
        assert env(template, name)["NOTIFY_QUEUE_URL"] == {"Ref": "NotifyQueue"}, name
    assert env(template, "IngestMetricsFunction")["NOTIFY_QUEUE_URL"] == {"Ref": "NotifyQueue"}
    schedule = resources["MaintenanceFunction"]["Properties"]["Events"]["Schedule"]
    assert schedule["Properties"]["ScheduleExpression"] == {"Ref": "MaintenanceSchedule"}
    assert template["Parameters"]["WebBaseUrl"]["Default"] == "http://127.0.0.1:8080"


def test_exports_queue_one_at_a_time_and_the_bucket_reaches_only_exports(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    queue = resources["ExportQueue"]["Properties"]
    worker = merged(template, "ExportFunction")
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["ExportDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    source = worker["Events"]["Exports"]["Properties"]
    assert source["BatchSize"] == 1
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert env(template, "ExportFunction")["DB_USER"] == "nexus_export"
    for name in ("ExportFunction", "IntegrationsFunction"):
        assert env(template, name)["EXPORTS_BUCKET"] == {"Ref": "ExportsBucket"}, name
        assert env(template, name)["EXPORT_QUEUE_URL"] == {"Ref": "ExportQueue"}, name
        # Every S3 statement names exports/* of ExportsBucket, nothing wider.
        for policy in resources[name]["Properties"]["Policies"]:
            for statement in policy.get("Statement", []):
                assert statement["Resource"] == {"Fn::Sub": "${ExportsBucket.Arn}/exports/*"}
    bucket = resources["ExportsBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"),
        True,
    )
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (expire, _markers) = bucket["LifecycleConfiguration"]["Rules"]
    assert expire["Prefix"] == "exports/"
    assert expire["ExpirationInDays"] == {"Ref": "ExportRetentionDays"}
    assert expire["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    # An export's link may be asked for up to EXPORT_EXPIRY_HOURS after the request (and the
    # worker may take its Timeout first): the object outlives that.
    from nexus.settings import Settings

    metadata = Settings.model_fields["export_expiry_hours"].metadata
    (most,) = [m.le for m in metadata if hasattr(m, "le")]
    retention = template["Parameters"]["ExportRetentionDays"]["MinValue"]
    assert retention * 86_400 > most * 3600 + worker["Timeout"]
    (tls,) = resources["ExportsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (tls["Effect"], tls["Condition"]) == (
        "Deny",
        {"Bool": {"aws:SecureTransport": "false"}},
    )
