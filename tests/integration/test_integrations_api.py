"""Integrations API and analytics reads: organization-scoped, tokens never returned."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from nexus.ingest.job import IngestJob
from tests.support.api import Api, assert_problem
from tests.support.queues import Queues

BODY = {"provider": "facebook", "external_id": "555", "name": "Shop", "access_token": "tok-555"}


@pytest.fixture
def seller(api: Api) -> str:
    return api.seller("owner@example.com")


def create(api: Api, token: str, **fields: Any) -> Any:
    return api.post("/integrations", json_body={**BODY, **fields}, token=token)


def test_create_list_patch_delete(api: Api, seller: str, conn: Any) -> None:
    reply = create(api, seller)
    assert reply.status == 201
    integration = reply.json()
    assert set(integration) == {
        "id",
        "provider",
        "external_id",
        "name",
        "status",
        "created_at",
        "last_run",
    }
    assert (integration["status"], integration["last_run"]) == ("active", None)
    assert "tok-555" not in reply.text
    listed = api.get("/integrations", token=seller).json()["items"]
    assert [i["id"] for i in listed] == [integration["id"]]
    path = f"/integrations/{integration['id']}"
    disabled = api.patch(path, json_body={"enabled": False, "name": "Renamed"}, token=seller).json()
    assert (disabled["status"], disabled["name"]) == ("disabled", "Renamed")
    assert api.patch(path, json_body={"enabled": True}, token=seller).json()["status"] == "active"
    assert api.delete(path, token=seller).status == 204
    assert api.get("/integrations", token=seller).json()["items"] == []
    assert_problem(api.patch(path, json_body={"name": "x"}, token=seller), 404)
    # Soft delete: the row (and so its stored metrics) stays.
    assert conn.execute("SELECT count(*) FROM integrations").fetchone() == (1,)


def test_same_page_twice_is_409_but_again_after_delete(api: Api, seller: str) -> None:
    first = create(api, seller).json()
    assert_problem(create(api, seller), 409)
    api.delete(f"/integrations/{first['id']}", token=seller)
    assert create(api, seller).status == 201


@pytest.mark.parametrize(
    "fields",
    [
        {"provider": "tiktok"},
        {"external_id": ""},
        {"access_token": ""},
        {"name": None},
        {"access_token": 123},
    ],
)
def test_invalid_bodies_are_422(api: Api, seller: str, fields: dict[str, Any]) -> None:
    assert_problem(create(api, seller, **fields), 422)


def test_token_is_stored_encrypted_and_bound_to_its_row(api: Api, seller: str, conn: Any) -> None:
    from nexus import crypto

    a = create(api, seller).json()
    b = create(api, seller, external_id="556").json()
    rows = dict(
        conn.execute("SELECT id::text, access_token_ciphertext FROM integrations").fetchall()
    )
    assert b"tok-555" not in bytes(rows[a["id"]])
    assert crypto.decrypt(bytes(rows[a["id"]]), a["id"]) == "tok-555"
    from cryptography.exceptions import InvalidTag

    with pytest.raises(InvalidTag):  # another row's ciphertext does not open
        crypto.decrypt(bytes(rows[a["id"]]), b["id"])


def test_another_organizations_integration_is_404(api: Api, seller: str) -> None:
    integration = create(api, seller).json()
    other = api.seller("other@example.com")
    path = f"/integrations/{integration['id']}"
    assert_problem(api.patch(path, json_body={"name": "mine"}, token=other), 404)
    assert_problem(api.delete(path, token=other), 404)
    assert_problem(api.post(f"{path}/sync", json_body={}, token=other), 404)
    assert api.get("/integrations", token=other).json()["items"] == []


def test_sync_queues_one_job(api: Api, seller: str, queues: Queues) -> None:
    integration = create(api, seller).json()
    day = dt.datetime.now(dt.UTC).date().isoformat()
    reply = api.post(
        f"/integrations/{integration['id']}/sync", json_body={"date": day}, token=seller
    )
    assert (reply.status, reply.json()) == (202, {"queued": True})
    (message,) = queues.receive()
    job = IngestJob.model_validate_json(message["Body"])
    assert (job.integration_id, job.snapshot_date.isoformat()) == (integration["id"], day)
    assert json.loads(message["Body"])["schema_version"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"date": "2026-13-01"},
        {"date": "2999-01-01"},
        {"date": 5},
        {"date": "0001-01-01"},
        {"date": "2026-11-01"},  # a past day: lifetime insights cannot be fetched for it
    ],
)
def test_sync_with_a_bad_date_is_422(api: Api, seller: str, queues: Queues, body: Any) -> None:
    integration = create(api, seller).json()
    reply = api.post(f"/integrations/{integration['id']}/sync", json_body=body, token=seller)
    assert_problem(reply, 422)


def test_sync_of_a_disabled_integration_is_409(api: Api, seller: str, queues: Queues) -> None:
    integration = create(api, seller).json()
    api.patch(f"/integrations/{integration['id']}", json_body={"enabled": False}, token=seller)
    reply = api.post(f"/integrations/{integration['id']}/sync", json_body={}, token=seller)
    assert_problem(reply, 409)


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-11-10&to=2026-11-01",
        "from=2025-01-01&to=2026-11-01",
        "from=yesterday",
        "integration_id=not-a-uuid",
        "to=0001-01-05&from=0001-01-06",
    ],
)
def test_analytics_ranges_are_validated(api: Api, seller: str, query: str) -> None:
    assert_problem(api.get(f"/analytics/metrics?{query}", token=seller), 422)
    assert_problem(api.get(f"/analytics/runs?{query}", token=seller), 422)


def test_analytics_of_an_unknown_integration_is_empty(api: Api, seller: str) -> None:
    reply = api.get(f"/analytics/metrics?integration_id={uuid.uuid4()}", token=seller)
    assert (reply.status, reply.json()) == (200, {"items": [], "next_cursor": None})


@pytest.mark.parametrize("route", ["metrics", "runs"])
def test_default_range_near_the_first_representable_day_does_not_overflow(
    api: Api, seller: str, route: str
) -> None:
    reply = api.get(f"/analytics/{route}?to=0001-01-05", token=seller)
    assert (reply.status, reply.json()["items"]) == (200, [])


def test_a_content_id_with_a_nul_is_a_422_not_a_server_error(api: Api) -> None:
    """PostgreSQL text cannot hold NUL: refused as invalid input before any SQL."""
    token = api.seller("nul@example.com")
    reply = api.get("/analytics/metrics?content_id=%00", token=token)
    body = assert_problem(reply, 422)
    assert body["errors"][0]["loc"] == ["query", "content_id"]


def _seed_metrics(conn: Any, api: Api, token: str, external_id: str, days: int) -> str:
    """An integration of the seller's with 3 posts x ``days`` days of metric rows."""
    integration = create(api, token, external_id=external_id).json()
    conn.execute(
        """
        INSERT INTO analytics_daily_metrics
            (organization_id, integration_id, content_id, date, impressions)
        SELECT i.organization_id, i.id, 'post-' || p, current_date - d, p * 100 + d
        FROM integrations i, generate_series(1, 3) p, generate_series(0, %s - 1) d
        WHERE i.id = %s
        """,
        (days, integration["id"]),
    )
    return str(integration["id"])


def test_metrics_page_through_every_row_once_in_date_and_content_order(
    api: Api, seller: str, conn: Any
) -> None:
    """Given two integrations with 3 posts x 20 days each (120 rows), when the seller pages
    /analytics/metrics 25 rows at a time, then every row comes exactly once, ordered by
    (date, content_id), and the last page has no next_cursor."""
    ids = {_seed_metrics(conn, api, seller, ext, 20) for ext in ("901", "902")}
    seen: list[tuple[str, str, str]] = []
    cursor, pages = "", 0
    while True:
        reply = api.get(f"/analytics/metrics?limit=25{cursor}", token=seller)
        assert reply.status == 200, reply.text
        page = reply.json()
        pages += 1
        seen += [(m["date"], m["content_id"], m["integration_id"]) for m in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert pages == 5
    assert len(seen) == len(set(seen)) == 120
    assert seen == sorted(seen)
    assert {i for _, _, i in seen} == ids


def test_metrics_default_page_is_500_rows_and_the_limit_is_1_to_1000(
    api: Api, seller: str, conn: Any
) -> None:
    _seed_metrics(conn, api, seller, "903", 200)  # 600 rows over the last 200 days
    start = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=199)).isoformat()
    first = api.get(f"/analytics/metrics?from={start}", token=seller).json()
    assert len(first["items"]) == 500
    rest = api.get(f"/analytics/metrics?from={start}&cursor={first['next_cursor']}", token=seller)
    assert (len(rest.json()["items"]), rest.json()["next_cursor"]) == (100, None)
    assert len(rest.text) + len(json.dumps(first)) < 1024 * 1024
    for limit in ("0", "1001", "x"):
        problem = assert_problem(api.get(f"/analytics/metrics?limit={limit}", token=seller), 422)
        assert problem["errors"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize(
    "cursor",
    [
        "bogus",
        # valid base64 JSON of the wrong shapes: a products cursor, wrong types, extra keys
        "eyJ0IjoiMjAyNi0xMS0wMVQwMDowMDowMCswMDowMCIsImkiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAifQ",
        "eyJkYXRlIjoxLCJjb250ZW50X2lkIjoiYSIsImludGVncmF0aW9uX2lkIjoieCJ9",
        "W10",
    ],
)
def test_a_metrics_cursor_we_did_not_issue_is_422(api: Api, seller: str, cursor: str) -> None:
    problem = assert_problem(api.get(f"/analytics/metrics?cursor={cursor}", token=seller), 422)
    assert problem["errors"][0]["loc"] == ["query", "cursor"]
