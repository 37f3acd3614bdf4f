"""The `make local` stack in process mode, as a burst of clients sees it: every execution
environment an OS process of its own, at most LOCAL_MAX_ENVIRONMENTS of them per function,
concurrent tenants each answered with their own identity and data, bursts of connections
accepted, and the SQS event source mapping polling as Lambda does (delete on success,
redrive to the dead-letter queue after maxReceiveCount)."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from nexus_local.events import SqsPoller
from tests.support.api import TEST_SECRETS
from tests.support.stack import Stack, free_port, start_stack

pytestmark = pytest.mark.e2e
LIMIT = 2
PASSWORD = "a long passphrase"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Stack]:
    """One stack for the module (a start costs seconds): tests register their own sellers."""
    s = start_stack(
        tmp_path_factory.mktemp("processes"),
        free_port(),
        {
            "DATABASE_URL": database_url,
            **TEST_SECRETS,
            "BCRYPT_ROUNDS": "4",
            "LOCAL_MAX_ENVIRONMENTS": str(LIMIT),
        },
    )
    yield s
    assert s.stop() == 0


def environments(stack: Stack) -> dict[str, list[int]]:
    """The stack's environment processes by function (their command lines name it)."""
    found: dict[str, list[int]] = {}
    for child in psutil.Process(stack.proc.pid).children():
        try:
            cmdline = child.cmdline()
        except psutil.Error:
            continue
        if "nexus_local.worker" in cmdline:
            found.setdefault(cmdline[-1], []).append(child.pid)
    return found


class Sampler(threading.Thread):
    """The most environment processes each function had at once while it ran."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.stack, self.most = stack, dict[str, int]()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            for name, pids in environments(self.stack).items():
                self.most[name] = max(self.most.get(name, 0), len(pids))

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join(timeout=5)


def _register(stack: Stack, email: str) -> tuple[str, str]:
    status, _, body = stack.call("POST", "/auth/register", {"email": email, "password": PASSWORD})
    assert status == 201, body
    return str(body["access_token"]), str(body["user"]["id"])


def test_concurrent_tenants_each_see_only_their_own_identity_and_data(stack: Stack) -> None:
    # Given eight sellers
    sellers = {
        f"tenant{i}@example.com": _register(stack, f"tenant{i}@example.com") for i in range(8)
    }
    emails = list(sellers)
    start = threading.Barrier(16)

    def ask(n: int) -> list[str]:
        """One request of a seller's; what in its answer is not the seller's own."""
        email = emails[n % 8]
        token, user_id = sellers[email]
        if n < 16:
            start.wait(timeout=30)
        wrong: list[str] = []
        kind = n % 3
        if kind == 0:
            status, _, me = stack.call("GET", "/auth/me", token=token)
            if status != 200 or (me["id"], me["email"]) != (user_id, email):
                wrong.append(f"/auth/me for {email}: {status} {me}")
        elif kind == 1:
            name = f"{email} #{n}"
            status, _, made = stack.call("POST", "/products", {"name": name, "price": 100}, token)
            if status != 201 or made["name"] != name:
                wrong.append(f"POST /products for {email}: {status} {made}")
        else:
            status, _, page = stack.call("GET", "/products?limit=100", token=token)
            if status != 200:
                wrong.append(f"GET /products for {email}: {status} {page}")
            else:
                wrong += [
                    f"GET /products for {email} lists {p['name']}"
                    for p in page["items"]
                    if not p["name"].startswith(f"{email} #")
                ]
        return wrong

    # When 200 requests (/auth/me, product creates and lists) arrive 32 at a time
    with Sampler(stack) as sampler, ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(ask, range(200)))
    cross = [w for answer in answers for w in answer]
    print(f"\n200 concurrent requests from 8 tenants: {len(cross)} cross-tenant answers")
    # Then every answer belongs to the seller who asked
    assert cross == []
    for email, (token, _) in sellers.items():
        _, _, page = stack.call("GET", "/products?limit=100", token=token)
        assert {p["name"] for p in page["items"]} == {
            f"{email} #{n}" for n in range(200) if n % 8 == emails.index(email) and n % 3 == 1
        }
    # And the pools grew on demand to LOCAL_MAX_ENVIRONMENTS, never past it
    assert sampler.most["ProductsFunction"] == LIMIT, sampler.most
    assert max(sampler.most.values()) <= LIMIT, sampler.most
    # And each environment is a process of its own, none of them the stack
    pids = [pid for group in environments(stack).values() for pid in group]
    assert len(pids) == len(set(pids)) and stack.proc.pid not in pids


def test_fifty_parallel_logins_are_all_answered_without_resets(stack: Stack) -> None:
    """The listen backlog takes a burst: every connection is answered. One account's 50
    simultaneous attempts also meet the login throttle, which counts attempts as they start
    (contract §6: at most 5 checked at once), so the answers are 200s and 429s, nothing else."""
    _register(stack, "burst@example.com")
    host, port = stack.base.removeprefix("http://").split(":")
    body = json.dumps({"email": "burst@example.com", "password": PASSWORD})
    connections = [http.client.HTTPConnection(host, int(port), timeout=60) for _ in range(50)]
    start = threading.Barrier(50)

    def login(connection: http.client.HTTPConnection) -> tuple[int, str] | str:
        try:
            start.wait(timeout=30)
            connection.request("POST", "/auth/login", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, response.read().decode()
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    # When 50 clients connect and log in at the same moment
    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(login, connections))
    # Then every connection is accepted and answered (no reset while the server caught up)
    unanswered = [o for o in outcomes if isinstance(o, str)]
    assert unanswered == []
    # And each is a login or the throttle's 429, at least the first few logins
    statuses = [o[0] for o in outcomes if not isinstance(o, str)]
    odd = [o for o in outcomes if not isinstance(o, str) and o[0] not in (200, 429)]
    assert odd == [], [line for line in stack.output if '"WARNING"' in line][-5:]
    assert statuses.count(200) >= 1


def _job(integration_id: str, organization_id: str) -> str:
    from nexus.ingest.job import IngestJob

    today = datetime.now(UTC).date()
    return IngestJob(
        integration_id=integration_id, organization_id=organization_id, snapshot_date=today
    ).body()


def _attributes(sqs: Any, url: str) -> dict[str, str]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"])


def test_a_queued_job_is_delivered_by_polling_and_deleted(stack: Stack) -> None:
    # Given a seller with a sandbox page connected
    token, _ = _register(stack, "poll@example.com")
    _, _, me = stack.call("GET", "/auth/me", token=token)
    status, _, integration = stack.call(
        "POST",
        "/integrations",
        {
            "provider": "facebook",
            "external_id": "1010",
            "name": "Bakery",
            "access_token": "demo-token-bakery",
        },
        token,
    )
    assert status == 201, integration
    sqs = stack.sqs()
    queue = sqs.get_queue_url(QueueName="IngestQueue")["QueueUrl"]
    # When its job is put on the queue (as the fan-out does)
    sqs.send_message(QueueUrl=queue, MessageBody=_job(integration["id"], me["organization_id"]))
    # Then the event source mapping delivers it: the run is recorded, the message deleted
    deadline = time.monotonic() + 60
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = stack.call("GET", "/analytics/runs", token=token)[2]["items"]
        if runs and runs[0]["status"] == "ok":
            break
        time.sleep(0.5)
    assert [r["status"] for r in runs] == ["ok"], runs
    while _attributes(sqs, queue) != {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }:
        assert time.monotonic() < deadline, _attributes(sqs, queue)
        time.sleep(0.5)


def test_a_job_that_keeps_failing_is_redriven_after_max_receive_count(
    tmp_path: Path, database_url: str
) -> None:
    from nexus_local import demo
    from nexus_local.template import parse

    queue_spec = parse().queues["IngestQueue"]
    assert queue_spec.max_receive_count == 5
    # Given a stack whose Graph API cannot be reached (every job fails, transiently)
    stack = start_stack(
        tmp_path,
        free_port(),
        {
            "DATABASE_URL": database_url,
            **TEST_SECRETS,
            "GRAPH_API_BASE_URL": f"http://127.0.0.1:{free_port()}",
            "GRAPH_RETRIES": "0",
        },
        ["--seed-demo"],
    )
    try:
        sqs = stack.sqs()
        queue = sqs.get_queue_url(QueueName="IngestQueue")["QueueUrl"]
        dlq = sqs.get_queue_url(QueueName="IngestDeadLetterQueue")["QueueUrl"]
        # A short visibility timeout, so five receives take seconds, not half an hour (still
        # longer than the batching window: a message must not come back into its own batch).
        # Receives already waiting keep the old one, so let the pollers' idle polls end first.
        sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "6"})
        time.sleep(SqsPoller.IDLE_WAIT + 1)
        body = _job(demo.INTEGRATIONS[0].id, demo.ORGANIZATION_ID)
        # When a job is queued
        sqs.send_message(QueueUrl=queue, MessageBody=body)
        # Then each failed delivery leaves it on the queue, and after the fifth receive SQS
        # moves it to the dead-letter queue
        deadline = time.monotonic() + 120
        parked: list[dict[str, Any]] = []
        while not parked:
            assert time.monotonic() < deadline, stack.text()[-3000:]
            parked = sqs.receive_message(
                QueueUrl=dlq, WaitTimeSeconds=1, AttributeNames=["All"]
            ).get("Messages", [])
        assert parked[0]["Body"] == body
        assert int(parked[0]["Attributes"]["ApproximateReceiveCount"]) >= 5
        assert stack.text().count("transient failure; SQS will retry") >= 5
        assert _attributes(sqs, queue)["ApproximateNumberOfMessages"] == "0"
    finally:
        assert stack.stop() == 0
