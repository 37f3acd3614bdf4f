"""`make ops ARGS=redrive` says in one line how it moves the messages, before moving any, and
no traceback reaches the user where the endpoint lacks message move tasks (moto)."""

from __future__ import annotations

import pytest
from nexus_ops.__main__ import main as cli
from nexus_ops.redrive import redrive

from tests.support.queues import Queues


def _park(queues: Queues, body: str) -> None:
    queues.sqs.send_message(QueueUrl=queues.dlq_url, MessageBody=body)


def test_the_copy_fallback_is_announced_once_before_anything_moves(queues: Queues) -> None:
    for i in range(3):
        _park(queues, f'{{"job": {i}}}')
    heard: list[tuple[str, int]] = []
    result = redrive(
        queues.sqs,
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        announce=lambda line: heard.append((line, queues.depth())),
    )
    assert (result.method, result.moved) == ("copy", 3)
    # moto raises NotImplementedError for ListMessageMoveTasks: told as the reason, once,
    # while the ingest queue was still empty
    assert len(heard) == 1
    line, depth_then = heard[0]
    assert depth_then == 0
    assert "\n" not in line
    assert line.startswith("redrive by copy (this SQS endpoint has no message move tasks): ")
    assert "re-sending each original body" in line


def test_an_endpoint_known_to_lack_move_tasks_is_not_asked(queues: Queues) -> None:
    _park(queues, '{"job": 1}')
    heard: list[str] = []

    class NoProbe:
        """The moto client, refusing the probe: --local must not send it."""

        def __getattr__(self, name: str) -> object:
            if name in ("list_message_move_tasks", "start_message_move_task"):
                raise AssertionError(f"{name} was called")
            return getattr(queues.sqs, name)

    result = redrive(
        NoProbe(),
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        move_tasks=False,
        announce=heard.append,
    )
    assert (result.method, result.moved) == ("copy", 1)
    assert heard == [
        "redrive by copy (this SQS endpoint has no message move tasks): receiving from the"
        " dead-letter queue, re-sending each original body to the ingest queue and deleting"
        " it from the dead-letter queue, 10 at a time"
    ]


def test_the_cli_prints_the_line_and_no_traceback(
    queues: Queues, capsys: pytest.CaptureFixture[str]
) -> None:
    _park(queues, '{"job": 1}')
    assert cli(["redrive"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith("redrive by copy (this SQS endpoint has no message")
    assert "redrive done: moved 1, kept 0" in out
    for text in (out, err):
        assert "Traceback" not in text and "NotImplementedError" not in text
    _park(queues, '{"job": 2}')
    assert cli(["redrive", "--only", "transient"]) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines()[0].startswith("redrive of transient jobs only, so by copy: ")
