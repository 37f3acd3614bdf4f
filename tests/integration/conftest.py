"""Fixtures for the ingestion pipeline: moto SQS queues shaped like the template's, the
fake Graph server, and an emulation of Lambda's SQS event source mapping; the files bucket
on a moto server over real HTTP (presigned URLs are used as a client uses them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from nexus import aws
from nexus.settings import get_settings
from nexus_local.aws import LocalAws, bucket_name
from nexus_local.fake_graph import FakeGraph, FakePage, make_posts
from nexus_local.fake_meta import FakeMeta
from tests.support.queues import Queues
from tests.support.stack import free_port


@pytest.fixture
def queues(monkeypatch: pytest.MonkeyPatch) -> Iterator[Queues]:
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        aws.cache_clear()  # the layer's cached clients are made again, inside this mock
        q = Queues()
        monkeypatch.setenv("INGEST_QUEUE_URL", q.url)
        monkeypatch.setenv("INGEST_DLQ_URL", q.dlq_url)
        get_settings.cache_clear()
        yield q
    aws.cache_clear()


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    fake = FakeGraph(
        [
            FakePage(id="111", token="token-111-secret", posts=make_posts("111", 30)),
            FakePage(id="222", token="token-222-secret", posts=make_posts("222", 8)),
        ],
        meta=FakeMeta("test-app", "test-app-secret"),  # the Pages' own insights
    )
    url = fake.start()
    monkeypatch.setenv("GRAPH_API_BASE_URL", url)
    monkeypatch.setenv("GRAPH_RETRIES", "1")
    get_settings.cache_clear()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def _local_aws() -> Iterator[LocalAws]:
    """The local stack's AWS endpoint (moto's server), on a port of its own, with the
    template's FilesBucket as the local stack creates it."""
    local = LocalAws("127.0.0.1", free_port())
    local.start()
    local.create_buckets(["FilesBucket"])
    yield local
    local.stop()


@pytest.fixture
def files_bucket(_local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """FILES_BUCKET for every function: the bucket on the moto server (its name). The server
    runs in this process and shares moto's state with the ``queues`` fixture's mock_aws,
    whose start resets it: a bucket a test before emptied away is made again."""
    s3 = _local_aws.client("s3")
    if bucket_name("FilesBucket") not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        _local_aws.create_buckets(["FilesBucket"])
    for key, value in {
        "AWS_ENDPOINT_URL": _local_aws.url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "FILES_BUCKET": bucket_name("FilesBucket"),
    }.items():
        monkeypatch.setenv(key, value)
    aws.cache_clear()
    get_settings.cache_clear()
    yield bucket_name("FilesBucket")
    aws.cache_clear()
