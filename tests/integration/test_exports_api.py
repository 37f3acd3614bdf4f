"""Analytics exports end to end, in-process: POST /analytics/exports queues an export,
ExportFunction (the template's SQS mapping, as its own role) streams it into ExportsBucket,
GET /analytics/exports/{id} answers its status and a presigned link, and the CSV behind the
link is exactly what GET /analytics/metrics answers for the range. Real PostgreSQL; S3 and
SQS are the local stack's moto server over HTTP."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

from nexus.exports import storage
from nexus.exports.models import COLUMNS, ExportJob
from nexus.settings import get_settings
from tests.support.api import Api, assert_problem
from tests.support.exports import BUCKET, Exports, api_rows, csv_rows, download, exports

__all__ = ["exports"]  # the fixture

TODAY = dt.datetime.now(dt.UTC).date()
START, END = TODAY - dt.timedelta(days=39), TODAY


@pytest.fixture
def seller(api: Api) -> str:
    return api.seller("exports@example.com")


def integration(api: Api, token: str, external_id: str, provider: str = "facebook") -> str:
    body = {"provider": provider, "external_id": external_id, "name": "Shop", "access_token": "t"}
    reply = api.post("/integrations", json_body=body, token=token)
    assert reply.status == 201, reply.text
    return str(reply.json()["id"])


def seed(conn: Any, integration_id: str, *, posts: int = 40, days: int = 40) -> None:
    """``posts`` x ``days`` metric rows up to today: content ids with commas, quotes and line
    breaks, NULLs among the metrics, the v2 fields on some rows."""
    conn.execute(
        r"""
        INSERT INTO analytics_daily_metrics
            (organization_id, integration_id, content_id, date, impressions, reach, reactions,
             video_views, clicks, comments, shares, saves, profile_visits, follows)
        SELECT i.organization_id, i.id,
               CASE mod(p, 4) WHEN 0 THEN 'a,b_' || p WHEN 1 THEN 'say "hi" ' || p
                          WHEN 2 THEN E'two\nlines ' || p ELSE i.external_id || '_' || p END,
               current_date - d, p * 1000 + d, CASE WHEN mod(d, 3) = 0 THEN NULL ELSE d END,
               0, NULL, mod(d, 5), p, NULL,
               CASE WHEN i.provider = 'instagram' THEN p END, NULL, CASE WHEN p = 1 THEN 0 END
        FROM integrations i, generate_series(1, %s) p, generate_series(0, %s - 1) d
        WHERE i.id = %s
        """,
        (posts, days, integration_id),
    )


def create(api: Api, token: str, **body: Any) -> Any:
    return api.post(
        "/analytics/exports",
        json_body={"from": START.isoformat(), "to": END.isoformat(), **body},
        token=token,
    )


def status(api: Api, token: str, export_id: str) -> dict[str, Any]:
    reply = api.get(f"/analytics/exports/{export_id}", token=token)
    assert reply.status == 200, reply.text
    answer: dict[str, Any] = reply.json()
    assert set(answer) == {"id", "status", "row_count", "url", "expires_at"}
    return answer


def parts_of(exports: Exports, key: str) -> int:
    """How many parts the object was uploaded in (a multipart ETag ends in -<count>)."""
    etag = exports.s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
    return int(etag.rsplit("-", 1)[1]) if "-" in etag else 1


def test_an_export_is_exactly_the_rows_the_api_answers(
    api: Api, seller: str, conn: Any, exports: Exports
) -> None:
    """Given two integrations with 3,200 metric rows in the range (and rows outside it, a
    deleted one, another seller's), when the seller exports the range and ExportFunction runs
    on the queued message, then the export is ready with the API's row count, and the CSV
    behind its link is the API's rows, in its order, field for field, in several parts."""
    first, second = integration(api, seller, "901"), integration(api, seller, "902", "instagram")
    seed(conn, first)
    seed(conn, second)
    seed(conn, integration(api, seller, "904"), posts=2, days=60)  # 20 days before the range
    conn.execute(
        "UPDATE analytics_daily_metrics SET deleted_at = now()"
        " WHERE integration_id = %s AND content_id = '901_3' AND date = current_date",
        (first,),
    )
    other = api.seller("other@example.com")
    seed(conn, integration(api, other, "903"))

    reply = create(api, seller)
    assert reply.status == 202, reply.text
    created = reply.json()
    assert created == {"id": created["id"], "status": "pending"}
    assert uuid.UUID(created["id"])
    before = status(api, seller, created["id"])
    assert (before["status"], before["url"], before["row_count"]) == ("pending", None, None)

    assert exports.run_all() == 1
    after = status(api, seller, created["id"])
    expected = api_rows(api, seller, f"from={START}&to={END}")
    assert len(expected) == 2 * 40 * 40 + 2 * 40 - 1  # all but the older days and the deleted
    assert (after["status"], after["row_count"]) == ("ready", len(expected))

    data, headers = download(after["url"])
    assert headers["content-type"].startswith("text/csv")
    assert headers["content-disposition"].startswith('attachment; filename="metrics_')
    assert data.endswith(b"\r\n") and data.split(b"\n", 1)[0].endswith(b"\r")
    rows = csv_rows(data)
    assert rows[0] == list(COLUMNS)
    assert rows[1:] == expected
    key = storage.object_key(organization_of(conn, created["id"]), created["id"])
    assert parts_of(exports, key) == -(-len(data) // get_settings().export_part_bytes) >= 3
    assert exports.uploads() == []


def organization_of(conn: Any, export_id: str) -> str:
    row = conn.execute(
        "SELECT organization_id::text FROM analytics_exports WHERE id = %s", (export_id,)
    ).fetchone()
    return str(row[0])


def test_an_export_of_one_integration_has_only_its_rows(
    api: Api, seller: str, conn: Any, exports: Exports
) -> None:
    first, second = integration(api, seller, "911"), integration(api, seller, "912")
    seed(conn, first, posts=5, days=10)
    seed(conn, second, posts=5, days=10)
    export_id = create(api, seller, integration_id=second.upper()).json()["id"]
    exports.run_all()
    ready = status(api, seller, export_id)
    rows = csv_rows(download(ready["url"])[0])[1:]
    assert rows == api_rows(api, seller, f"from={START}&to={END}&integration_id={second}")
    assert ready["row_count"] == len(rows) == 50
    assert {r[0] for r in rows} == {second}


def test_an_export_of_another_sellers_integration_is_empty_as_the_reads_are(
    api: Api, seller: str, conn: Any, exports: Exports
) -> None:
    theirs = integration(api, api.seller("theirs@example.com"), "921")
    seed(conn, theirs, posts=3, days=3)
    export_id = create(api, seller, integration_id=theirs).json()["id"]
    exports.run_all()
    ready = status(api, seller, export_id)
    assert ready["row_count"] == 0
    assert csv_rows(download(ready["url"])[0]) == [list(COLUMNS)]


def test_another_seller_cannot_see_an_export(api: Api, seller: str, exports: Exports) -> None:
    export_id = create(api, seller).json()["id"]
    exports.run_all()
    other = api.seller("nosy@example.com")
    for path in (export_id, export_id.upper(), str(uuid.uuid4()), "not-an-id", "%00"):
        assert_problem(api.get(f"/analytics/exports/{path}", token=other), 404)
    assert status(api, seller, export_id)["status"] == "ready"


def test_the_link_is_fresh_sigv4_and_lasts_15_minutes_at_most(
    api: Api, seller: str, conn: Any, exports: Exports
) -> None:
    export_id = create(api, seller).json()["id"]
    exports.run_all()
    url = status(api, seller, export_id)["url"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "900"
    # Less than 15 minutes before it expires: the link ends with the export.
    conn.execute(
        "UPDATE analytics_exports SET expires_at = now() + interval '100 seconds' WHERE id = %s",
        (export_id,),
    )
    url = status(api, seller, export_id)["url"]
    assert 90 <= int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0]) <= 100


def test_after_expires_at_an_export_is_expired_and_has_no_link(
    api: Api, seller: str, conn: Any, exports: Exports
) -> None:
    export_id = create(api, seller).json()["id"]
    exports.run_all()
    conn.execute(
        "UPDATE analytics_exports SET expires_at = now() - interval '1 second' WHERE id = %s",
        (export_id,),
    )
    expired = status(api, seller, export_id)
    assert (expired["status"], expired["url"]) == ("expired", None)


def test_an_expired_pending_export_is_not_written(
    api: Api, seller: str, conn: Any, exports: Exports
) -> None:
    export_id = create(api, seller).json()["id"]
    conn.execute(
        "UPDATE analytics_exports SET expires_at = now() - interval '1 second' WHERE id = %s",
        (export_id,),
    )
    assert exports.run_all() == 1
    assert exports.objects() == {}
    assert status(api, seller, export_id)["status"] == "expired"


def test_a_missing_bucket_fails_the_export_and_leaves_nothing(
    api: Api, seller: str, conn: Any, exports: Exports, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORTS_BUCKET", "no-such-bucket")
    get_settings.cache_clear()
    export_id = create(api, seller).json()["id"]
    assert exports.run_all() == 1  # acknowledged: retrying cannot help
    failed = status(api, seller, export_id)
    assert (failed["status"], failed["url"], failed["row_count"]) == ("failed", None, None)
    assert conn.execute(
        "SELECT error FROM analytics_exports WHERE id = %s", (export_id,)
    ).fetchone() == ("s3:NoSuchBucket",)
    assert exports.objects() == {}


def test_a_failure_after_some_parts_aborts_the_upload(
    api: Api, seller: str, conn: Any, exports: Exports, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given an export of several parts whose third part S3 refuses (after its retries),
    then the upload is aborted: no object, no incomplete upload, and the export is failed."""
    seed(conn, integration(api, seller, "931"))
    sent = storage.MultipartUpload.part

    def third_fails(self: storage.MultipartUpload, data: bytes) -> None:
        if len(self.parts) == 2:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "x"}}, "UploadPart")
        sent(self, data)

    monkeypatch.setattr(storage.MultipartUpload, "part", third_fails)
    export_id = create(api, seller).json()["id"]
    exports.run_all()
    failed = status(api, seller, export_id)
    assert (failed["status"], failed["url"]) == ("failed", None)
    assert conn.execute(
        "SELECT error FROM analytics_exports WHERE id = %s", (export_id,)
    ).fetchone() == ("s3:SlowDown",)
    assert exports.objects() == {}
    assert exports.uploads() == []


def test_a_redelivered_message_of_a_ready_export_does_nothing(
    api: Api, seller: str, conn: Any, exports: Exports
) -> None:
    first = integration(api, seller, "941")
    seed(conn, first, posts=3, days=3)
    export_id = create(api, seller).json()["id"]
    exports.run_all()
    ready = status(api, seller, export_id)
    (key, stored) = next(iter(exports.objects().items()))
    # New rows arrive, then SQS delivers the same message again.
    seed(conn, integration(api, seller, "942"), posts=3, days=3)
    organization = organization_of(conn, export_id)
    exports.send(ExportJob(export_id=export_id, organization_id=organization).body())
    assert exports.run_all() == 1
    again = status(api, seller, export_id)
    assert again["row_count"] == ready["row_count"] == 9
    assert exports.objects()[key]["ETag"] == stored["ETag"]


def test_an_export_that_cannot_be_queued_is_a_503_and_failed(
    api: Api, seller: str, conn: Any, exports: Exports, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORT_QUEUE_URL", exports.queue_url.replace("ExportQueue", "Nowhere"))
    get_settings.cache_clear()
    reply = create(api, seller)
    assert assert_problem(reply, 503) and reply.header("retry-after")
    assert conn.execute("SELECT status, error FROM analytics_exports").fetchall() == [
        ("failed", "not queued")
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"from": "2026-11-10", "to": "2026-11-01"},
        {"from": "2025-01-01", "to": "2026-11-01"},
        {"to": "2026-11-01"},
        {"from": "2026-11-01"},
        {},
        {"from": None, "to": "2026-11-01"},
        {"from": "2026-11-01", "to": "20261102"},
        {"from": "2026-11-01", "to": "2026-11-02", "integration_id": "not-a-uuid"},
        {"from": "2026-11-01", "to": "2026-11-02", "integration_id": 7},
        {"from": "2026-11-01", "to": "2026-11-02", "format": "xlsx"},
        ["2026-11-01", "2026-11-02"],
    ],
)
def test_bad_ranges_are_422(api: Api, seller: str, conn: Any, body: Any) -> None:
    reply = api.post("/analytics/exports", json_body=body, token=seller)
    assert assert_problem(reply, 422)["errors"]
    assert conn.execute("SELECT count(*) FROM analytics_exports").fetchone() == (0,)


def test_a_body_that_is_not_json_is_400(api: Api, seller: str) -> None:
    reply = api.post(
        "/analytics/exports",
        body="{from: 1",
        headers={"content-type": "application/json"},
        token=seller,
    )
    assert_problem(reply, 400)


def test_the_routes_need_a_token(api: Api) -> None:
    assert api.post("/analytics/exports", json_body={}).status == 401
    assert api.get(f"/analytics/exports/{uuid.uuid4()}").status == 401
