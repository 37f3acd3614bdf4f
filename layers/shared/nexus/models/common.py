"""Field types shared by API models. Models do no I/O."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    SecretStr,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from nexus import strict_json
from nexus.errors import BadRequest, ValidationFailed
from nexus.models.currency import ISO_4217

# The OpenAPI document states each rule as a JSON Schema pattern, so it describes exactly what
# the validators below accept (a test checks both agree). Whitespace that a field trims is
# allowed around the value; the length bound applies to what is left.
NO_NUL = r"^[^\x00]*$"
# What pydantic's strip_whitespace trims (Unicode White_Space), spelled out: Python's and
# ECMAScript's \s each differ from it (\x1c-\x1f, \ufeff).
WHITESPACE = (
    "".join(map(chr, [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B)]))
    + "\u2028\u2029\u202f\u205f\u3000"
)
_WS = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


# Pragmatic address check: one @, no spaces or control characters, a dotted domain.
_NOT_IN_ADDRESS = rf"@{_WS}\x00-\x1f"
_ADDRESS = rf"[^{_NOT_IN_ADDRESS}]{{1,64}}@[^{_NOT_IN_ADDRESS}.]+(\.[^{_NOT_IN_ADDRESS}.]+)+"
_EMAIL_RE = re.compile(f"^{_ADDRESS}$")


def trimmed(min_length: int, max_length: int) -> str:
    """The pattern of a field trimmed of surrounding whitespace, then min..max long."""
    if min_length == 0:
        return rf"^[{_WS}]*[^\x00]{{0,{max_length}}}[{_WS}]*$"
    return rf"^[{_WS}]*[^{_WS}\x00][^\x00]{{0,{max_length - 1}}}[{_WS}]*$"


def text_schema(**constraints: Any) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", **constraints})


def plain_text(value: str) -> str:
    """Text that can be stored and hashed: PostgreSQL text cannot hold NUL, and a lone
    surrogate (valid as a JSON escape, "\\ud800") cannot be encoded as UTF-8. Refused here
    as invalid input rather than failing later in SQL or in the password hash."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from exc
    return value


def _secret_plain_text(value: SecretStr) -> SecretStr:
    plain_text(value.get_secret_value())
    return value


def _email(value: str) -> str:
    value = plain_text(value).strip(WHITESPACE)
    if len(value) > 254 or not _EMAIL_RE.fullmatch(value):
        raise ValueError("is not a valid e-mail address")
    return value


Text = Annotated[str, AfterValidator(plain_text), text_schema(pattern=NO_NUL)]


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise PydanticCustomError("control", "must not contain control characters")
    return value


_CONTROL = re.compile("[\x00-\x1f\x7f]")
# A query parameter's text (contract §6: NUL or control characters are a 422).
QueryText = Annotated[
    str,
    AfterValidator(plain_text),
    AfterValidator(_no_control),
    text_schema(pattern=r"^[^\x00-\x1f\x7f]*$"),
]
LoginEmail = Annotated[
    str,
    StringConstraints(max_length=320),
    AfterValidator(plain_text),
    text_schema(maxLength=320, pattern=NO_NUL),
]
# 254 characters once trimmed (RFC 5321's path limit) is the one rule of these a pattern
# cannot state without a lookahead; the schemathesis run names it (tests/e2e/schema_hooks.py).
Email = Annotated[
    str,
    StringConstraints(max_length=320),
    AfterValidator(_email),
    text_schema(maxLength=320, pattern=rf"^[{_WS}]*{_ADDRESS}[{_WS}]*$"),
]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=200),
    AfterValidator(plain_text),
    text_schema(pattern=trimmed(0, 200)),
]
# Required names: not blank once trimmed.
RequiredName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(plain_text),
    text_schema(pattern=trimmed(1, 200)),
]


# defer_build: a model's validator and serializer are built when it is first used, not when
# its module is imported. A function imports every model of its routes but one invocation
# uses a few, so the cold start no longer pays for the rest (CheckoutFunction: about 60 ms;
# make bench ARGS=coldstart).
class ApiModel(BaseModel):
    """Request bodies: unknown fields are refused, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class OutModel(BaseModel):
    """Responses: built from repository rows (dataclasses) by attribute."""

    model_config = ConfigDict(frozen=True, from_attributes=True, defer_build=True)


def _currency(value: str) -> str:
    code = value.upper()
    if code not in ISO_4217:
        raise ValueError("is not an ISO 4217 currency code")
    return code


def _any_case(code: str) -> str:
    return "".join(f"[{c}{c.lower()}]" for c in code)


# An active ISO 4217 code in any case, stored upper case. JSON Schema has no case-insensitive
# enum: the pattern spells each code's letters in both cases.
Currency = Annotated[
    str,
    StringConstraints(max_length=3),
    AfterValidator(_currency),
    text_schema(pattern=f"^(?:{'|'.join(_any_case(c) for c in sorted(ISO_4217))})$"),
]


# Secrets: shown as '**********' in any repr or log line (Powertools logs a route's
# arguments at DEBUG); read with get_secret_value().
Password = Annotated[
    SecretStr,
    Field(max_length=1024),
    AfterValidator(_secret_plain_text),
    text_schema(format="password", maxLength=1024, pattern=NO_NUL),
]
AccessToken = Annotated[
    SecretStr,
    Field(min_length=1, max_length=4096),
    AfterValidator(_secret_plain_text),
    text_schema(format="password", minLength=1, maxLength=4096, pattern=NO_NUL),
]
# An opaque token this API issued (refresh token, e-mail link): 43 URL-safe characters.
OpaqueToken = Annotated[
    SecretStr,
    Field(min_length=1, max_length=256),
    AfterValidator(_secret_plain_text),
    text_schema(minLength=1, maxLength=256, pattern=NO_NUL),
]


def not_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("not_null", "may not be null")
    return value


class _NotNull:
    """For PATCH fields that may be left out but not set to null (``Annotated[T | None,
    NOT_NULL] = None``: the None is "not given"): null is refused, and the schema drops the
    null the ``| None`` would otherwise document."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_before_validator_function(not_null, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> Any:
        documented = handler(schema)
        variants = [v for v in documented.get("anyOf", []) if v != {"type": "null"}]
        if len(variants) != 1:
            return documented
        return {**{k: v for k, v in documented.items() if k != "anyOf"}, **variants[0]}


NOT_NULL = _NotNull()


def field_error(field: str, message: str, value: Any, *, title: str) -> ValidationError:
    """A validation error located at ``field``, for rules that involve several fields (a
    model validator alone can only point at the whole model)."""
    return ValidationError.from_exception_data(
        title,
        [InitErrorDetails(type=PydanticCustomError("invalid", message), loc=(field,), input=value)],
    )


def parse[M: BaseModel](
    model: type[M], data: Any, *, loc: tuple[str, ...], detail: str = "The request is not valid."
) -> M:
    """Validate what the framework could not validate for us (a raw body read for its
    signature, query parameters checked together); errors become a 400/422 problem."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("The request body is not UTF-8 JSON.") from None
    if isinstance(data, str):
        data = strict_json.loads(data)  # the one JSON loader, limits included
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc.errors(), prefix=loc, detail=detail) from exc
