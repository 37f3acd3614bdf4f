"""nexus.exports without PostgreSQL or S3: the CSV (RFC 4180), its split into multipart parts,
the request's rules, the status and link a GET answers, and what the worker does with a
message, a failure and a redelivery (fakes for the repository, the queue and S3)."""

from __future__ import annotations

import csv
import io
import math
import tracemalloc
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from pydantic import ValidationError

from nexus import aws, db
from nexus.deadline import Deadline, OutOfTime
from nexus.errors import NotFound, ServiceUnavailable
from nexus.exports import queue, service, storage, worker
from nexus.exports.models import (
    COLUMNS,
    Claimed,
    ExportIn,
    ExportJob,
    NotClaimed,
    StoredExport,
)
from nexus.exports.repository import ExportRepository
from nexus.settings import get_settings
from tests.support.fakes import new_id, seller

# Metric row v2, in the order the contract lists it.
CONTRACT_COLUMNS = (
    "integration_id",
    "provider",
    "content_id",
    "date",
    "impressions",
    "reach",
    "reactions",
    "video_views",
    "clicks",
    "comments",
    "shares",
    "saves",
    "profile_visits",
    "follows",
)
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("EXPORTS_BUCKET", "nexus-exports-test")
    get_settings.cache_clear()
    aws.cache_clear()
    yield
    aws.cache_clear()
    get_settings.cache_clear()


def row(content_id: str = "111_1", **values: str | None) -> tuple[str | None, ...]:
    """A row as the repository streams it: every field text, or None for null."""
    base: dict[str, str | None] = {c: None for c in COLUMNS}
    base |= {
        "integration_id": "de300000-0000-4000-8003-000000000001",
        "provider": "facebook",
        "content_id": content_id,
        "date": "2026-11-01",
    }
    base |= values
    return tuple(base[c] for c in COLUMNS)


def to_csv(rows: list[tuple[str | None, ...]], part_size: int = 1024 * 1024) -> bytes:
    parts: list[bytes] = []
    worker.write_csv([rows], parts.append, part_size=part_size)
    return b"".join(parts)


# ------------------------------------------------------------------ the CSV
def test_the_header_is_metric_row_v2_in_the_contracts_order() -> None:
    assert COLUMNS == CONTRACT_COLUMNS
    assert to_csv([]) == (",".join(CONTRACT_COLUMNS) + "\r\n").encode()


def test_fields_are_quoted_as_rfc_4180_asks_and_null_is_an_empty_field() -> None:
    tricky = ["a,b", 'say "hi"', "two\nlines", "cr\rlf\r\nend", "plain", "é ünïcødé 📘"]
    rows = [row(c, impressions="12", reach=None, follows="0") for c in tricky]
    data = to_csv(rows)
    text = data.decode("utf-8")
    assert text.endswith("\r\n")  # CRLF after every record, the last one included
    assert '"a,b"' in text
    assert '"say ""hi"""' in text  # quotes doubled inside a quoted field
    assert '"two\nlines"' in text and '"cr\rlf\r\nend"' in text
    assert ",plain," in text  # nothing else is quoted
    # null is empty, 0 is 0: impressions, reach (null), ..., follows
    assert (
        "\r\nde300000-0000-4000-8003-000000000001,facebook,plain,2026-11-01,12,,,,,,,,,0\r\n"
        in text
    )
    # Any RFC 4180 reader gets the rows back exactly.
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == list(CONTRACT_COLUMNS)
    assert parsed[1:] == [[v or "" for v in r] for r in rows]


def test_the_csv_is_utf8_without_a_byte_order_mark() -> None:
    data = to_csv([row("é")])
    assert not data.startswith(b"\xef\xbb\xbf")
    assert "é".encode() in data


# ------------------------------------------------------------------ parts
def batches_of(n: int, size: int) -> Iterator[list[tuple[str | None, ...]]]:
    for start in range(0, n, size):
        yield [row(f"111_{i:06d}", impressions=str(i)) for i in range(start, min(n, start + size))]


@pytest.mark.parametrize("part_size", [1000, 4096, 10_000])
def test_parts_are_exactly_the_part_size_but_the_last_and_join_to_the_csv(part_size: int) -> None:
    parts: list[bytes] = []
    written = worker.write_csv(batches_of(2000, 300), parts.append, part_size=part_size)
    whole = b"".join(parts)
    assert written.rows == 2000
    assert written.parts == len(parts) == math.ceil(len(whole) / part_size)
    assert written.size == len(whole)
    assert all(len(p) == part_size for p in parts[:-1])
    assert 0 < len(parts[-1]) <= part_size
    assert whole == to_csv([r for b in batches_of(2000, 300) for r in b])


def test_a_csv_of_exactly_whole_parts_has_no_empty_last_part() -> None:
    header = len(to_csv([]))
    parts: list[bytes] = []
    written = worker.write_csv([], parts.append, part_size=header)
    assert [len(p) for p in parts] == [header] and written.parts == 1


def test_an_empty_export_is_one_part_with_the_header() -> None:
    parts: list[bytes] = []
    written = worker.write_csv(iter([]), parts.append, part_size=64 * 1024)
    assert (written.rows, written.parts) == (0, 1)
    assert parts == [to_csv([])]


def peak_bytes(rows: int, part_size: int) -> int:
    """The most memory write_csv held at once for ``rows`` rows (tracemalloc), parts sent
    nowhere (as S3 would take them away)."""
    tracemalloc.start()
    try:
        worker.write_csv(batches_of(rows, 500), lambda _: None, part_size=part_size)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_a_part_and_a_batch_whatever_the_number_of_rows() -> None:
    part_size = 16 * 1024
    small, large = peak_bytes(2_000, part_size), peak_bytes(20_000, part_size)
    assert len(to_csv([r for b in batches_of(20_000, 500) for r in b])) > 100 * part_size
    assert large < small * 1.25
    assert large < 4 * part_size + 512 * 1024


def test_the_deadline_stops_the_export_between_batches() -> None:
    clock = iter([0.0, 0.0, 0.0, 100.0, 100.0, 100.0])
    deadline = Deadline(at=50.0, clock=lambda: next(clock))
    with pytest.raises(OutOfTime):
        worker.write_csv(batches_of(1000, 100), lambda _: None, part_size=4096, deadline=deadline)


# ------------------------------------------------------------------ the request
GOOD = {"from": "2026-11-01", "to": "2026-11-30"}


def test_a_request_names_both_dates_and_optionally_an_integration() -> None:
    body = ExportIn.model_validate(GOOD)
    assert (body.start, body.end, body.integration_id) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
        None,
    )
    integration = str(uuid.uuid4()).upper()
    body = ExportIn.model_validate({**GOOD, "integration_id": integration})
    assert body.integration_id == integration.lower()
    schema = ExportIn.model_json_schema(by_alias=True)
    assert schema["required"] == ["from", "to"]
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"from": "2026-11-30", "to": "2026-11-01"}, "from"),
        ({"from": "2025-01-01", "to": "2026-11-01"}, "to"),
        ({"from": "20261101"}, "from"),
        ({"to": 0}, "to"),
        ({"from": None}, "from"),
        ({"integration_id": "not-a-uuid"}, "integration_id"),
        ({"integration_id": 5}, "integration_id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_the_reads_date_rules_hold_for_a_request(fields: dict[str, Any], loc: str) -> None:
    with pytest.raises(ValidationError) as raised:
        ExportIn.model_validate({**GOOD, **fields})
    assert loc in [e["loc"][0] for e in raised.value.errors()]


@pytest.mark.parametrize("missing", ["from", "to"])
def test_a_request_without_a_date_is_refused(missing: str) -> None:
    with pytest.raises(ValidationError) as raised:
        ExportIn.model_validate({k: v for k, v in GOOD.items() if k != missing})
    assert [e["loc"] for e in raised.value.errors()] == [(missing,)]


# ------------------------------------------------------------------ fakes
@dataclass
class FakeExports(ExportRepository):
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: list[tuple[str | None, ...]] = field(default_factory=list)
    fail_stream_after: int | None = None
    calls: list[str] = field(default_factory=list)

    def create(self, **kw: Any) -> None:
        self.calls.append("create")
        self.stored[kw["export_id"]] = {**kw, "status": "pending", "row_count": None}

    def get(self, *, organization_id: str, export_id: str) -> StoredExport | None:
        found = self.stored.get(export_id)
        if found is None or found["organization_id"] != organization_id:
            return None
        return StoredExport(
            id=export_id,
            status=found["status"],
            row_count=found["row_count"],
            object_key=found["object_key"],
            start=found["start"],
            end=found["end"],
            expires_at=found["expires_at"],
        )

    def mark_failed(self, export_id: str, error: str) -> bool:
        self.calls.append(f"failed:{error}")
        self.stored[export_id]["status"] = "failed"
        return True

    def claim(self, *, export_id: str, organization_id: str, lease: int) -> Claimed | NotClaimed:
        self.calls.append("claim")
        found = self.stored.get(export_id)
        if found is None or found["organization_id"] != organization_id:
            return NotClaimed("missing")
        if found["status"] != "pending":
            return NotClaimed("done")
        return Claimed(
            id=export_id,
            organization_id=organization_id,
            start=found["start"],
            end=found["end"],
            integration_id=None,
            object_key=found["object_key"],
        )

    def release(self, export_id: str) -> None:
        self.calls.append("release")

    def mark_ready(self, export_id: str, row_count: int) -> bool:
        self.calls.append(f"ready:{row_count}")
        self.stored[export_id] |= {"status": "ready", "row_count": row_count}
        return True

    def stream(
        self, conn: Any, export: Claimed, *, batch_rows: int
    ) -> Generator[list[tuple[Any, ...]]]:
        for start in range(0, len(self.rows), batch_rows):
            if self.fail_stream_after is not None and start >= self.fail_stream_after:
                raise RuntimeError("the database went away")
            yield self.rows[start : start + batch_rows]


class FakeS3:
    def __init__(self, *, fail_on_part: int | None = None) -> None:
        self.fail_on_part = fail_on_part
        self.parts: list[bytes] = []
        self.calls: list[str] = []

    def create_multipart_upload(self, **kw: Any) -> dict[str, Any]:
        self.calls.append("create")
        assert kw["ContentType"].startswith("text/csv")
        return {"UploadId": "u-1"}

    def upload_part(self, **kw: Any) -> dict[str, Any]:
        if kw["PartNumber"] == self.fail_on_part:
            raise RuntimeError("S3 went away")
        self.calls.append(f"part:{kw['PartNumber']}")
        self.parts.append(kw["Body"])
        return {"ETag": f'"e{kw["PartNumber"]}"', "ChecksumCRC32": "c"}

    def complete_multipart_upload(self, **kw: Any) -> None:
        self.calls.append("complete")
        numbers = [p["PartNumber"] for p in kw["MultipartUpload"]["Parts"]]
        assert numbers == list(range(1, len(self.parts) + 1))
        assert all(p["ChecksumCRC32"] == "c" for p in kw["MultipartUpload"]["Parts"])

    def abort_multipart_upload(self, **kw: Any) -> None:
        self.calls.append("abort")


def pending(
    repo: FakeExports, who: Any, *, expires_at: datetime = NOW + timedelta(hours=24)
) -> str:
    export_id = new_id()
    repo.stored[export_id] = {
        "export_id": export_id,
        "organization_id": who.organization_id,
        "status": "pending",
        "row_count": None,
        "object_key": storage.object_key(who.organization_id, export_id),
        "start": date(2026, 11, 1),
        "end": date(2026, 11, 30),
        "expires_at": expires_at,
    }
    return export_id


def claimed(repo: FakeExports, export_id: str) -> Claimed:
    found = repo.stored[export_id]
    result = repo.claim(export_id=export_id, organization_id=found["organization_id"], lease=1)
    assert isinstance(result, Claimed)
    return result


# ------------------------------------------------------------------ create and get
def test_create_stores_a_pending_export_then_queues_its_id() -> None:
    repo, sent = FakeExports(), list[ExportJob]()
    who = seller()
    created = service.create(who, ExportIn.model_validate(GOOD), repo=repo, send=sent.append)
    assert created.status == "pending"
    (job,) = sent
    assert job == ExportJob(export_id=created.id, organization_id=who.organization_id)
    stored = repo.stored[created.id]
    assert stored["object_key"] == f"exports/{who.organization_id}/{created.id}.csv"
    assert stored["expiry_hours"] == 24 and stored["user_id"] == who.user_id


def test_an_export_that_cannot_be_queued_fails_at_once_and_is_a_503() -> None:
    def down(job: ExportJob) -> None:
        raise ConnectionError("SQS is down")

    repo = FakeExports()
    with pytest.raises(ServiceUnavailable) as raised:
        service.create(seller(), ExportIn.model_validate(GOOD), repo=repo, send=down)
    assert raised.value.retry_after
    assert repo.calls == ["create", "failed:not queued"]


def test_create_without_a_bucket_is_a_503_and_stores_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EXPORTS_BUCKET")
    get_settings.cache_clear()
    repo = FakeExports()
    with pytest.raises(ServiceUnavailable):
        service.create(seller(), ExportIn.model_validate(GOOD), repo=repo, send=lambda _: None)
    assert repo.calls == []


def test_another_organizations_export_or_a_non_id_is_not_found() -> None:
    repo = FakeExports()
    export_id = pending(repo, seller())
    for raw in (export_id, "not-an-id", ""):
        with pytest.raises(NotFound):
            service.get(seller(), raw, repo=repo, now=NOW)


def test_a_pending_export_has_no_link_and_a_ready_one_a_fresh_one() -> None:
    repo, asked = FakeExports(), []
    who = seller()
    export_id = pending(repo, who)

    def presign(key: str, filename: str, *, expires_in: int) -> str:
        asked.append((key, filename, expires_in))
        return "https://signed.example/x"

    first = service.get(who, export_id, repo=repo, presign=presign, now=NOW)
    assert (first.status, first.url, first.row_count) == ("pending", None, None)
    repo.stored[export_id] |= {"status": "ready", "row_count": 42}
    ready = service.get(who, export_id, repo=repo, presign=presign, now=NOW)
    assert (ready.status, ready.url, ready.row_count) == ("ready", "https://signed.example/x", 42)
    assert asked == [
        (f"exports/{who.organization_id}/{export_id}.csv", "metrics_2026-11-01_2026-11-30.csv", 900)
    ]


def test_the_link_never_outlives_the_export() -> None:
    repo, asked = FakeExports(), []
    who = seller()
    export_id = pending(repo, who, expires_at=NOW + timedelta(seconds=120.7))
    repo.stored[export_id] |= {"status": "ready", "row_count": 1}

    def presign(*_: Any, expires_in: int) -> str:
        asked.append(expires_in)
        return "u"

    service.get(who, export_id, repo=repo, presign=presign, now=NOW)
    assert asked == [120]


@pytest.mark.parametrize("status", ["pending", "ready", "failed"])
def test_after_expires_at_an_export_is_expired_without_a_link(status: str) -> None:
    repo = FakeExports()
    who = seller()
    export_id = pending(repo, who, expires_at=NOW)
    repo.stored[export_id] |= {"status": status, "row_count": 3 if status == "ready" else None}

    def presign(*_: Any, **__: Any) -> str:
        raise AssertionError("an expired export is not presigned")

    answer = service.get(who, export_id, repo=repo, presign=presign, now=NOW)
    assert (answer.status, answer.url) == ("expired", None)


def test_the_download_link_is_sigv4_an_attachment_and_as_long_as_asked() -> None:
    url = storage.download_url("exports/o/e.csv", "metrics_a_b.csv", expires_in=300)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "300"
    assert unquote(query["response-content-disposition"]).startswith(
        'attachment; filename="metrics_a_b.csv"'
    )
    assert query["response-content-type"].startswith("text/csv")
    # regional, as nexus.files presigns on AWS
    assert urlsplit(url).hostname == "nexus-exports-test.s3.us-east-1.amazonaws.com"


# ------------------------------------------------------------------ the worker
def test_run_uploads_every_part_in_order_and_completes() -> None:
    repo, s3 = FakeExports(), FakeS3()
    repo.rows = [row(f"111_{i:05d}", impressions=str(i)) for i in range(3000)]
    export_id = pending(repo, seller())
    written = worker.run(
        claimed(repo, export_id),
        conn=None,
        s3=s3,
        bucket="b",
        part_size=64 * 1024,
        batch_rows=250,
        repo=repo,
    )
    assert written.rows == 3000 and written.parts >= 3
    assert s3.calls == ["create", *(f"part:{n}" for n in range(1, written.parts + 1)), "complete"]
    assert b"".join(s3.parts) == to_csv(repo.rows)


@pytest.mark.parametrize(
    ("s3", "fail_stream_after"), [(FakeS3(fail_on_part=2), None), (FakeS3(), 1000)]
)
def test_any_failure_aborts_the_upload(s3: FakeS3, fail_stream_after: int | None) -> None:
    repo = FakeExports(fail_stream_after=fail_stream_after)
    repo.rows = [row(f"111_{i:05d}") for i in range(3000)]
    export_id = pending(repo, seller())
    with pytest.raises(RuntimeError):
        worker.run(
            claimed(repo, export_id),
            conn=None,
            s3=s3,
            bucket="b",
            part_size=64 * 1024,
            batch_rows=250,
            repo=repo,
        )
    assert s3.calls[-1] == "abort" and "complete" not in s3.calls


def message(repo: FakeExports, export_id: str) -> str:
    org = repo.stored[export_id]["organization_id"]
    return ExportJob(export_id=export_id, organization_id=org).body()


def test_a_ready_or_failed_export_is_not_redone_on_redelivery() -> None:
    repo = FakeExports()
    export_id = pending(repo, seller())
    for status in ("ready", "failed"):
        repo.stored[export_id]["status"] = status
        outcome = worker.handle_message(message(repo, export_id), receipt_handle="r", repo=repo)
        assert outcome.status == "done"
    assert repo.calls == ["claim", "claim"]


@pytest.mark.parametrize(
    "body",
    ["not json", "{}", '{"export_id": "x", "organization_id": "y"}', '{"schema_version": 2}'],
)
def test_a_message_that_is_not_an_export_is_acknowledged(body: str) -> None:
    repo = FakeExports()
    assert worker.handle_message(body, receipt_handle="r", repo=repo).status == "invalid"
    assert repo.calls == []


def test_another_organizations_id_in_a_message_is_not_exported() -> None:
    repo = FakeExports()
    export_id = pending(repo, seller())
    body = ExportJob(export_id=export_id, organization_id=new_id()).body()
    assert worker.handle_message(body, receipt_handle="r", repo=repo).status == "missing"


def test_a_failure_marks_the_export_failed_with_a_short_error() -> None:
    """Without a database (unit tests) the run fails before any row: recorded, acknowledged."""
    repo = FakeExports()
    export_id = pending(repo, seller())
    outcome = worker.handle_message(message(repo, export_id), receipt_handle="r", repo=repo)
    assert outcome.status == "failed"
    assert repo.calls == ["claim", "failed:ServiceUnavailable"]


def test_an_export_out_of_time_is_given_back_then_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    given: list[tuple[str, int]] = []

    def give_back(receipt_handle: str, seconds: int) -> bool:
        given.append((receipt_handle, seconds))
        return True

    monkeypatch.setattr(queue, "give_back", give_back)

    def out_of_time(*_: Any, **__: Any) -> Any:
        raise OutOfTime("no time left")

    monkeypatch.setattr(worker, "run", out_of_time)
    monkeypatch.setattr(db, "get_connection", lambda: None)
    repo = FakeExports()
    export_id = pending(repo, seller())
    with pytest.raises(worker.GivenBack):
        worker.handle_message(
            message(repo, export_id), receipt_handle="r-1", receive_count=1, repo=repo
        )
    assert given == [("r-1", worker.REQUEUE_DELAY_SECONDS)]
    assert repo.calls == ["claim", "release"]
    # The last attempt the settings allow: failed, not given back again.
    outcome = worker.handle_message(
        message(repo, export_id), receipt_handle="r-3", receive_count=3, repo=repo
    )
    assert outcome.status == "failed" and repo.calls[-1] == "failed:timeout"
    assert len(given) == 1


def test_short_errors_name_s3s_code_or_the_exceptions_class() -> None:
    class ClientError(Exception):
        response = {"Error": {"Code": "NoSuchBucket", "Message": "secret detail"}}

    assert worker.short_error(ClientError()) == "s3:NoSuchBucket"
    assert worker.short_error(ValueError("row data")) == "ValueError"
