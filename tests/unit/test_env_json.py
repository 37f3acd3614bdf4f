"""env.json (``sam local invoke --env-vars env.json``) names only variables the template
declares: SAM ignores any other. (That its values are the local stack's on its default ports
is checked against a running stack in tests/e2e/test_local_tools.py.)"""

from __future__ import annotations

import json
from typing import Any

from nexus_local import secrets
from nexus_local.template import load
from tests.support.api import ROOT


def _env_json() -> dict[str, str]:
    data: dict[str, Any] = json.loads((ROOT / "env.json").read_text(encoding="utf-8"))
    assert set(data) == {"Parameters"}, "one set of values for every function"
    return dict(data["Parameters"])


def _declared() -> set[str]:
    template = load()
    glob = template["Globals"]["Function"].get("Environment", {}).get("Variables", {})
    names = set(glob)
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            own = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
            names |= set(own)
    return names


def test_every_variable_in_env_json_is_declared_by_the_template() -> None:
    missing = set(_env_json()) - _declared()
    assert not missing, f"SAM would ignore {sorted(missing)}: template.yaml does not declare them"


def test_env_json_sets_the_secrets_the_functions_read_from_the_environment() -> None:
    assert set(secrets.NAMES) <= set(_env_json())
