"""Process mode of the local runtime: each emulated execution environment is an OS process
of its own, with its function's environment, one request at a time, at most the function's
limit of them; a timeout or a crash is a function error as on AWS, and a dead environment is
replaced. Functions here are small handlers written to a temporary folder."""

from __future__ import annotations

import os
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from nexus_local.runtime import InvocationError, Runtime
from nexus_local.template import App, parse

pytestmark = pytest.mark.e2e

HANDLER = """
import json, os, sys, time

STATE = {"calls": 0}


def lambda_handler(event, context):
    STATE["calls"] += 1
    action = event.get("action")
    if action == "crash":
        os._exit(3)
    if action == "sleep":
        if event.get("started"):
            open(event["started"], "w").close()  # tells the test the invocation is under way
        time.sleep(event["seconds"])
    if action == "raise":
        raise ValueError("bad input")
    if action == "unserialisable":
        return {"when": object()}
    if action == "print":
        print("printed by the handler", flush=True)
    if action == "echo":
        return {"data": event["data"]}
    return {
        "pid": os.getpid(),
        "calls": STATE["calls"],
        "remaining_ms": context.get_remaining_time_in_millis(),
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "env": {k: os.environ.get(k) for k in event.get("env", [])},
    }
"""


def _app(tmp_path: Path, functions: dict[str, dict[str, Any]], handler: str = HANDLER) -> App:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "app.py").write_text(textwrap.dedent(handler))
    resources = {
        name: {
            "Type": "AWS::Serverless::Function",
            "Properties": {"CodeUri": "code/", **props},
        }
        for name, props in functions.items()
    }
    template = {
        "Globals": {
            "Function": {
                "Handler": "app.lambda_handler",
                "Timeout": 5,
                "Environment": {"Variables": {"DB_USER": "shared_role", "SHARED": "template"}},
            }
        },
        "Resources": resources,
    }
    return parse(template, root=tmp_path)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    app = _app(
        tmp_path,
        {
            "One": {
                "Timeout": 1,
                "Environment": {"Variables": {"DB_USER": "one_role", "ONLY_ONE": "1"}},
            },
            "Two": {"Environment": {"Variables": {"DB_USER": "two_role"}}},
            "Reserved": {"ReservedConcurrentExecutions": 1},
        },
    )
    rt = Runtime(app, concurrency=2, isolation="process")
    yield rt
    rt.shutdown()


def test_each_function_gets_its_own_environment_and_the_process_values(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the stack's own value for a variable the template also sets (as DATABASE_URL)
    monkeypatch.setenv("SHARED", "stack")
    monkeypatch.setenv("DB_USER", "someone_else")
    names = ["DB_USER", "SHARED", "ONLY_ONE", "AWS_LAMBDA_FUNCTION_NAME"]
    one = runtime.invoke("One", {"env": names})
    two = runtime.invoke("Two", {"env": names})
    # Then each function's identity is its own, the stack's value wins over the template's
    assert one["env"] == {
        "DB_USER": "one_role",
        "SHARED": "stack",
        "ONLY_ONE": "1",
        "AWS_LAMBDA_FUNCTION_NAME": "One",
    }
    assert two["env"] == {
        "DB_USER": "two_role",
        "SHARED": "stack",
        "ONLY_ONE": None,
        "AWS_LAMBDA_FUNCTION_NAME": "Two",
    }
    # And each runs in a process of its own, not this one
    assert one["pid"] != two["pid"] != os.getpid()
    assert one["function_name"] == "One"


def test_an_environment_is_reused_and_keeps_its_module_state(runtime: Runtime) -> None:
    first = runtime.invoke("Two", {})
    second = runtime.invoke("Two", {})
    assert second["pid"] == first["pid"]
    assert (first["calls"], second["calls"]) == (1, 2)
    assert first["request_id"] != second["request_id"]


def test_the_context_counts_down_from_the_function_timeout(runtime: Runtime) -> None:
    assert 0 < runtime.invoke("One", {})["remaining_ms"] <= 1000
    assert 4000 < runtime.invoke("Two", {})["remaining_ms"] <= 5000


def test_a_timeout_kills_the_environment_and_is_reported_as_lambda_does(
    runtime: Runtime,
) -> None:
    before = runtime.invoke("One", {})["pid"]
    started = time.monotonic()
    with pytest.raises(InvocationError) as failure:
        runtime.invoke("One", {"action": "sleep", "seconds": 30})
    assert time.monotonic() - started < 5
    assert failure.value.error_type == "Sandbox.Timedout"
    assert failure.value.message.endswith("Error: Task timed out after 1.00 seconds")
    assert failure.value.message.startswith(f"RequestId: {failure.value.request_id} ")
    assert not psutil.pid_exists(before) or psutil.Process(before).status() == "zombie"
    # And the next invocation gets a fresh environment
    assert runtime.invoke("One", {})["pid"] != before


def test_a_crashed_environment_is_replaced(runtime: Runtime) -> None:
    before = runtime.invoke("Two", {})["pid"]
    with pytest.raises(InvocationError) as failure:
        runtime.invoke("Two", {"action": "crash"})
    assert failure.value.error_type == "Runtime.ExitError"
    assert "Runtime exited with error: exit status 3" in failure.value.message
    after = runtime.invoke("Two", {})
    assert after["pid"] != before
    assert after["calls"] == 1
    assert runtime.environment_pids("Two") == [after["pid"]]


def test_a_handler_error_is_a_function_error_and_the_environment_lives_on(
    runtime: Runtime,
) -> None:
    before = runtime.invoke("Two", {})["pid"]
    with pytest.raises(InvocationError) as failure:
        runtime.invoke("Two", {"action": "raise"})
    assert (failure.value.error_type, failure.value.message) == ("ValueError", "bad input")
    assert any("lambda_handler" in line for line in failure.value.stack_trace)
    with pytest.raises(InvocationError) as marshal:
        runtime.invoke("Two", {"action": "unserialisable"})
    assert marshal.value.error_type == "Runtime.MarshalError"
    assert runtime.invoke("Two", {})["pid"] == before


def test_a_module_that_fails_to_import_is_an_init_error(tmp_path: Path) -> None:
    app = _app(tmp_path, {"Broken": {}}, handler="raise RuntimeError('no config')\n")
    rt = Runtime(app, isolation="process")
    try:
        with pytest.raises(InvocationError) as failure:
            rt.invoke("Broken", {})
        assert failure.value.error_type == "Runtime.ImportModuleError"
        assert "no config" in failure.value.message
        assert rt.environment_pids("Broken") == []
    finally:
        rt.shutdown()


def test_the_pool_grows_to_its_limit_and_then_invocations_wait(runtime: Runtime) -> None:
    # Given a limit of 2 (concurrency=2) and of 1 (ReservedConcurrentExecutions: 1)
    assert (runtime.limit("Two"), runtime.limit("Reserved")) == (2, 1)
    seen: dict[str, set[int]] = {"Two": set(), "Reserved": set()}
    most = {"Two": 0, "Reserved": 0}
    lock = threading.Lock()

    def call(n: int) -> int:
        name = "Two" if n % 2 else "Reserved"
        pid = int(runtime.invoke(name, {"action": "sleep", "seconds": 0.3})["pid"])
        with lock:
            seen[name].add(pid)
            most[name] = max(most[name], len(runtime.environment_pids(name)))
        return pid

    # When 12 invocations arrive at once, Then all succeed (they wait, no error)
    with ThreadPoolExecutor(12) as pool:
        assert len(list(pool.map(call, range(12)))) == 12
    assert len(seen["Two"]) == 2 and most["Two"] <= 2
    assert len(seen["Reserved"]) == 1 and most["Reserved"] == 1


def test_shutdown_leaves_no_environment_running(tmp_path: Path) -> None:
    app = _app(tmp_path, {"One": {}})
    rt = Runtime(app, concurrency=3, isolation="process")
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: rt.invoke("One", {"action": "sleep", "seconds": 0.2}), range(3)))
    pids = rt.environment_pids("One")
    assert len(pids) == 3
    rt.shutdown()
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_shutdown_kills_an_environment_still_busy_after_the_grace(tmp_path: Path) -> None:
    app = _app(tmp_path, {"Slow": {"Timeout": 60}})
    rt = Runtime(app, isolation="process")
    outcome: list[BaseException | None] = []

    started_file = tmp_path / "started"

    def call() -> None:
        try:
            rt.invoke("Slow", {"action": "sleep", "seconds": 30, "started": str(started_file)})
            outcome.append(None)
        except InvocationError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 30
    # Wait until the handler runs (a loaded machine can take seconds to start the process)
    while not started_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    [pid] = rt.environment_pids("Slow")
    started = time.monotonic()
    rt.shutdown(grace=1)
    assert time.monotonic() - started < 5
    caller.join(timeout=10)
    assert isinstance(outcome[0], InvocationError)
    assert outcome[0].error_type == "Runtime.ExitError"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_large_events_and_answers_cross_the_pipes(runtime: Runtime) -> None:
    # Bigger than a pipe's buffer both ways (API Gateway passes up to 10 MB)
    data = "é" * 3_000_000
    assert runtime.invoke("Two", {"action": "echo", "data": data}) == {"data": data}


def test_what_a_handler_prints_and_logs_reaches_the_stack_s_output(
    runtime: Runtime, capfd: pytest.CaptureFixture[str]
) -> None:
    runtime.invoke("Two", {"action": "print"})
    with pytest.raises(InvocationError) as failure:
        runtime.invoke("Two", {"action": "raise"})
    out, err = capfd.readouterr()
    assert "printed by the handler" in out
    assert f"Two raised (request id {failure.value.request_id})" in err
    assert "ValueError: bad input" in err
