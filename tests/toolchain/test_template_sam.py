"""The template as SAM itself transforms it (samtranslator from the SAM CLI that make installs):
the local stack reads every function as SAM deploys it, Globals applied, and each function's
role gets database access only through the DbConnect policy of its own PostgreSQL role; with
EnableSnapStart=true every function but the migration snapshots its published versions, and
everything that invokes a function invokes its alias."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
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
pseudo.update(json.loads(sys.argv[2]))  # parameter values, as `sam deploy --parameter-overrides`
json.dump(transform(template, pseudo, NoManagedPolicies()), sys.stdout, default=str)
"""


def translate(template: Path, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    if not SAM_PYTHON.exists():
        pytest.skip("the SAM CLI is installed by make validate / make build")
    out = subprocess.run(
        [str(SAM_PYTHON), "-c", TRANSLATE, str(template), json.dumps(parameters or {})],
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    resources: dict[str, Any] = json.loads(out.stdout)["Resources"]
    return resources


@pytest.fixture(scope="module")
def deployed() -> dict[str, Any]:
    return translate(ROOT / "template.yaml")


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


def _versions(resources: dict[str, Any]) -> dict[str, str]:
    """Each function's one published version: function logical id -> version logical id."""
    found = [
        (v["Properties"]["FunctionName"]["Ref"], k)
        for k, v in resources.items()
        if v["Type"] == "AWS::Lambda::Version"
    ]
    assert len(found) == len(dict(found))
    return dict(found)


def test_snapstart_true_snapshots_versions_and_everything_invokes_the_alias(
    deployed: dict[str, Any],
) -> None:
    snap = translate(ROOT / "template.yaml", {"EnableSnapStart": "true"})
    template = load()
    functions = {k for k, v in snap.items() if v["Type"] == "AWS::Lambda::Function"}
    versions = _versions(snap)
    assert versions.keys() == functions
    # The switch republishes through the versions' description, not a new logical id.
    assert versions == _versions(deployed)
    for name in functions:
        props = snap[name]["Properties"]
        expected = (
            "None"
            if name == "MigrationFunction"
            else {"Fn::If": ["SnapStartOn", "PublishedVersions", "None"]}
        )
        assert props["SnapStart"] == {"ApplyOn": expected}, name
        version = snap[versions[name]]
        assert version["DeletionPolicy"] == "Delete", name
        own = template["Resources"][name]["Properties"]
        assert version["Properties"]["Description"] == own["VersionDescription"], name
        alias = snap[f"{name}Aliaslive"]["Properties"]
        assert alias["FunctionVersion"] == {"Fn::GetAtt": [versions[name], "Version"]}, name
    # Routes, the authorizer, queues, topics and schedules invoke the alias; only the
    # Migrations custom resource (unqualified, once per deploy) and the per-function alarms
    # and dashboard (FunctionName metrics add up every version) name the function itself.
    callers = {
        k: v
        for k, v in snap.items()
        if k != "Migrations"
        and v["Type"] not in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard")
        and v["Type"] not in ("AWS::Lambda::Function", "AWS::Lambda::Version")
        and v["Type"] not in ("AWS::Lambda::Alias", "AWS::IAM::Role")
    }
    text = json.dumps(callers, default=str)
    for name in functions:
        assert json.dumps({"Ref": name}) not in text, name
        assert json.dumps({"Fn::GetAtt": [name, "Arn"]}) not in text, name
        if name != "MigrationFunction":
            assert json.dumps({"Ref": f"{name}Aliaslive"}) in text, name
    assert snap["Migrations"]["Properties"]["ServiceToken"] == {
        "Fn::GetAtt": ["MigrationFunction", "Arn"]
    }


@pytest.mark.parametrize("layer", ["SharedLayer", "CryptoLayer"])
def test_a_new_layer_version_publishes_the_functions_that_use_it(
    deployed: dict[str, Any], layer: str, tmp_path: Path
) -> None:
    source = (ROOT / "template.yaml").read_text(encoding="utf-8")
    content = f"ContentUri: layers/{layer.removesuffix('Layer').lower()}/"
    assert source.count(content) == 1
    changed = tmp_path / "template.yaml"
    changed.write_text(source.replace(content, content.rstrip("/") + "-next/"), encoding="utf-8")
    before, after = _versions(deployed), _versions(translate(changed))
    users = {name for name, fn in parse().functions.items() if layer in fn.layers}
    assert users, layer
    assert {name for name in before if before[name] != after[name]} == users
