"""The request-body JSON loader: what JSON cannot hold sensibly is a 400 or a 422 with loc."""

from __future__ import annotations

import pytest

from nexus import strict_json
from nexus.errors import BadRequest, ValidationFailed


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("[" * 100_000, "nests deeper than 32"),
        ('{"a":' * 10_000 + "1" + "}" * 10_000, "nests deeper than 32"),
        ("[" * 33 + "]" * 33, "nests deeper than 32"),
        ('{"a": {"b": [' * 11 + "]}}" * 11, "nests deeper than 32"),
        ("[NaN]", "NaN is not a JSON number"),
        ('{"price": Infinity}', "Infinity is not a JSON number"),
        ('{"price": -Infinity}', "-Infinity is not a JSON number"),
        ('{"name": "a", "name": "b"}', "the key 'name' twice"),
        ('{"x": {"k": 1, "k": 1}}', "the key 'k' twice"),
        ("{", "not valid JSON"),
        ("", "not valid JSON"),
        ("\x00", "not valid JSON"),
    ],
)
def test_bodies_json_cannot_hold_sensibly_are_400(text: str, detail: str) -> None:
    with pytest.raises(BadRequest) as refused:
        strict_json.loads(text)
    assert detail in refused.value.detail


@pytest.mark.parametrize(
    ("text", "loc"),
    [
        ('{"price": 9223372036854775808}', ["body", "price"]),
        ('{"price": -9223372036854775809}', ["body", "price"]),
        ('{"items": [1, ' + "9" * 5000 + "]}", ["body", "items", 1]),
        ('{"price": 1e400}', ["body", "price"]),
        ('{"name": "\\ud800"}', ["body", "name"]),
        ('{"a": ["ok", "x\\udfffy"]}', ["body", "a", 1]),
    ],
)
def test_numbers_beyond_64_bits_and_lone_surrogates_are_422_with_loc(
    text: str, loc: list[object]
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        strict_json.loads(text)
    assert refused.value.errors is not None
    assert [e["loc"] for e in refused.value.errors] == [loc]


def test_a_key_with_a_lone_surrogate_is_422_at_its_object() -> None:
    with pytest.raises(ValidationFailed) as refused:
        strict_json.loads('{"o": {"\\udc00": 1}}')
    assert refused.value.errors == [
        {"loc": ["body", "o"], "msg": "has a key with a lone surrogate"}
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[" * 32 + "]" * 32, None),
        ('{"price": 9223372036854775807, "low": -9223372036854775808}', None),
        ('{"name": "caf\\u00e9 \\ud83d\\ude00", "n": 1.5}', {"name": "café 😀", "n": 1.5}),
        ('{"a": 1, "b": {"a": 2}}', {"a": 1, "b": {"a": 2}}),
    ],
)
def test_ordinary_documents_load_as_the_standard_parser_reads_them(
    text: str, value: object
) -> None:
    import json

    assert strict_json.loads(text) == json.loads(text)
    if value is not None:
        assert strict_json.loads(text) == value


@pytest.mark.parametrize("text", ["[]", '[{"name": "a"}]', "null", '"text"', "1", "true"])
def test_a_request_body_must_be_an_object(text: str) -> None:
    """Powertools validates a list body's first item against the route's model; the API's
    bodies are objects, so anything else is a 422 at the body itself."""
    with pytest.raises(ValidationFailed) as refused:
        strict_json.loads_object(text)
    assert refused.value.errors == [{"loc": ["body"], "msg": "must be a JSON object"}]
    assert strict_json.loads_object('{"a": [1]}') == {"a": [1]}
