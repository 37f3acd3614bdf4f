"""Product files in the private bucket (``FILES_BUCKET``): presigned upload and download URLs,
and whether an upload has arrived. Nothing else talks to S3.

- **Upload**: :func:`upload` presigns a ``PUT`` whose SigV4 signature covers ``Content-Type``
  and ``Content-Length``, so S3 refuses a body of another size or type than the one the
  seller declared (``X-Amz-SignedHeaders=content-length;content-type;host``).
- **Download**: :func:`download_url` presigns a ``GET`` valid for ``FILE_DOWNLOAD_SECONDS``
  (at most 15 minutes) that makes S3 answer ``Content-Disposition: attachment`` with the
  file's name (RFC 6266: an ASCII ``filename`` and the exact ``filename*``).
- **Keys**: each upload gets a fresh key (:func:`new_key`) and objects are never deleted, so
  replacing a product's file or deleting the product leaves past buyers' links working.

Why the signer is chosen here: for presigned URLs in regions that still accept SigV2
(us-east-1 among them) botocore defaults to SigV2 unless the client's configuration names a
signature version, and a SigV2 URL signs neither header's length. The client comes from
:func:`nexus.aws.client` like every other, and :func:`_client` asks its event system
(``choose-signer.s3.<Operation>``, answered before botocore's own SigV2 default) for SigV4.

Why the URLs are regional and virtual-hosted on AWS (``https://<bucket>.s3.<region>.amazonaws.com``):
botocore presigns with the global endpoint (``<bucket>.s3.amazonaws.com``) unless its S3
configuration says otherwise. For a bucket outside us-east-1 that host answers 307 while the
bucket's DNS name propagates (up to a day after it is made), and a browser's CORS preflight
does not follow a redirect; and the web app's Content-Security-Policy names one origin for the
upload (``connect-src``, template.yaml's WebSecurityHeaders): the regional one. Where an
endpoint is configured (the local stack, moto) botocore's own choice stays: path style on an
IP address, which the local stack's README shows.

boto3 and botocore are imported on first use only: cold starts that never touch a file do
not load them.
"""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from nexus import aws
from nexus.errors import ServiceUnavailable
from nexus.settings import get_settings

# The presigning operations; HeadObject is a plain signed request and keeps botocore's choice.
_PRESIGNED = ("PutObject", "GetObject")
_SIGNER_ID = "nexus-files-sigv4-presign"
# A key's file-name part: readable in the console, never a path or anything to escape.
_KEY_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_KEY_NAME_MAX = 100
# What may stand in the quoted ASCII fallback of Content-Disposition (no quote, backslash,
# control characters or anything beyond ASCII).
_FALLBACK_UNSAFE = re.compile(r"[^A-Za-z0-9 !#$&'()+,.=@\[\]^_`{}~-]+")
# S3 answers a HEAD of a missing key with 403 to a caller without s3:ListBucket, which the
# functions deliberately lack (they may read and write products/* objects, not list them).
_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "403", "AccessDenied", "Forbidden"}


class CheckFailed(Exception):
    """S3 could not say whether the object exists (throttled, unreachable, refused): the
    caller keeps what it knew."""


@dataclass(frozen=True)
class Upload:
    """A presigned PUT: send the body to ``url`` with exactly ``headers`` within
    ``expires_in`` seconds."""

    url: str
    headers: dict[str, str]
    expires_in: int


def configured() -> bool:
    return bool(get_settings().files_bucket)


def _bucket() -> str:
    bucket = get_settings().files_bucket
    if not bucket:
        raise ServiceUnavailable("File uploads are not configured.")
    return bucket


def _sigv4(signature_version: str, **_: Any) -> str | None:
    """``choose-signer`` handler: SigV4 for presigned URLs (the ``-query`` variant)."""
    return "s3v4-query" if signature_version.endswith("-query") else None


# botocore's S3 configuration on AWS (see above): virtual-hosted, regional in us-east-1 too.
REGIONAL_VIRTUAL_HOSTED = {"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"}


def _client() -> Any:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    s3 = aws.client("s3", s3=None if endpoint else REGIONAL_VIRTUAL_HOSTED)
    for operation in _PRESIGNED:
        # unique_id: registering again on the cached client is a no-op.
        s3.meta.events.register(
            f"choose-signer.s3.{operation}", _sigv4, unique_id=f"{_SIGNER_ID}-{operation}"
        )
    return s3


def presigning_client() -> Any:
    """The S3 client whose presigned URLs are SigV4 (see above); ExportsBucket's download
    links (nexus.exports.storage) are made with it too."""
    return _client()


def _ascii(name: str) -> str:
    """``name`` in ASCII: accents dropped (é is e), any other character beyond ASCII ``_``."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(
        c if c.isascii() else ("" if unicodedata.combining(c) else "_") for c in decomposed
    )


def key_name(filename: str) -> str:
    """The file-name part of an object key: ASCII letters, digits, ``.``, ``_``, ``-``."""
    safe = _KEY_NAME_UNSAFE.sub("_", _ascii(filename)).strip("._")
    return safe[-_KEY_NAME_MAX:].lstrip("._") or "file"


def new_key(product_id: str, filename: str) -> str:
    """A key no other upload has: ``products/<product id>/<uuid4>/<safe file name>``."""
    return f"products/{product_id}/{uuid.uuid4()}/{key_name(filename)}"


def upload(key: str, *, content_type: str, size: int) -> Upload:
    """A presigned PUT of exactly ``size`` bytes of ``content_type`` to ``key``; a 503
    problem when no bucket is configured."""
    bucket = _bucket()
    expires_in = get_settings().file_upload_seconds
    url: str = _client().generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket, "Key": key, "ContentType": content_type, "ContentLength": size},
        ExpiresIn=expires_in,
        HttpMethod="PUT",
    )
    headers = {"Content-Type": content_type, "Content-Length": str(size)}
    return Upload(url=url, headers=headers, expires_in=expires_in)


def content_disposition(filename: str) -> str:
    """``attachment`` with the name twice (RFC 6266 §4.3): a plain ASCII ``filename`` for
    old clients and the exact one as ``filename*`` (RFC 8187, UTF-8, percent-encoded)."""
    fallback = _FALLBACK_UNSAFE.sub("_", _ascii(filename)).strip() or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def download_url(key: str, filename: str) -> str:
    """A presigned GET of ``key``, valid ``FILE_DOWNLOAD_SECONDS`` (at most 900), that S3
    answers as an attachment named ``filename``; a 503 problem when no bucket is configured."""
    url: str = _client().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": _bucket(),
            "Key": key,
            "ResponseContentDisposition": content_disposition(filename),
        },
        ExpiresIn=min(get_settings().file_download_seconds, 900),
        HttpMethod="GET",
    )
    return url


def size_of(key: str) -> int | None:
    """The stored object's size, None when there is no such object (S3's 404, or its 403
    for a missing key); :class:`CheckFailed` when S3 could not say (throttled, 5xx,
    unreachable: the client's timeouts and retries already spent)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        head = _client().head_object(Bucket=_bucket(), Key=key)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND:
            return None
        raise CheckFailed(code or "ClientError") from exc
    except BotoCoreError as exc:
        raise CheckFailed(type(exc).__name__) from exc
    return int(head["ContentLength"])
