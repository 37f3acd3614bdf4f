"""The local stack as its other tools meet it: `make ops ARGS=--local ...` finds it on the
ports it was started on, each log line appears once, and a redrive prints no traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_local.__main__ import _database_for_docker
from nexus_local.template import parse
from tests.support.api import ROOT, TEST_SECRETS
from tests.support.stack import Stack, free_port, run_module, start_stack

pytestmark = pytest.mark.e2e
PORT_VARIABLES = ("PORT", "LAMBDA_PORT", "SQS_PORT", "GRAPH_SANDBOX_PORT", "STRIPE_SANDBOX_PORT")


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    s = start_stack(tmp_path, free_port(), {"DATABASE_URL": database_url, **TEST_SECRETS})
    yield s
    if s.proc.poll() is None:
        assert s.stop() == 0


def _user_shell(stack: Stack) -> dict[str, str]:
    """A user's shell: NEXUS_LOCAL_DIR as the stack's, none of its port variables."""
    env = {k: v for k, v in stack.env.items() if k not in PORT_VARIABLES}
    env["PYTHONPATH"] = f"{ROOT / 'layers/shared'}:{ROOT / 'tools'}"
    return env


def _ops(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return run_module(
        "nexus_ops",
        *argv,
        env=env,
        timeout=120,
    )


def test_ops_local_uses_the_ports_the_stack_was_started_on(stack: Stack) -> None:
    # Given a stack on non-default ports, and a shell that does not know them
    recorded = json.loads((stack.data_dir / "stack.json").read_text(encoding="utf-8"))
    assert recorded["lambda_url"] == f"http://127.0.0.1:{stack.env['LAMBDA_PORT']}"
    assert recorded["pid"] == stack.proc.pid
    env = _user_shell(stack)
    # When the operator asks for the queue depths and fires the fan-out
    queues = _ops(env, "--local", "queues")
    fired = _ops(env, "--local", "fire")
    # Then both reach this stack
    assert queues.returncode == 0, queues.stderr
    assert "IngestDeadLetterQueue" in queues.stdout
    assert fired.returncode == 0, fired.stderr
    assert '"jobs": 0' in fired.stdout
    # And port variables still win over the file: a wrong one is a one-line error
    wrong = _ops({**env, "SQS_PORT": str(free_port())}, "--local", "queues")
    assert wrong.returncode == 1
    assert wrong.stderr.count("\n") == 1
    assert "cannot reach" in wrong.stderr and "SQS_PORT" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    # When the stack stops, its record goes with it
    assert stack.stop() == 0
    assert not (stack.data_dir / "stack.json").exists()


def test_the_sam_env_file_has_the_stacks_own_values(stack: Stack) -> None:
    sam = json.loads((stack.data_dir / "env.json").read_text(encoding="utf-8"))["Parameters"]
    sqs = f"http://host.docker.internal:{stack.env['SQS_PORT']}"
    assert sam["AWS_ENDPOINT_URL"] == sqs
    assert sam["INGEST_QUEUE_URL"] == f"{sqs}/123456789012/IngestQueue"
    assert sam["INGEST_DLQ_URL"] == f"{sqs}/123456789012/IngestDeadLetterQueue"
    assert sam["JWT_SECRET"] == TEST_SECRETS["JWT_SECRET"]
    # The database as a container reaches it; left out when it is a Unix socket (embedded)
    expected = _database_for_docker(stack.env["DATABASE_URL"])
    assert sam.get("DATABASE_URL") == expected
    # The committed env.json is the same stack on its default ports
    committed = json.loads((ROOT / "env.json").read_text(encoding="utf-8"))["Parameters"]
    assert set(sam) <= set(committed)
    on_default_ports = {
        k: v.replace(f":{stack.env['SQS_PORT']}", ":4566")
        .replace(f":{stack.env['GRAPH_SANDBOX_PORT']}", ":3002")
        .replace(f":{stack.env['STRIPE_SANDBOX_PORT']}", ":3004")
        for k, v in sam.items()
    }
    for name in (
        "AWS_ENDPOINT_URL",
        "INGEST_QUEUE_URL",
        "INGEST_DLQ_URL",
        "GRAPH_API_BASE_URL",
        "STRIPE_API_BASE_URL",
        "META_OAUTH_DIALOG_URL",  # the browser's way to the sandbox dialog, not docker's
        "META_APP_ID",
    ):
        assert committed[name] == on_default_ports[name], name
    # The sandbox Stripe uses the stack's own keys
    assert sam["STRIPE_SECRET_KEY"] == TEST_SECRETS["STRIPE_SECRET_KEY"]


def test_each_log_line_appears_once(stack: Stack) -> None:
    status, _, _ = stack.call(
        "POST", "/auth/register", {"email": "once@example.com", "password": "a long passphrase"}
    )
    assert status == 201
    assert stack.stop() == 0  # all output read
    records = []
    for line in stack.output:
        if line.startswith("{"):
            record = json.loads(line)
            if "level" in record:  # a Powertools log line (not a metrics EMF blob)
                records.append(record)
    # The registration logged through Powertools (JSON) ...
    assert records, stack.text()
    # with the service name the template gives the functions (not Powertools' fallback)
    services = {f.environment.get("POWERTOOLS_SERVICE_NAME") for f in parse().functions.values()}
    assert {r["service"] for r in records} <= services
    for record in records:
        message = record["message"]
        # ... and no second, plain copy of any such line came through the root logger
        copies = [line for line in stack.output if message in line]
        same = [r for r in records if r["message"] == message]
        assert len(copies) == len(same), (message, copies)
    # The stack's own lines are still there (access log)
    assert any('"POST /auth/register HTTP/1.1" 201' in line for line in stack.output)


def _park(stack: Stack, body: str) -> None:
    sqs = stack.sqs()
    dlq = sqs.get_queue_url(QueueName="IngestDeadLetterQueue")["QueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody=body)


def test_redrive_says_in_one_line_that_it_copies_and_prints_no_traceback(stack: Stack) -> None:
    job = json.dumps({"schema_version": 1, "job": "parked"})
    _park(stack, job)
    env = _user_shell(stack)
    done = _ops(env, "--local", "redrive")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("redrive by")]
    assert lines == [
        "redrive by copy (this SQS endpoint has no message move tasks): receiving from the"
        " dead-letter queue, re-sending each original body to the ingest queue and deleting"
        " it from the dead-letter queue, 10 at a time"
    ]
    assert "redrive done: moved 1, kept 0" in done.stdout
    # Without --local the CLI asks the endpoint for move tasks; moto has none
    sqs_url = f"http://127.0.0.1:{stack.env['SQS_PORT']}"
    _park(stack, job)
    probing = _ops(
        {
            **env,
            "AWS_ENDPOINT_URL": sqs_url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "INGEST_QUEUE_URL": f"{sqs_url}/123456789012/IngestQueue",
            "INGEST_DLQ_URL": f"{sqs_url}/123456789012/IngestDeadLetterQueue",
        },
        "redrive",
    )
    assert probing.returncode == 0, probing.stderr
    assert "redrive by copy (this SQS endpoint has no message move tasks)" in probing.stdout
    # (the first parked job may be back already: not a valid job, it was dead-lettered again)
    assert re.search(r"redrive done: moved [12], kept 0", probing.stdout), probing.stdout
    assert stack.stop() == 0
    for text in (done.stdout + done.stderr, probing.stdout + probing.stderr, stack.text()):
        assert "Traceback" not in text
        assert "NotImplementedError" not in text
    # The stack says what moto did, one line per request: the one probing redrive asked, and
    # botocore retried moto's 500 answer (at most 3 attempts in all)
    notes = [line for line in stack.output if "ListMessageMoveTasks is not implemented" in line]
    assert 1 <= len(notes) <= 3, notes
    assert not [line for line in stack.output if "Error on request" in line]


def test_ops_help_describes_where_local_looks() -> None:
    done = run_module(
        "nexus_ops",
        "--help",
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'layers/shared'}:{ROOT / 'tools'}"},
        timeout=60,
        check=True,
    )
    text = " ".join(done.stdout.split())
    assert "stack.json" in text and "LAMBDA_PORT" in text and "SQS_PORT" in text
