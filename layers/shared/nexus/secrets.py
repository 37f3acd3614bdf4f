"""Secret values: the environment locally, Secrets Manager on AWS (cached for 5 minutes).

Powertools parameters (and so boto3) are imported only when a secret actually comes from
Secrets Manager, keeping boto3 out of every handler's cold start.
"""

from __future__ import annotations

from nexus.errors import ServiceUnavailable

SECRET_MAX_AGE_SECONDS = 300


def resolve_secret(value: str | None, arn: str | None, *, name: str) -> str:
    if value:
        return value
    if not arn:
        # A deployment error, not a client's: surfaced as 503 so no request sees a traceback.
        raise ServiceUnavailable(f"{name} is not configured")
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(arn, max_age=SECRET_MAX_AGE_SECONDS)
    if isinstance(secret, bytes):
        return secret.decode()
    return str(secret)
