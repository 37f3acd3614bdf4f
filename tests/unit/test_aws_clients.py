"""Every boto3 client the layer (and the operator CLI) makes has timeouts and bounded
retries (contract §6), is cached per execution environment, and talks where boto3's own
configuration says. Making a client sends nothing."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from nexus_ops import __main__ as ops

from nexus import aws, secrets
from nexus.ingest import queue
from nexus.settings import get_settings


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    get_settings.cache_clear()
    aws.cache_clear()
    yield
    aws.cache_clear()


def _limits(client: Any) -> tuple[float, float, str, int]:
    config = client.meta.config
    return (
        config.connect_timeout,
        config.read_timeout,
        config.retries["mode"],
        config.retries["total_max_attempts"],
    )


def test_the_layers_clients_have_timeouts_and_bounded_retries() -> None:
    sqs = queue.client()
    secrets_manager = secrets._provider().client
    assert sqs.meta.service_model.service_name == "sqs"
    assert secrets_manager.meta.service_model.service_name == "secretsmanager"
    for client in (sqs, secrets_manager):
        assert _limits(client) == (2.0, 5.0, "standard", 3)


def test_the_limits_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONNECT_TIMEOUT_SECONDS", "1.5")
    monkeypatch.setenv("AWS_READ_TIMEOUT_SECONDS", "4")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    get_settings.cache_clear()
    assert _limits(aws.client("sqs")) == (1.5, 4.0, "standard", 2)


def test_the_operator_cli_clients_have_them_too() -> None:
    args = argparse.Namespace(local=False, stack=None)
    assert _limits(ops._client("sqs", args)) == (2.0, 5.0, "standard", 3)
    # A synchronous invoke waits for the function, so only its read timeout is longer.
    invoke = ops._client("lambda", args)
    assert _limits(invoke) == (2.0, ops.INVOKE_READ_TIMEOUT, "standard", 3)


def test_a_client_is_made_once_per_execution_environment() -> None:
    assert aws.client("sqs") is aws.client("sqs")
    assert aws.client("sqs") is not aws.client("secretsmanager")
    # Another thread (another emulated environment of the local stack) has its own.
    other: list[Any] = []
    worker = threading.Thread(target=lambda: other.append(aws.client("sqs")))
    worker.start()
    worker.join()
    assert other[0] is not aws.client("sqs")


def test_aws_endpoint_url_is_honoured_as_boto3_does(monkeypatch: pytest.MonkeyPatch) -> None:
    before = aws.client("sqs")
    assert "amazonaws.com" in before.meta.endpoint_url
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    local = aws.client("sqs")
    assert local is not before and local.meta.endpoint_url == "http://127.0.0.1:4566"
    assert _limits(local) == (2.0, 5.0, "standard", 3)


def test_explicit_options_reach_boto3() -> None:
    client = aws.client("sqs", endpoint_url="http://127.0.0.1:9", region_name="eu-west-1")
    assert (client.meta.endpoint_url, client.meta.region_name) == (
        "http://127.0.0.1:9",
        "eu-west-1",
    )


def test_the_secrets_provider_follows_its_client() -> None:
    first = secrets._provider()
    assert secrets._provider() is first  # its value cache lives as long as the client
    aws.cache_clear()
    assert secrets._provider() is not first
