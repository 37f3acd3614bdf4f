"""What the local SES sent, as LocalStack shows it (contract §7): the local AWS endpoint's
``GET /_aws/ses`` answers ``{"messages": [{"Id", "Region", "Source", "Destination":
{"ToAddresses": [...]}, "Subject", "Body": {"text_part", "html_part"}, "Timestamp"}]}``
(``?email=`` keeps one sender's, ``?id=`` one message); ``DELETE /_aws/ses`` forgets them.

moto's SES v2 keeps only the HTML part when an email has both, so this WSGI wrapper in
front of moto's application records each ``SendEmail`` request itself (the JSON body of
``POST /v2/email/outbound-emails``) with the MessageId moto answered; moto still decides
(an unverified sender is refused, and then nothing is recorded).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

PATH = "/_aws/ses"
SEND_PATH = "/v2/email/outbound-emails"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _message(request: dict[str, Any], message_id: str, region: str) -> dict[str, Any]:
    simple = (request.get("Content") or {}).get("Simple") or {}
    body = simple.get("Body") or {}
    destination = request.get("Destination") or {}
    return {
        "Id": message_id,
        "Region": region,
        "Source": request.get("FromEmailAddress"),
        "Destination": {
            k: destination[k]
            for k in ("ToAddresses", "CcAddresses", "BccAddresses")
            if destination.get(k)
        },
        "Subject": (simple.get("Subject") or {}).get("Data"),
        "Body": {
            "text_part": (body.get("Text") or {}).get("Data"),
            "html_part": (body.get("Html") or {}).get("Data"),
        },
        "Timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


class SesListing:
    """A WSGI application: ``/_aws/ses`` itself, everything else to ``app`` (moto)."""

    def __init__(self, app: WsgiApp, region: str = "us-east-1") -> None:
        self.app = app
        self.region = region
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "").rstrip("/")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == PATH:
            return self._listing(method, parse_qs(environ.get("QUERY_STRING", "")), start_response)
        if method == "POST" and path == SEND_PATH:
            return self._send(environ, start_response)
        return self.app(environ, start_response)

    def _listing(
        self, method: str, query: dict[str, list[str]], start_response: Callable[..., Any]
    ) -> list[bytes]:
        wanted_id = query["id"][0] if query.get("id") else None
        sender = query["email"][0] if query.get("email") else None
        with self._lock:
            if method == "DELETE":
                self.messages = [m for m in self.messages if wanted_id not in (None, m["Id"])]
                start_response("204 No Content", [])
                return []
            found = [
                m
                for m in self.messages
                if wanted_id in (None, m["Id"]) and sender in (None, m["Source"])
            ]
        data = json.dumps({"messages": found}).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]

    def _send(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        seen: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            seen["status"] = status
            return start_response(status, headers, *exc)

        chunks = list(self.app(environ, capture))
        if str(seen.get("status", "")).startswith("200"):
            try:
                request = json.loads(raw or b"{}")
                message_id = json.loads(b"".join(chunks))["MessageId"]
            except (ValueError, KeyError):
                return chunks
            with self._lock:
                self.messages.append(_message(request, message_id, self.region))
        return chunks
