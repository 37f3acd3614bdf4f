from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr

from nexus.auth import policy
from nexus.models.common import ApiModel, Email, Name, OutModel, Password, Text


def _policy(value: SecretStr) -> SecretStr:
    policy.check(value.get_secret_value())
    return value


class RegisterIn(ApiModel):
    email: Email
    # Length is checked by the password policy, in characters, after normalisation.
    password: Annotated[Password, AfterValidator(_policy)]
    name: Name | None = None


class LoginIn(ApiModel):
    email: Text = Field(max_length=320)
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
class LoginState:
    user: UserRow | None
    recent_failures: int
    oldest_failure_at: datetime | None
    now: datetime
