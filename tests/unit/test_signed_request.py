"""nexus.meta.signed_request: Meta's signed_request, checked before anything in it is used;
every refusal of the signed_request is a 401 and of the form a 400, never another error,
whatever the input holds."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus.errors import BadRequest, Unauthorized
from nexus.meta.signed_request import SignedRequest, from_form, parse, sign

SECRET = "meta-app-secret-0123456789abcdef"
PAYLOAD = {"algorithm": "HMAC-SHA256", "issued_at": 1_790_000_000, "user_id": "5050"}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def meta_signed(
    payload: Any = None, *, secret: str = SECRET, raw: bytes | None = None, pad: bool = False
) -> str:
    """A signed_request made as Meta documents it (independently of the module's sign):
    the HMAC covers the encoded payload string."""
    data = raw if raw is not None else json.dumps(PAYLOAD if payload is None else payload).encode()
    encoded = base64.urlsafe_b64encode(data).decode() if pad else b64url(data)
    mac = hmac.new(secret.encode(), encoded.encode(), hashlib.sha256).digest()
    return f"{b64url(mac)}.{encoded}"


def refused(value: str, secret: str = SECRET) -> str:
    with pytest.raises(Unauthorized) as caught:
        parse(value, secret)
    assert caught.value.status == 401
    return caught.value.detail


# ------------------------------------------------------------------------------ accepted
def test_a_good_request_names_its_user_and_issue_time() -> None:
    assert parse(meta_signed(), SECRET) == SignedRequest(user_id="5050", issued_at=1_790_000_000)


def test_sign_makes_what_parse_accepts_and_meta_would_make() -> None:
    made = sign(SECRET, PAYLOAD)
    assert parse(made, SECRET).user_id == "5050"
    assert "=" not in made
    signature, payload = made.split(".")
    expected = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).digest()
    assert signature == b64url(expected)


def test_other_fields_are_ignored_and_issued_at_is_optional() -> None:
    payload = {"algorithm": "HMAC-SHA256", "user_id": "77", "expires": 0, "user": {"x": 1}}
    assert parse(meta_signed(payload), SECRET) == SignedRequest(user_id="77", issued_at=None)


def test_an_old_issued_at_is_not_refused() -> None:
    # Not bounded (see nexus.meta.compliance): a late genuine request still deletes.
    old = {**PAYLOAD, "issued_at": 1_000_000_000}
    assert parse(meta_signed(old), SECRET).issued_at == 1_000_000_000


def test_correct_padding_on_the_signature_is_tolerated() -> None:
    signature, payload = meta_signed().split(".")
    assert len(signature) == 43  # 32 bytes: one "=" short of a multiple of 4
    assert parse(f"{signature}=.{payload}", SECRET).user_id == "5050"


def test_a_padded_payload_verifies_only_as_it_was_signed() -> None:
    raw = json.dumps({**PAYLOAD, "user_id": "50501"}).encode()
    assert len(b64url(raw)) % 4  # this payload does need padding
    padded = meta_signed(raw=raw, pad=True)
    assert parse(padded, SECRET).user_id == "50501"
    # The same signature with the padding taken off covers a different string.
    signature, payload = padded.split(".")
    refused(f"{signature}.{payload.rstrip('=')}")


def _urlsafe_payload() -> dict[str, Any]:
    """A payload whose base64url has both "-" and "_" (standard base64's "+" and "/")."""
    for n in range(10_000):
        candidate = {**PAYLOAD, "nonce": f"~?>{n}~~?"}
        encoded = b64url(json.dumps(candidate).encode())
        if "-" in encoded and "_" in encoded:
            return candidate
    raise AssertionError("no such payload")  # pragma: no cover


def test_the_urlsafe_alphabet_is_read_and_the_standard_one_refused() -> None:
    made = meta_signed(_urlsafe_payload())
    assert parse(made, SECRET).user_id == "5050"
    _, payload = made.split(".")
    standard = payload.replace("-", "+").replace("_", "/")
    mac = hmac.new(SECRET.encode(), standard.encode(), hashlib.sha256).digest()
    # Even signed over exactly those characters, standard base64 is not a signed_request.
    assert refused(f"{b64url(mac)}.{standard}") == "The signed_request is malformed."


# ------------------------------------------------------------------------------ refused
def test_a_tampered_payload_is_refused() -> None:
    signature, _ = meta_signed().split(".")
    forged = b64url(json.dumps({**PAYLOAD, "user_id": "6060"}).encode())
    assert "signature" in refused(f"{signature}.{forged}")


def test_a_request_signed_with_another_secret_is_refused() -> None:
    assert "signature" in refused(meta_signed(secret="another-apps-secret"))
    assert "signature" in refused(meta_signed(), secret="another-apps-secret")


def test_the_signature_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the module calls hmac.compare_digest
    parse(meta_signed(), SECRET)
    assert len(seen) == 1
    assert len(seen[0][0]) == 32


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".",
        "nodot",
        "abc.",
        ".eyJ9",
        "a.b.c",  # three parts
        "sig with space.eyJ9",
        "abcd+/==.eyJ9",  # standard alphabet
        "abcde.eyJ9",  # a length base64 cannot have
        "ab===.eyJ9",  # too much padding
        "abc==.eyJ9",  # wrong padding
        "=abc.eyJ9",
        "abcd.ey J9",
        "abcd.eyJ9\n",
        "é.eyJ9",
        "abcd.e\x00",
        "x" * 9000 + ".eyJ9",
    ],
)
def test_malformed_base64_is_refused(value: str) -> None:
    refused(value)


def test_a_payload_that_is_not_a_json_object_is_refused_even_when_signed() -> None:
    for raw in (b"not json", b"[1, 2]", b'"user_id"', b"\xff\xfe", b"{" * 100_000, b""):
        assert refused(meta_signed(raw=raw)) == "The signed_request is malformed."


@pytest.mark.parametrize("algorithm", ["HMAC-SHA1", "hmac-sha256", "none", "", None, 256])
def test_another_algorithm_is_refused(algorithm: Any) -> None:
    assert "algorithm" in refused(meta_signed({**PAYLOAD, "algorithm": algorithm}))


def test_no_algorithm_is_refused() -> None:
    payload = {k: v for k, v in PAYLOAD.items() if k != "algorithm"}
    assert "algorithm" in refused(meta_signed(payload))


@pytest.mark.parametrize("user_id", [None, "", 5050, ["5050"], "x" * 65, "50\x0050", "50 50"])
def test_a_missing_or_unusable_user_id_is_refused(user_id: Any) -> None:
    payload = {**PAYLOAD, "user_id": user_id}
    assert refused(meta_signed(payload)) == "The signed_request names no user."
    without = {k: v for k, v in PAYLOAD.items() if k != "user_id"}
    assert refused(meta_signed(without)) == "The signed_request names no user."


@pytest.mark.parametrize("issued_at", ["1790000000", 1.5, True, [1]])
def test_an_issued_at_that_is_not_an_integer_is_refused(issued_at: Any) -> None:
    refused(meta_signed({**PAYLOAD, "issued_at": issued_at}))


@given(st.text(max_size=300))
def test_any_text_is_parsed_or_refused_with_401(value: str) -> None:
    with contextlib.suppress(Unauthorized):
        parse(value, SECRET)


# ------------------------------------------------------------------------------ the form
def test_the_form_field_is_read_percent_decoded() -> None:
    made = meta_signed()
    assert from_form(f"signed_request={made}".encode()) == made
    assert from_form(b"signed_request=a%2Eb&other=1") == "a.b"
    assert from_form(b"signed_request=") == ""  # then refused as malformed (401)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"other=1",
        b"signed_request=a&signed_request=b",
        b"garbage",
        b"signed_request=a&",
        b"signed_request=%ff",
        b"\xff=1",
        b"&".join(b"f%d=1" % n for n in range(20)) + b"&signed_request=a",
        b'{"signed_request": "a.b"}',
    ],
)
def test_a_body_without_exactly_one_signed_request_is_400(body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        from_form(body)
    assert caught.value.status == 400


@given(st.binary(max_size=300))
def test_any_body_is_a_form_or_400(body: bytes) -> None:
    with contextlib.suppress(BadRequest):
        from_form(body)
