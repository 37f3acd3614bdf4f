"""The SES v2 adapter: the only module that sends email, through the client
:mod:`nexus.aws` makes (timeouts; botocore's standard retries with backoff for throttling and
5xx within one call).

SES v2 ``SendEmail`` has no idempotency token: deduplication is the outbox's claim by id.
"""

from __future__ import annotations

from typing import Any

from nexus import aws
from nexus.outbox.models import Email
from nexus.settings import get_settings

# Errors SES will answer again for the same email: recorded on the row, never retried.
# Everything else (throttling, a paused account or a daily quota, 5xx, timeouts, a missing
# configuration set) can pass and is retried with backoff.
PERMANENT = frozenset({"MessageRejected", "BadRequestException", "InvalidParameterValue"})


class SendFailed(Exception):
    def __init__(self, code: str, *, permanent: bool) -> None:
        super().__init__(code)
        self.code = code
        self.permanent = permanent


def _content(email: Email) -> dict[str, Any]:
    return {
        "Simple": {
            "Subject": {"Data": email.subject, "Charset": "UTF-8"},
            "Body": {
                "Text": {"Data": email.text, "Charset": "UTF-8"},
                "Html": {"Data": email.html, "Charset": "UTF-8"},
            },
        }
    }


def send(email: Email, *, ses: Any = None) -> str:
    """Send ``email``; SES's MessageId. :class:`SendFailed` says whether to retry."""
    from botocore.exceptions import BotoCoreError, ClientError

    settings = get_settings()
    if not settings.email_from:
        raise SendFailed("EMAIL_FROM is not configured", permanent=False)
    request: dict[str, Any] = {
        "FromEmailAddress": settings.email_from,
        "Destination": {"ToAddresses": [email.to]},
        "Content": _content(email),
        # Tags ride on SES's bounce and complaint events: which row, which kind.
        "EmailTags": [
            {"Name": "outbox_id", "Value": email.outbox_id},
            {"Name": "kind", "Value": email.kind},
        ],
    }
    if settings.ses_configuration_set:
        request["ConfigurationSetName"] = settings.ses_configuration_set
    try:
        response = (ses or aws.client("sesv2")).send_email(**request)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code") or "ClientError")
        raise SendFailed(code, permanent=code in PERMANENT) from exc
    except BotoCoreError as exc:  # connection refused, timeouts: SES is unreachable
        raise SendFailed(type(exc).__name__, permanent=False) from exc
    return str(response.get("MessageId", ""))
