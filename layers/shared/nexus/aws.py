"""The one place boto3 clients are made for the layer (and the operator CLI), each with a
connect and a read timeout and a bounded number of attempts (contract §6: no SDK call may
hang a function past its Timeout).

- Timeouts and attempts come from settings (``AWS_CONNECT_TIMEOUT_SECONDS``,
  ``AWS_READ_TIMEOUT_SECONDS``, ``AWS_MAX_ATTEMPTS``, total attempts, the first included),
  with botocore's ``standard`` retry mode (exponential backoff with jitter).
- Where the client talks is boto3's own business: ``AWS_ENDPOINT_URL`` (and
  ``AWS_ENDPOINT_URL_<SERVICE>``) are honoured by boto3 itself, so moto or the local stack's
  endpoint stand in for AWS without code changes.
- Clients are cached per execution environment. A Lambda environment has one thread; the
  local stack emulates each environment on a thread of its own, and boto3 sessions are not
  thread-safe, so the cache (and the session behind it) is per thread. The key includes the
  environment variables boto3 reads for where and as whom it talks, so a test or tool that
  changes them gets a new client rather than a stale one.

boto3 is imported on first use, keeping it out of cold starts that never call AWS.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from nexus.settings import get_settings

_ENVIRONMENT = (
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
)


class _Clients(threading.local):
    def __init__(self) -> None:
        self.clients: dict[tuple[Any, ...], Any] = {}


_cache = _Clients()


def config(*, read_timeout: float | None = None, s3: Mapping[str, str] | None = None) -> Any:
    """The botocore Config every client gets. ``read_timeout`` overrides the setting for a
    call that legitimately waits longer (a synchronous Lambda invoke waits for the function;
    a long poll must wait less than the read timeout: the redrive polls for 1 s); ``s3`` is
    botocore's S3 configuration (addressing style, regional endpoint), for nexus.files."""
    from botocore.config import Config

    settings = get_settings()
    return Config(
        connect_timeout=settings.aws_connect_timeout_seconds,
        read_timeout=read_timeout or settings.aws_read_timeout_seconds,
        retries={"mode": "standard", "total_max_attempts": settings.aws_max_attempts},
        s3=dict(s3) if s3 else None,
    )


def client(
    service: str,
    *,
    read_timeout: float | None = None,
    s3: Mapping[str, str] | None = None,
    **options: str,
) -> Any:
    """A cached boto3 client for ``service`` with the layer's timeouts. ``options`` go to
    ``boto3.client`` as they are (an explicit ``endpoint_url``, ``region_name``, keys)."""
    settings = get_settings()
    key = (
        service,
        read_timeout,
        tuple(sorted((s3 or {}).items())),
        tuple(sorted(options.items())),
        tuple(os.environ.get(name) for name in _ENVIRONMENT),
        os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}"),
        settings.aws_connect_timeout_seconds,
        settings.aws_read_timeout_seconds,
        settings.aws_max_attempts,
    )
    found = _cache.clients.get(key)
    if found is None:
        import boto3

        # A session of its own per client: boto3's default session is shared by every
        # thread, and a session resolves credentials once.
        found = boto3.session.Session().client(
            service, config=config(read_timeout=read_timeout, s3=s3), **options
        )
        _cache.clients[key] = found
    return found


def cache_clear() -> None:
    """Forget this thread's clients (tests that start a new AWS mock)."""
    _cache.clients.clear()
