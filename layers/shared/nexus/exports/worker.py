"""ExportFunction's work: one ExportQueue message, one export's CSV in ExportsBucket.

Memory stays constant in the number of rows: the rows come from a server-side cursor a batch
at a time (:meth:`ExportRepository.stream`), each batch is written by ``csv.writer`` into a
small text buffer, encoded, and appended to a byte buffer that is sent as a multipart upload
part whenever it holds ``EXPORT_PART_BYTES`` (:func:`write_csv`). At most a part and a batch
are held, whatever the export's size; nothing of it passes through a Lambda response.

The CSV is RFC 4180: UTF-8, CRLF line ends, a header of metric row v2's fields in
MetricRow's order, fields holding a comma, a quote or a line break quoted (quotes doubled),
an empty field for null.

Outcomes, per message (BatchSize 1):

- the export is claimed (pending, unexpired, nobody else's lease) or the message is
  acknowledged as it stands: an export already ``ready`` or ``failed`` is not redone (a
  redelivery), an unknown or expired one is skipped; one another delivery holds is given back
  for later;
- success completes the upload and marks the export ``ready`` with its row count;
- any failure aborts the upload (no partial object) and marks it ``failed`` with a short
  error (the S3 error code or the exception's class, never data);
- running out of the invocation's time (contract §6) aborts too and gives the message back
  for a fresh invocation, up to ``EXPORT_MAX_ATTEMPTS`` receives; then the export fails.

:func:`run` is the export itself, given a connection and an S3 client, so a benchmark can
drive it directly.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from nexus import db
from nexus.deadline import Deadline, OutOfTime, RemainingTime
from nexus.exports import queue, storage
from nexus.exports.models import COLUMNS, Claimed, ExportJob, NotClaimed
from nexus.exports.repository import ExportRepository
from nexus.observability import logger
from nexus.settings import get_settings

REPOSITORY = ExportRepository()
# Longer than ExportFunction's Timeout (900 s): a live holder never loses its claim.
CLAIM_LEASE_SECONDS = 960
# An export given back for lack of time is taken again this soon; one another delivery holds
# is looked at again after this long (by then it is usually done, and the message acked).
REQUEUE_DELAY_SECONDS = 5
BUSY_DELAY_SECONDS = 60


@dataclass(frozen=True)
class Written:
    rows: int
    parts: int
    size: int


@dataclass(frozen=True)
class Outcome:
    status: str  # ready, failed, invalid, missing, done, expired
    rows: int = 0
    parts: int = 0


class GivenBack(Exception):
    """The message was given back (reported as a batch item failure): ``interrupted`` by
    the deadline, or ``busy`` (another delivery holds the export)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"given back: {reason}")
        self.reason = reason


def time_left(context: RemainingTime) -> Deadline:
    return Deadline.from_context(context, margin=get_settings().export_deadline_margin_seconds)


class _Parts:
    """Bytes in, parts of exactly ``size`` bytes out (the last: whatever is left)."""

    def __init__(self, send: Callable[[bytes], None], size: int) -> None:
        self.send, self.size = send, size
        self.buffer = bytearray()
        self.parts = self.total = 0

    def add(self, data: bytes) -> None:
        self.buffer += data
        self.total += len(data)
        while len(self.buffer) >= self.size:
            with memoryview(self.buffer) as view:
                part = bytes(view[: self.size])
            del self.buffer[: self.size]
            self._send(part)

    def finish(self) -> None:
        """The rest as the last part (the only one of a small export, header included)."""
        if self.buffer or not self.parts:
            part = bytes(self.buffer)
            self.buffer.clear()
            self._send(part)

    def _send(self, part: bytes) -> None:
        self.send(part)
        self.parts += 1


def write_csv(
    batches: Iterable[Sequence[Sequence[Any]]],
    send_part: Callable[[bytes], None],
    *,
    part_size: int,
    deadline: Deadline | None = None,
) -> Written:
    """The header and every row as RFC 4180 CSV in UTF-8, handed to ``send_part`` in parts
    of exactly ``part_size`` bytes but the last. Rows are sequences of str or None (empty
    field); ``deadline`` is checked before each batch (:class:`OutOfTime`)."""
    text = io.StringIO(newline="")
    # The excel dialect is RFC 4180's: comma, CRLF, minimal quoting with doubled quotes.
    writer = csv.writer(text, dialect="excel", lineterminator="\r\n")
    parts = _Parts(send_part, part_size)
    rows = 0

    def drain() -> None:
        parts.add(text.getvalue().encode("utf-8"))
        text.seek(0)
        text.truncate()

    writer.writerow(COLUMNS)
    for batch in batches:
        if deadline is not None and deadline.expired:
            raise OutOfTime("the export did not finish in this invocation")
        writer.writerows(batch)
        rows += len(batch)
        drain()
    drain()
    parts.finish()
    return Written(rows=rows, parts=parts.parts, size=parts.total)


def run(
    export: Claimed,
    *,
    conn: Any,
    s3: Any,
    bucket: str,
    part_size: int,
    batch_rows: int,
    deadline: Deadline | None = None,
    repo: ExportRepository = REPOSITORY,
) -> Written:
    """Stream ``export``'s rows from ``conn`` into its object in ``bucket`` through ``s3``;
    any failure (OutOfTime included) aborts the upload and propagates."""
    upload = storage.MultipartUpload(s3, bucket, export.object_key)
    try:
        upload.start()
        with contextlib.closing(repo.stream(conn, export, batch_rows=batch_rows)) as batches:
            written = write_csv(batches, upload.part, part_size=part_size, deadline=deadline)
        upload.complete()
    except BaseException:
        upload.abort()
        raise
    return written


def short_error(exc: BaseException) -> str:
    """What a failed export records: S3's error code, else the exception's class."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        if code:
            return f"s3:{code}"
    return type(exc).__name__


def handle_message(
    body: str,
    *,
    receipt_handle: str,
    receive_count: int = 1,
    deadline: Deadline | None = None,
    repo: ExportRepository = REPOSITORY,
) -> Outcome:
    try:
        job = ExportJob.model_validate_json(body)
    except ValidationError:
        # Retrying cannot help; nothing is pending on it (the request queues only valid ones).
        logger.warning("not an export message")
        return Outcome("invalid")
    claim = repo.claim(
        export_id=job.export_id, organization_id=job.organization_id, lease=CLAIM_LEASE_SECONDS
    )
    if isinstance(claim, NotClaimed):
        logger.info("export not taken", extra={"export_id": job.export_id, "why": claim.reason})
        if claim.reason == "busy":
            queue.give_back(receipt_handle, BUSY_DELAY_SECONDS)
            raise GivenBack("busy")
        return Outcome(claim.reason)
    try:
        return _export(claim, receipt_handle, receive_count, deadline, repo)
    finally:
        db.close()  # the cursor pinned the connection in RDS Proxy: let it go


def _export(
    claim: Claimed,
    receipt_handle: str,
    receive_count: int,
    deadline: Deadline | None,
    repo: ExportRepository,
) -> Outcome:
    settings = get_settings()
    try:
        written = run(
            claim,
            conn=db.get_connection(),
            s3=storage.upload_client(),
            bucket=storage.bucket(),
            part_size=settings.export_part_bytes,
            batch_rows=settings.export_batch_rows,
            deadline=deadline,
            repo=repo,
        )
    except OutOfTime:
        if receive_count >= settings.export_max_attempts:
            logger.warning("export out of time, given up", extra={"export_id": claim.id})
            repo.mark_failed(claim.id, "timeout")
            return Outcome("failed")
        repo.release(claim.id)
        queue.give_back(receipt_handle, REQUEUE_DELAY_SECONDS)
        raise GivenBack("interrupted") from None
    except Exception as exc:  # noqa: BLE001 - recorded as the export's failure
        error = short_error(exc)
        logger.warning("export failed", extra={"export_id": claim.id, "error": error})
        repo.mark_failed(claim.id, error)
        return Outcome("failed")
    repo.mark_ready(claim.id, written.rows)
    logger.info(
        "export ready",
        extra={"export_id": claim.id, "rows": written.rows, "parts": written.parts},
    )
    return Outcome("ready", rows=written.rows, parts=written.parts)
