"""The OpenAPI document states each text rule as JSON Schema; these properties check that a
value passes the schema exactly when it passes the field's validators (schemathesis then
checks the same against the running server)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from nexus.integrations.models import ExternalId
from nexus.models.common import (
    Currency,
    Email,
    LoginEmail,
    Name,
    QueryText,
    RequiredName,
    Text,
)
from nexus.products.models import Description

TYPES: dict[str, Any] = {
    "Text": Text,
    "QueryText": QueryText,
    "LoginEmail": LoginEmail,
    "Email": Email,
    "Name": Name,
    "RequiredName": RequiredName,
    "ExternalId": ExternalId,
    "Currency": Currency,
    "Description": Description,
}

# Characters the rules care about: whitespace the fields trim, NUL and control characters,
# the address punctuation, letters in both cases (currency codes), and some beyond ASCII.
ALPHABET = st.sampled_from(list(" \t\n\u00a0\u2003\x00\x01\x1f\x7f@.-_aAbBdDeEuUsSrR0é😀"))


def _schema_accepts(schema: dict[str, Any], value: str) -> bool:
    if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 10**9):
        return False
    # ECMAScript's $ is the end of the string; Python's also matches before a final newline.
    pattern = re.sub(r"\$$", r"\\Z", schema.get("pattern", ""))
    return re.search(pattern, value) is not None


def _validator_accepts(adapter: TypeAdapter[Any], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def _values(name: str) -> st.SearchStrategy[str]:
    if name == "Currency":
        return st.text(ALPHABET, max_size=4) | st.sampled_from(["USD", "usd", "eUr", "XXX", "US"])
    near_bounds = st.integers(0, 12).flatmap(
        lambda pad: st.tuples(
            st.text(st.sampled_from(" \t"), max_size=pad),
            st.sampled_from([0, 1, 63, 64, 65, 199, 200, 201, 254, 255, 256]),
            st.text(st.sampled_from(" \t"), max_size=pad),
        )
    )
    padded = near_bounds.map(lambda t: t[0] + "a" * t[1] + t[2])
    addresses = st.tuples(
        st.text(ALPHABET, min_size=1, max_size=70), st.text(ALPHABET, min_size=1, max_size=20)
    ).map(lambda t: f"{t[0]}@{t[1]}.co")
    return st.text(ALPHABET, max_size=80) | padded | addresses


@pytest.mark.parametrize("name", sorted(TYPES))
def test_the_schema_accepts_exactly_what_the_validators_accept(name: str) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(TYPES[name])
    schema = adapter.json_schema()
    assert schema["type"] == "string"

    @settings(max_examples=100, deadline=None)
    @given(_values(name))
    def agree(value: str) -> None:
        if name == "Email" and len(value.strip()) > 254:
            return  # the one rule a pattern cannot state without a lookahead (see Email)
        assert _schema_accepts(schema, value) == _validator_accepts(adapter, value), repr(value)

    agree()
