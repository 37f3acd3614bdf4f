"""The local SQS event source mapping polls as Lambda does: long polls, batches of up to
BatchSize gathered for at most the batching window, and only the processed messages
deleted (a function error or a malformed partial-batch response keeps the whole batch)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from nexus_local.events import SqsPoller
from nexus_local.runtime import InvocationError
from nexus_local.template import SqsSource


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeSqs:
    """ReceiveMessage answers from a script: each entry is what one call returns (an empty
    list waits out its WaitTimeSeconds on the fake clock)."""

    def __init__(self, clock: Clock, script: list[list[str]]) -> None:
        self.clock, self.script = clock, script
        self.waits: list[int] = []
        self.counts: list[int] = []
        self.deleted: list[str] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.waits.append(kwargs["WaitTimeSeconds"])
        self.counts.append(kwargs["MaxNumberOfMessages"])
        got = self.script.pop(0) if self.script else []
        count = kwargs["MaxNumberOfMessages"]
        if len(got) > count:
            self.script.insert(0, got[count:])
            got = got[:count]
        if not got:
            self.clock.now += kwargs["WaitTimeSeconds"]
        else:
            self.clock.now += 0.01
        return {
            "Messages": [{"MessageId": i, "ReceiptHandle": f"r-{i}", "Body": "{}"} for i in got]
        }

    def delete_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        handles = [e["ReceiptHandle"] for e in kwargs["Entries"]]
        assert len(handles) <= 10
        self.deleted += [h.removeprefix("r-") for h in handles]
        return {"Successful": [{"Id": e["Id"]} for e in kwargs["Entries"]]}


class FakeRuntime:
    def __init__(self, answer: Any = None, error: bool = False) -> None:
        self.answer, self.error = answer, error
        self.batches: list[list[str]] = []

    def invoke(self, function_id: str, event: Any) -> Any:
        self.batches.append([r["messageId"] for r in event["Records"]])
        if self.error:
            raise InvocationError(function_id, "req", "ValueError", "boom")
        return self.answer


def _poller(
    monkeypatch: pytest.MonkeyPatch,
    script: list[list[str]],
    *,
    batch_size: int = 10,
    window: int = 5,
    runtime: FakeRuntime | None = None,
    report_failures: bool = True,
) -> tuple[SqsPoller, FakeSqs]:
    clock = Clock()
    sqs = FakeSqs(clock, script)
    source = SqsSource("Fn", "Queue", batch_size, window, report_failures, 5)
    poller = SqsPoller(
        runtime or FakeRuntime(),  # type: ignore[arg-type]
        source,
        sqs=sqs,
        queue_url="url",
        queue_arn="arn",
        stop=threading.Event(),
    )
    poller.clock = clock
    return poller, sqs


def test_an_idle_poll_is_a_long_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    poller, sqs = _poller(monkeypatch, [[]])
    assert poller.receive() == []
    assert sqs.waits == [SqsPoller.IDLE_WAIT]


def test_a_batch_is_gathered_until_the_window_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given messages arriving one by one, then none: the window (5 s) decides
    poller, sqs = _poller(monkeypatch, [["a"], ["b"], [], ["late"]])
    got = poller.receive()
    assert [m["MessageId"] for m in got] == ["a", "b"]
    # the first poll waits for a first message; the next ones only for the window's rest
    assert sqs.waits[0] == SqsPoller.IDLE_WAIT
    assert all(w <= 5 for w in sqs.waits[1:])
    assert sqs.script == [["late"]]


def test_a_full_batch_is_invoked_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    poller, sqs = _poller(monkeypatch, [list("abcdefgh"), list("ijkl")], batch_size=10)
    got = poller.receive()
    assert len(got) == 10
    assert sqs.counts == [10, 2]
    assert sqs.script == [["k", "l"]]


def test_without_a_window_one_poll_is_a_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    poller, _ = _poller(monkeypatch, [["a"], ["b"]], window=0)
    assert [m["MessageId"] for m in poller.receive()] == ["a"]


def test_only_the_processed_messages_are_deleted(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = FakeRuntime({"batchItemFailures": [{"itemIdentifier": "b"}]})
    poller, sqs = _poller(monkeypatch, [list("abc")], window=0, runtime=runtime)
    left = poller.process(poller.receive())
    assert runtime.batches == [["a", "b", "c"]]
    assert sorted(sqs.deleted) == ["a", "c"]
    assert [m["MessageId"] for m in left] == ["b"]


@pytest.mark.parametrize(
    "answer",
    [
        {"batchItemFailures": [{"itemIdentifier": "nope"}]},
        {"batchItemFailures": "b"},
        {"batchItemFailures": [{"id": "b"}]},
        "not a dict",
    ],
    ids=["unknown-id", "not-a-list", "no-identifier", "not-an-object"],
)
def test_a_malformed_partial_response_keeps_the_whole_batch(
    monkeypatch: pytest.MonkeyPatch, answer: Any
) -> None:
    poller, sqs = _poller(monkeypatch, [list("abc")], window=0, runtime=FakeRuntime(answer))
    assert len(poller.process(poller.receive())) == 3
    assert sqs.deleted == []


def test_a_function_error_keeps_the_whole_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    poller, sqs = _poller(monkeypatch, [list("ab")], window=0, runtime=FakeRuntime(error=True))
    assert len(poller.process(poller.receive())) == 2
    assert sqs.deleted == []


def test_without_report_batch_item_failures_a_success_deletes_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = FakeRuntime({"batchItemFailures": [{"itemIdentifier": "b"}]})
    poller, sqs = _poller(
        monkeypatch, [list("ab")], window=0, runtime=runtime, report_failures=False
    )
    assert poller.process(poller.receive()) == []
    assert sorted(sqs.deleted) == ["a", "b"]


def test_more_than_ten_done_are_deleted_ten_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [f"m{i}" for i in range(25)]
    poller, sqs = _poller(monkeypatch, [ids[:10], ids[10:20], ids[20:]], batch_size=25)
    assert poller.process(poller.receive()) == []
    assert sorted(sqs.deleted) == sorted(ids)
