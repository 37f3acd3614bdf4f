"""The local stack builds payload 2.0 events as API Gateway does, bodies included."""

from __future__ import annotations

import base64

import pytest

from nexus_local.apigw import HttpRequest, build_event


def _event(content_type: str | None, body: bytes) -> dict[str, object]:
    headers = {"content-type": content_type} if content_type else {}
    return build_event(HttpRequest("POST", "/x", "", headers, body), "POST /x")


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "APPLICATION/JSON; charset=UTF-8", "text/plain", "application/ld+json"],
)
def test_text_media_types_arrive_as_text(content_type: str) -> None:
    event = _event(content_type, b'{"a": "\xc3\xa9"}')
    assert event["isBase64Encoded"] is False
    assert event["body"] == '{"a": "é"}'


@pytest.mark.parametrize("content_type", ["application/octet-stream", "image/png", None])
def test_other_media_types_arrive_base64_encoded(content_type: str | None) -> None:
    event = _event(content_type, b"\x00\x01binary")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(str(event["body"])) == b"\x00\x01binary"


def test_a_text_media_type_that_is_not_utf8_is_passed_base64_encoded() -> None:
    event = _event("application/json", b'{"a": "\xff"}')
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(str(event["body"])) == b'{"a": "\xff"}'
