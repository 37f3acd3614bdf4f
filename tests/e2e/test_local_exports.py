"""An analytics export on the local stack, over HTTP: the stack creates ExportQueue and
ExportsBucket from the template, ExportFunction's SQS poller takes the request's message, and
the link GET /analytics/exports/{id} answers downloads the CSV from the stack's S3."""

from __future__ import annotations

import csv
import io
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from nexus.exports.models import COLUMNS
from tests.support.api import TEST_SECRETS
from tests.support.stack import Stack, free_port, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    s = start_stack(tmp_path, free_port(), {"DATABASE_URL": database_url, **TEST_SECRETS})
    yield s
    assert s.stop() == 0


def ready(stack: Stack, token: str, export_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _, answer = stack.call("GET", f"/analytics/exports/{export_id}", token=token)
        assert status == 200, answer
        if answer["status"] != "pending":
            return dict(answer)
        time.sleep(0.5)
    raise AssertionError("the export stayed pending: is ExportFunction's poller running?")


def test_an_export_is_written_by_the_stacks_poller_and_downloaded(
    stack: Stack, database_url: str
) -> None:
    body = {"email": "export@example.com", "password": "a long passphrase"}
    status, _, registered = stack.call("POST", "/auth/register", body)
    assert status == 201, registered
    token = registered["access_token"]
    page = {"provider": "facebook", "external_id": "777", "name": "P", "access_token": "t"}
    status, _, integration = stack.call("POST", "/integrations", page, token=token)
    assert status == 201, integration
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO analytics_daily_metrics (organization_id, integration_id, content_id,"
            " date, impressions) SELECT organization_id, id, '777_' || p, current_date, p"
            " FROM integrations, generate_series(1, 250) p WHERE id = %s",
            (integration["id"],),
        )
    today = time.strftime("%Y-%m-%d", time.gmtime())
    status, _, created = stack.call(
        "POST", "/analytics/exports", {"from": today, "to": today}, token=token
    )
    assert status == 202, created
    answer = ready(stack, token, created["id"])
    assert (answer["status"], answer["row_count"]) == ("ready", 250), answer
    assert answer["url"].startswith(f"http://127.0.0.1:{stack.env['SQS_PORT']}/exportsbucket/")
    with urllib.request.urlopen(answer["url"], timeout=10) as download:
        text = download.read().decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(COLUMNS)
    assert len(rows) == 251
