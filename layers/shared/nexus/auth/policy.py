"""The password policy (no I/O, no bcrypt): 8 to 128 characters after NFC normalisation, not
among the most common passwords. Applied by the request models."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from pydantic_core import PydanticCustomError

MIN_LENGTH = 8
MAX_LENGTH = 128


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    # The 30,000 most common passwords as shipped by the zxcvbn package; loaded on first use
    # (it is a large module) so login and /auth/me never pay for it.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    raw = FREQUENCY_LISTS["passwords"]
    words = raw.split(",") if isinstance(raw, str) else list(raw)
    return frozenset(w for w in words if len(w) >= MIN_LENGTH)


def normalise(password: str) -> str:
    return unicodedata.normalize("NFC", password)


def check(password: str) -> None:
    pw = normalise(password)
    if len(pw) < MIN_LENGTH or len(pw) > MAX_LENGTH:
        raise PydanticCustomError("password_length", "must be 8 to 128 characters long")
    if pw.lower() in common_passwords():
        raise PydanticCustomError("password_common", "is one of the most common passwords")
