"""How the tools find a running local stack: its state file, the port variables that
override it, and a file left behind by a stack that is gone."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nexus_local import state
from nexus_local.__main__ import _database_for_docker


def _record(directory: Path, pid: int) -> None:
    state.write(
        directory,
        state.StackState(
            pid=pid,
            api_url="http://127.0.0.1:13000",
            lambda_url="http://127.0.0.1:13001",
            sqs_url="http://127.0.0.1:14566",
            graph_url="http://127.0.0.1:13002",
            database_url="postgresql://postgres@127.0.0.1:5432/nexus",
            queues={"IngestQueue": "http://127.0.0.1:14566/123456789012/IngestQueue"},
        ),
    )


def _dead_pid() -> int:
    """A pid no process can have: one past the kernel's limit (Linux caps pids at 2**22)."""
    return 2**22 + 1


def test_endpoints_come_from_the_running_stacks_state_file(tmp_path: Path) -> None:
    _record(tmp_path, os.getpid())
    found = state.locate({"NEXUS_LOCAL_DIR": str(tmp_path)})
    assert (found.api_url, found.lambda_url, found.sqs_url) == (
        "http://127.0.0.1:13000",
        "http://127.0.0.1:13001",
        "http://127.0.0.1:14566",
    )
    assert found.database_url == "postgresql://postgres@127.0.0.1:5432/nexus"
    assert found.source == str(tmp_path / "stack.json")
    # The file is the owner's alone (it names the database).
    assert (tmp_path / "stack.json").stat().st_mode & 0o077 == 0


def test_port_variables_override_the_state_file(tmp_path: Path) -> None:
    _record(tmp_path, os.getpid())
    found = state.locate(
        {"NEXUS_LOCAL_DIR": str(tmp_path), "LAMBDA_PORT": "4001", "SQS_PORT": "4002"}
    )
    assert (found.api_url, found.lambda_url, found.sqs_url) == (
        "http://127.0.0.1:13000",
        "http://127.0.0.1:4001",
        "http://127.0.0.1:4002",
    )
    assert "LAMBDA_PORT" in found.source and "SQS_PORT" in found.source


def test_without_a_running_stack_the_defaults_apply(tmp_path: Path) -> None:
    assert state.locate({"NEXUS_LOCAL_DIR": str(tmp_path)}).lambda_url == "http://127.0.0.1:3001"
    # A file left by a stack that was killed names a process that is gone: ignored.
    _record(tmp_path, _dead_pid())
    found = state.locate({"NEXUS_LOCAL_DIR": str(tmp_path)})
    assert (found.lambda_url, found.sqs_url) == ("http://127.0.0.1:3001", "http://127.0.0.1:4566")
    assert found.database_url is None
    assert "default ports" in found.source


def test_an_unreadable_state_file_counts_as_none(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text("{not json", encoding="utf-8")
    assert state.read(tmp_path) is None
    (tmp_path / "stack.json").write_text(json.dumps({"pid": os.getpid()}), encoding="utf-8")
    assert state.read(tmp_path) is None


def test_a_stack_removes_only_its_own_state_file(tmp_path: Path) -> None:
    _record(tmp_path, os.getpid())
    state.remove(tmp_path, os.getpid() + 1)
    assert (tmp_path / "stack.json").exists()
    state.remove(tmp_path, os.getpid())
    assert not (tmp_path / "stack.json").exists()


def test_the_data_dir_is_nexus_local_dir_else_dot_local() -> None:
    assert state.data_dir({"NEXUS_LOCAL_DIR": "/somewhere"}) == Path("/somewhere")
    assert state.data_dir({}) == state.ROOT / ".local"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:4566", "http://host.docker.internal:4566"),
        (
            "http://localhost:4566/123456789012/IngestQueue",
            "http://host.docker.internal:4566/123456789012/IngestQueue",
        ),
        ("https://sqs.us-east-1.amazonaws.com/1/Q", "https://sqs.us-east-1.amazonaws.com/1/Q"),
    ],
)
def test_urls_as_a_container_sees_them(url: str, expected: str) -> None:
    assert state.as_seen_from_docker(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://postgres:pw@127.0.0.1:5432/nexus",
            "postgresql://postgres:pw@host.docker.internal:5432/nexus",
        ),
        (
            "host=localhost port=5433 dbname=nexus",
            "dbname=nexus host=host.docker.internal port=5433",
        ),
        ("postgresql://db.internal/nexus", "postgresql://db.internal/nexus"),
        # the embedded server: a Unix socket, which no container reaches
        ("user=postgres dbname=nexus host=/tmp/pgdata", None),
        ("postgresql://postgres:@/nexus?host=/tmp/pgdata", None),
    ],
)
def test_database_urls_as_a_container_sees_them(url: str, expected: str | None) -> None:
    assert _database_for_docker(url) == expected


def test_tools_sign_with_the_secrets_the_running_stack_recorded(tmp_path: Path) -> None:
    """A second shell's own JWT_SECRET must not win over what the stack was started with."""
    from nexus_local.invoke import stack_secrets

    (tmp_path / "env.json").write_text(
        json.dumps({"Parameters": {"JWT_SECRET": "the-stacks"}}), encoding="utf-8"
    )
    (tmp_path / "secrets.json").write_text(
        json.dumps({"JWT_SECRET": "generated", "PASSWORD_PEPPER": "pepper"}), encoding="utf-8"
    )
    env = {"NEXUS_LOCAL_DIR": str(tmp_path), "JWT_SECRET": "this-shells"}
    found = stack_secrets(env)
    assert found["JWT_SECRET"] == "the-stacks"
    assert found["PASSWORD_PEPPER"] == "pepper"
    (tmp_path / "env.json").unlink()
    assert stack_secrets(env)["JWT_SECRET"] == "this-shells"
