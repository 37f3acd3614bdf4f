"""Field types shared by API models. Models do no I/O."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from nexus import strict_json
from nexus.errors import BadRequest, ValidationFailed

# Pragmatic address check: one @, no spaces or control characters, a dotted domain.
_EMAIL_RE = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f.]+(\.[^@\s\x00-\x1f.]+)+$")


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
    value = plain_text(value).strip()
    if len(value) > 254 or not _EMAIL_RE.fullmatch(value):
        raise ValueError("is not a valid e-mail address")
    return value


Text = Annotated[str, AfterValidator(plain_text)]
Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email)]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(plain_text)
]
# Required names: not blank once trimmed.
RequiredName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(plain_text),
]


class ApiModel(BaseModel):
    """Request bodies: unknown fields are refused, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class OutModel(BaseModel):
    """Responses: built from repository rows (dataclasses) by attribute."""

    model_config = ConfigDict(frozen=True, from_attributes=True)


def _currency(value: str) -> str:
    from nexus.models.currency import ISO_4217

    code = value.strip().upper()
    if code not in ISO_4217:
        raise ValueError("is not an ISO 4217 currency code")
    return code


Currency = Annotated[str, StringConstraints(max_length=3), AfterValidator(_currency)]


# Secrets: shown as '**********' in any repr or log line (Powertools logs a route's
# arguments at DEBUG); read with get_secret_value().
Password = Annotated[SecretStr, Field(max_length=1024), AfterValidator(_secret_plain_text)]
AccessToken = Annotated[
    SecretStr, Field(min_length=1, max_length=4096), AfterValidator(_secret_plain_text)
]


def not_null(value: Any) -> Any:
    """For PATCH fields that may be left out but not set to null."""
    if value is None:
        raise PydanticCustomError("not_null", "may not be null")
    return value


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
