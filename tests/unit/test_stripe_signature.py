"""nexus.payments.signature: Stripe's ``Stripe-Signature`` header, signed and checked on raw
bytes; every refusal is a 401 (never a TypeError or a 500), whatever the header holds."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

import pytest

from nexus.errors import Unauthorized
from nexus.payments import signature
from nexus.payments.signature import sign, verify
from nexus_local.fake_stripe import stripe_signature

SECRET = "whsec_test_0123456789abcdef"
BODY = b'{\n  "id": "evt_1",\n  "type": "checkout.session.completed"\n}'
T = 1_790_000_000


def _v1(body: bytes = BODY, timestamp: int = T, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _accepted(header: str, body: bytes = BODY, *, now: int | None = T) -> bool:
    try:
        verify(header, body, SECRET, now=now)
    except Unauthorized:
        return False
    return True


def _refused(header: str | None, body: bytes = BODY, *, now: int = T) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        verify(header, body, SECRET, now=now)
    assert caught.value.status == 401
    return caught.value


def test_sign_is_t_and_v1_hmac_sha256_over_timestamp_dot_body() -> None:
    header = sign(SECRET, BODY, T)
    assert header == f"t={T},v1={_v1()}"
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    # ... byte for byte what the sandbox (checked against stripe-python) sends
    assert header == stripe_signature(SECRET, BODY, T)
    assert _accepted(header)


def test_sign_defaults_to_now_and_verifies_against_the_clock() -> None:
    assert _accepted(sign(SECRET, BODY), now=None)
    assert not _accepted(sign(SECRET, BODY, int(time.time()) - 400), now=None)


@pytest.mark.parametrize(
    "header",
    [
        f"t={T},v1={'0' * 64},v1={_v1()}",
        f"t={T},v1={_v1()},v1={'0' * 64}",
        f"v1={_v1()},t={T}",
        f" t={T} , v1={_v1()} ",
        f"t={T},v0={'0' * 64},v1={_v1()},scheme=other",
    ],
    ids=["good-second", "good-first", "t-last", "spaces", "other-schemes-beside"],
)
def test_any_v1_that_matches_is_enough(header: str) -> None:
    assert _accepted(header)
    assert not _accepted(header, BODY + b" ")


def test_several_v1_none_matching_is_refused() -> None:
    error = _refused(f"t={T},v1={'0' * 64},v1={_v1(secret='whsec_old')}")
    assert error.detail == "The signature does not match."


def test_a_v0_signature_is_ignored_even_when_it_would_match() -> None:
    error = _refused(f"t={T},v0={_v1()}")
    assert error.detail == "The signature does not match."


@pytest.mark.parametrize("skew", [0, 1, 299, 300, -1, -300])
def test_within_300_seconds_either_way_is_accepted(skew: int) -> None:
    # now - t = skew: a positive skew is an old signature, a negative one from the future
    assert _accepted(sign(SECRET, BODY, T), now=T + skew)


@pytest.mark.parametrize("skew", [301, -301, 86_400, -86_400, T])
def test_beyond_300_seconds_either_way_is_refused(skew: int) -> None:
    error = _refused(sign(SECRET, BODY, T), now=T + skew)
    assert error.detail == "The signature is too old."
    assert signature.TOLERANCE_SECONDS == 300


@pytest.mark.parametrize(
    "header",
    [None, ""],
    ids=["absent", "empty"],
)
def test_no_header_is_refused(header: str | None) -> None:
    assert _refused(header).detail == "Missing Stripe-Signature header."


@pytest.mark.parametrize(
    "stamp",
    [
        None,  # no t at all
        "",
        "abc",
        "-5",
        "+5",
        "1.5",
        "1e9",
        " ",
        "0x6a",
        "\uff11\uff17\uff19" + "\uff10" * 7,  # fullwidth: isdigit() says yes, int() parses
        "\u0661\u0667\u0669" + "\u0660" * 7,  # Arabic-Indic digits
        "1" * 13,  # longer than any Unix time in seconds
        "9" * 5000,  # past int()'s digit limit: refused before any conversion
    ],
)
def test_a_malformed_timestamp_is_refused(stamp: str | None) -> None:
    header = f"v1={_v1()}" if stamp is None else f"t={stamp},v1={_v1()}"
    assert _refused(header).detail == "Malformed Stripe-Signature header."


def test_only_the_first_t_counts() -> None:
    assert _accepted(f"t={T},t=0,v1={_v1()}")
    assert _refused(f"t=x,t={T},v1={_v1()}").detail == "Malformed Stripe-Signature header."


@pytest.mark.parametrize(
    "v1",
    [
        "é" * 64,
        _v1()[:-1] + "é",
        "签名",
        "\udcff" * 64,  # a lone surrogate (a header decoded with surrogateescape)
        "\x00" * 64,
        "",
        _v1().upper(),
        _v1()[:-1],
        _v1() + "0",
    ],
    ids=[
        "non-ascii",
        "one-non-ascii",
        "cjk",
        "surrogate",
        "nul",
        "empty",
        "upper-hex",
        "short",
        "long",
    ],
)
def test_a_v1_that_is_not_the_digest_is_401_not_an_error(v1: str) -> None:
    error = _refused(f"t={T},v1={v1}")
    assert error.detail == "The signature does not match."


def test_a_header_that_is_no_key_value_list_is_refused() -> None:
    for header in ("garbage", ",,,", "t", "v1", "=", f"{T},{_v1()}"):
        assert _refused(header).detail == "Malformed Stripe-Signature header."


@pytest.mark.parametrize(
    "body",
    [
        BODY.replace(b"evt_1", b"evt_2"),
        BODY + b"\n",
        BODY[:-1],
        b" " + BODY,
        BODY.replace(b"\n  ", b""),  # the same JSON re-serialised compactly
        b"",
    ],
    ids=["changed", "appended", "truncated", "prefixed", "reserialised", "empty"],
)
def test_a_tampered_body_is_refused(body: bytes) -> None:
    assert _refused(sign(SECRET, BODY, T), body).detail == "The signature does not match."


def test_another_secret_or_another_timestamp_is_refused() -> None:
    assert _refused(sign("whsec_other", BODY, T)).detail == "The signature does not match."
    # A valid v1 moved to another t: the timestamp is signed too
    assert _refused(f"t={T + 1},v1={_v1()}").detail == "The signature does not match."
