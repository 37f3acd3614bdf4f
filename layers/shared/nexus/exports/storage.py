"""ExportsBucket (``EXPORTS_BUCKET``): the multipart upload an export's CSV is written with,
and the presigned GET its owner downloads it by. The one module of nexus.exports that talks
to S3.

- **Upload**: :class:`MultipartUpload` sends the CSV part by part as it is produced, so no
  invocation ever holds more than a part of it; a failure aborts the upload, so no partial
  object is ever visible (an abort that cannot reach S3 is finished by the bucket's
  lifecycle rule, which aborts incomplete uploads after a day).
- **Download**: :func:`download_url` presigns a SigV4 ``GET`` (the client of
  :func:`nexus.files.presigning_client`) that S3 answers as a CSV attachment.

boto3 and botocore are imported on first use only (IntegrationsFunction presigns only on a
GET of a ready export).
"""

from __future__ import annotations

from typing import Any

from nexus import files
from nexus.errors import ServiceUnavailable
from nexus.observability import logger
from nexus.settings import get_settings

# RFC 4180's media type; the header line is always there.
CONTENT_TYPE = "text/csv; charset=utf-8; header=present"
# A part is one request of several MiB: a longer read timeout than the API functions' 5 s, and
# three attempts of it stay inside the role's idle-in-transaction budget (0013_exports.sql).
UPLOAD_READ_TIMEOUT_SECONDS = 30.0


def bucket() -> str:
    name = get_settings().exports_bucket
    if not name:
        raise ServiceUnavailable("Exports are not configured.")
    return name


def object_key(organization_id: str, export_id: str) -> str:
    return f"exports/{organization_id}/{export_id}.csv"


def upload_client() -> Any:
    from nexus import aws

    return aws.client("s3", read_timeout=UPLOAD_READ_TIMEOUT_SECONDS)


def download_url(key: str, filename: str, *, expires_in: int) -> str:
    """A presigned GET of ``key`` valid ``expires_in`` seconds, answered as an attachment
    named ``filename``."""
    url: str = files.presigning_client().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket(),
            "Key": key,
            "ResponseContentDisposition": files.content_disposition(filename),
            "ResponseContentType": CONTENT_TYPE,
        },
        ExpiresIn=max(1, expires_in),
        HttpMethod="GET",
    )
    return url


class MultipartUpload:
    """One object written part by part: :meth:`start`, :meth:`part` for each part in order,
    then :meth:`complete`, or :meth:`abort` on any failure."""

    def __init__(self, s3: Any, bucket_name: str, key: str) -> None:
        self.s3, self.bucket, self.key = s3, bucket_name, key
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def start(self) -> None:
        created = self.s3.create_multipart_upload(
            Bucket=self.bucket, Key=self.key, ContentType=CONTENT_TYPE
        )
        self.upload_id = str(created["UploadId"])

    def part(self, data: bytes) -> None:
        number = len(self.parts) + 1
        sent = self.s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
        )
        entry = {"ETag": sent["ETag"], "PartNumber": number}
        # botocore checksums every part (CRC32 by default): completing must name them.
        entry |= {k: v for k, v in sent.items() if k.startswith("Checksum") and k != "ChecksumType"}
        self.parts.append(entry)

    def complete(self) -> None:
        self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    def abort(self) -> None:
        """Drop the parts sent so far; never raises (the lifecycle rule is the net)."""
        if self.upload_id is None:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )
        except (BotoCoreError, ClientError) as exc:
            logger.warning("could not abort the export upload", extra={"error": type(exc).__name__})
