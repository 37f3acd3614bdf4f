"""Secret values: the environment locally, Secrets Manager on AWS (cached for 5 minutes).

Powertools parameters (and so boto3) are imported only when a secret actually comes from
Secrets Manager, keeping boto3 out of every handler's cold start. Its provider is handed the
client :mod:`nexus.aws` makes, so the call has the layer's timeouts and bounded retries.
"""

from __future__ import annotations

import threading
from typing import Any

from nexus import aws
from nexus.errors import ServiceUnavailable

SECRET_MAX_AGE_SECONDS = 300


class _Provider(threading.local):
    """One SecretsProvider (and so one value cache) per client, per execution environment."""

    client: Any = None
    provider: Any = None


_current = _Provider()


def _provider() -> Any:
    client = aws.client("secretsmanager")
    if _current.provider is None or _current.client is not client:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        _current.client, _current.provider = client, SecretsProvider(boto3_client=client)
    return _current.provider


def cache_clear() -> None:
    """Forget this thread's provider and the values it cached (a SnapStart restore: the
    next read fetches again, with new credentials)."""
    _current.client = _current.provider = None


def resolve_secret(value: str | None, arn: str | None, *, name: str) -> str:
    if value:
        return value
    if not arn:
        # A deployment error, not a client's: surfaced as 503 so no request sees a traceback.
        raise ServiceUnavailable(f"{name} is not configured")
    secret = _provider().get(arn, max_age=SECRET_MAX_AGE_SECONDS)
    if isinstance(secret, bytes):
        return secret.decode()
    return str(secret)
