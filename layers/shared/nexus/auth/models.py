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
    OpaqueToken,
    OutModel,
    Password,
    text_schema,
)


def _policy(value: SecretStr) -> SecretStr:
    policy.check(value.get_secret_value())
    return value


# A password being set: the policy's length is counted in characters after NFC normalisation
# (the schema's bounds count them before); the common-password list has no schema either.


class RegisterIn(ApiModel):
    email: Email
    password: NewPassword
    name: Name | None = None


NewPassword = Annotated[
    Password,
    AfterValidator(_policy),
    text_schema(
        format="password", minLength=policy.MIN_LENGTH, maxLength=policy.MAX_LENGTH, pattern=NO_NUL
    ),
]


class LoginIn(ApiModel):
    email: LoginEmail
    password: Password


class RefreshIn(ApiModel):
    """The refresh token, or nothing when the request carries the refresh cookie."""

    refresh_token: OpaqueToken | None = None


class EmailTokenIn(ApiModel):
    token: OpaqueToken


class ForgotIn(ApiModel):
    email: Email


class ResetIn(ApiModel):
    token: OpaqueToken
    password: NewPassword


class ChangeIn(ApiModel):
    current_password: Password
    new_password: NewPassword


class Accepted(OutModel):
    """202: the request is taken (what follows, e.g. an e-mail, is not told)."""

    accepted: Literal[True] = True


class UserOut(OutModel):
    id: str
    email: str
    name: str | None
    organization_id: str
    created_at: datetime
    email_verified: bool


class TokenOut(OutModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int
    refresh_token: str


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
    email_verified: bool


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


@dataclass(frozen=True, slots=True)
class Session:
    """A refresh token's session: who, and the family every rotation of it stays in."""

    user_id: str
    organization_id: str
    family_id: str
