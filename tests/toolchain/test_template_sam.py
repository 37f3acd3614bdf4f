"""The template as SAM itself transforms it (samtranslator from the SAM CLI that make installs):
the local stack reads every function as SAM deploys it, Globals applied, and each function's
role gets database access only through the DbConnect policy of its own PostgreSQL role."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from nexus_local.template import ROOT, load, parse

SAM_PYTHON = ROOT / ".tools/sam/bin/python"

# What `sam validate` does before translating, minus the AWS calls: local code paths become S3
# URIs and the managed policy map is empty (the template names no managed policy).
TRANSLATE = """
import json, sys
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

class NoManagedPolicies:
    def load(self):
        return {}

template = yaml_parse(open(sys.argv[1], encoding="utf-8").read())
for resource in template["Resources"].values():
    props = resource.get("Properties") or {}
    for key in ("CodeUri", "ContentUri"):
        if isinstance(props.get(key), str):
            props[key] = "s3://bucket/" + props[key]
pseudo = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::AccountId": "123456789012"}
json.dump(transform(template, pseudo, NoManagedPolicies()), sys.stdout, default=str)
"""


@pytest.fixture(scope="module")
def deployed() -> dict[str, Any]:
    if not SAM_PYTHON.exists():
        pytest.skip("the SAM CLI is installed by make validate / make build")
    out = subprocess.run(
        [str(SAM_PYTHON), "-c", TRANSLATE, str(ROOT / "template.yaml")],
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    resources: dict[str, Any] = json.loads(out.stdout)["Resources"]
    return resources


def test_sam_and_the_local_stack_read_each_function_alike(deployed: dict[str, Any]) -> None:
    template = load()
    defaults = {k: v.get("Default") for k, v in template["Parameters"].items()}
    layers = [k for k, v in template["Resources"].items() if v["Type"].endswith("LayerVersion")]
    app = parse()
    assert {k for k, v in deployed.items() if v["Type"] == "AWS::Lambda::Function"} == set(
        app.functions
    )
    for name, fn in app.functions.items():
        props = deployed[name]["Properties"]
        assert props["Handler"] == fn.handler == "app.lambda_handler", name
        assert (props["Runtime"], props["Architectures"]) == ("python3.13", ["arm64"]), name
        assert (props["Timeout"], props["MemorySize"]) == (fn.timeout, fn.memory), name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert props["LoggingConfig"] == {
            "LogFormat": "JSON",
            "ApplicationLogLevel": {"Ref": "LogLevel"},
            "SystemLogLevel": "WARN",
            "LogGroup": {"Ref": f"{name}Logs"},
        }, name
        assert props["VpcConfig"]["SubnetIds"] == [
            {"Ref": "PrivateSubnetA"},
            {"Ref": "PrivateSubnetB"},
        ], name
        # SAM names a layer version <LogicalId><hash>.
        deployed_layers = tuple(
            next(lid for lid in layers if layer["Ref"].startswith(lid)) for layer in props["Layers"]
        )
        assert deployed_layers == fn.layers, name
        variables = props["Environment"]["Variables"]
        assert fn.environment.keys() <= variables.keys(), name
        for key, value in variables.items():
            if isinstance(value, str):
                assert fn.environment[key] == value, f"{name} {key}"
            elif "Ref" in value and value["Ref"] in defaults:
                assert fn.environment[key] == str(defaults[value["Ref"]]), f"{name} {key}"


def test_database_access_reaches_the_roles_only_through_the_policy(
    deployed: dict[str, Any],
) -> None:
    """Each function's role attaches exactly the DbConnect policy of its DB_USER (none for
    the authorizer), and no inline statement allows rds-db; the migration, the owner, reads
    the master secret instead and its security groups reach Aurora."""
    policy_of = {
        props["Properties"]["PolicyDocument"]["Statement"][0]["Resource"]["Fn::Sub"][1][
            "DbUser"
        ]: name
        for name, props in deployed.items()
        if props["Type"] == "AWS::IAM::ManagedPolicy"
    }
    for name, fn in parse().functions.items():
        role = deployed[f"{name}Role"]["Properties"]
        inline = json.dumps(role.get("Policies", []))
        assert "rds-db" not in inline, name
        attached = [a["Ref"] for a in role["ManagedPolicyArns"] if "Ref" in a]
        db_user = fn.environment.get("DB_USER")
        if name == "MigrationFunction":
            assert attached == [] and "MasterUserSecret" in inline, name
            groups = deployed[name]["Properties"]["VpcConfig"]["SecurityGroupIds"]
            assert {"Ref": "MigrationSecurityGroup"} in groups, name
        elif db_user is None:
            assert attached == [], name
        else:
            assert attached == [policy_of[db_user]], name
