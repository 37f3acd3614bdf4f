from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, SecretStr

from nexus.auth import policy
from nexus.models.common import (
    NO_NUL,
    ApiModel,
    Email,
    LoginEmail,
    Name,
    OutModel,
    Password,
    text_schema,
)


def _policy(value: SecretStr) -> SecretStr:
    policy.check(value.get_secret_value())
    return value


class RegisterIn(ApiModel):
    email: Email
    # Length is checked by the password policy, in characters, after NFC normalisation (the
    # schema's bounds count them before; the common-password list has no schema either).
    password: Annotated[
        Password,
        AfterValidator(_policy),
        text_schema(
            format="password",
            minLength=policy.MIN_LENGTH,
            maxLength=policy.MAX_LENGTH,
            pattern=NO_NUL,
        ),
    ]
    name: Name | None = None


class LoginIn(ApiModel):
    email: LoginEmail
    password: Password


class UserOut(OutModel):
    id: str
    email: str
    name: str | None
    organization_id: str
    created_at: datetime


class TokenOut(OutModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int


class RegisterOut(TokenOut):
    user: UserOut


# -- rows ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UserRow:
    id: str
    organization_id: str
    email: str
    name: str | None
    password_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Throttle:
    """One throttle counter: attempts counted in the window that began at ``window_start``."""

    attempts: int
    window_start: datetime


@dataclass(frozen=True, slots=True)
class LoginState:
    """A login attempt, counted: the user (None for an unknown address), the account's and
    the client IP's counters including this attempt, and the database's clock."""

    user: UserRow | None
    account: Throttle
    client: Throttle
    now: datetime
