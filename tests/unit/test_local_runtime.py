"""The local runtime's rules, without starting an environment: how many environments a
function may have, and which value of a variable its environments see."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from nexus_local import runtime
from nexus_local.runtime import Overlay, common_variables, environment_limit, identity_variables
from nexus_local.template import App, Function, parse


def _template(functions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "Parameters": {"Reserved": {"Type": "Number", "Default": 3}},
        "Globals": {
            "Function": {
                "Handler": "app.lambda_handler",
                "Environment": {
                    "Variables": {
                        "DB_USER": "nexus_app",
                        "POWERTOOLS_SERVICE_NAME": "nexus",
                        "DATABASE_URL": "",
                        "GRAPH_API_BASE_URL": "https://graph.facebook.com",
                    }
                },
            }
        },
        "Resources": {
            name: {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "x/", **props}}
            for name, props in functions.items()
        },
    }


@pytest.fixture
def app() -> App:
    return parse(
        _template(
            {
                "Auth": {
                    "Environment": {"Variables": {"DB_USER": "nexus_auth", "BCRYPT_ROUNDS": "12"}},
                    "ReservedConcurrentExecutions": 2,
                },
                "Products": {
                    "Environment": {"Variables": {"DB_USER": "nexus_products"}},
                    "ReservedConcurrentExecutions": {"Ref": "Reserved"},
                },
                "Migrate": {},
            }
        )
    )


def test_reserved_concurrency_is_read_from_the_template(app: App) -> None:
    assert app.functions["Auth"].reserved_concurrency == 2
    assert app.functions["Products"].reserved_concurrency == 3  # a !Ref to a parameter
    assert app.functions["Migrate"].reserved_concurrency is None


def test_the_limit_is_reserved_concurrency_else_the_runtime_s_else_the_variable(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCAL_MAX_ENVIRONMENTS", raising=False)
    assert environment_limit(app.functions["Auth"], 8) == 2
    assert environment_limit(app.functions["Migrate"], 8) == 8
    assert environment_limit(app.functions["Migrate"], None) == 4
    monkeypatch.setenv("LOCAL_MAX_ENVIRONMENTS", "2")
    assert environment_limit(app.functions["Migrate"], None) == 2
    assert environment_limit(app.functions["Auth"], None) == 2
    monkeypatch.setenv("LOCAL_MAX_ENVIRONMENTS", "many")
    with pytest.raises(ValueError, match="LOCAL_MAX_ENVIRONMENTS"):
        environment_limit(app.functions["Migrate"], None)


def test_identity_variables_are_those_the_functions_disagree_on(app: App) -> None:
    # BCRYPT_ROUNDS is set by one function only: a knob, not an identity
    assert identity_variables(app) == {"DB_USER"}
    assert common_variables(app) == {
        "POWERTOOLS_SERVICE_NAME": "nexus",
        "DATABASE_URL": "",
        "GRAPH_API_BASE_URL": "https://graph.facebook.com",
    }


def test_a_function_environment_over_the_process_one(app: App) -> None:
    overlay = Overlay.of(app.functions["Auth"], identity_variables(app))
    outer = {
        "DATABASE_URL": "postgresql://local/nexus",
        "DB_USER": "set_by_someone",
        "BCRYPT_ROUNDS": "4",
        "PATH": "/bin",
    }
    assert overlay.apply(outer) == {
        # the function's identity wins
        "DB_USER": "nexus_auth",
        # the process's values (the stack's stand-ins, a developer's knobs) win over the rest
        "DATABASE_URL": "postgresql://local/nexus",
        "BCRYPT_ROUNDS": "4",
        "PATH": "/bin",
        # and the function's other values fill what the process lacks
        "POWERTOOLS_SERVICE_NAME": "nexus",
        "GRAPH_API_BASE_URL": "https://graph.facebook.com",
    }


def test_the_environ_overlay_is_per_thread_and_writes_through(app: App) -> None:
    real: dict[str, str] = {"DATABASE_URL": "postgresql://test/db"}
    environ = runtime._FunctionEnviron(real)
    auth = Overlay.of(app.functions["Auth"], identity_variables(app))
    seen: dict[str, Any] = {}

    def worker() -> None:
        environ.enter(auth)
        seen["DB_USER"] = environ.get("DB_USER")
        seen["DATABASE_URL"] = environ["DATABASE_URL"]
        seen["BCRYPT_ROUNDS"] = environ.get("BCRYPT_ROUNDS")
        seen["keys"] = set(environ)
        environ["WRITTEN"] = "by the handler"

    real["BCRYPT_ROUNDS"] = "4"
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["DB_USER"] == "nexus_auth"
    assert seen["DATABASE_URL"] == "postgresql://test/db"  # the test's value wins
    assert seen["BCRYPT_ROUNDS"] == "4"
    assert {"DB_USER", "POWERTOOLS_SERVICE_NAME", "DATABASE_URL"} <= seen["keys"]
    # A thread that is no environment sees the real environment, writes included
    assert "DB_USER" not in environ
    assert real["WRITTEN"] == "by the handler"
    assert environ.copy() == real


def test_the_overlay_is_installed_once_and_transparent_outside_environments() -> None:
    environ = runtime._function_environ()
    assert runtime._function_environ() is environ
    assert os.environ is environ
    os.environ["NEXUS_UNIT_PROBE"] = "1"
    try:
        assert runtime._real_environ()["NEXUS_UNIT_PROBE"] == "1"
        assert os.getenv("NEXUS_UNIT_PROBE") == "1"
    finally:
        del os.environ["NEXUS_UNIT_PROBE"]
    assert "NEXUS_UNIT_PROBE" not in runtime._real_environ()


def test_an_unknown_isolation_is_refused(app: App) -> None:
    with pytest.raises(ValueError, match="isolation"):
        runtime.Runtime(app, isolation="container")  # type: ignore[arg-type]


def test_a_function_without_reserved_concurrency(app: App) -> None:
    fn: Function = app.functions["Migrate"]
    assert Overlay.of(fn, identity_variables(app)).identity == {"DB_USER": "nexus_app"}
