from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from nexus.models.common import ApiModel, Email, Name, OutModel, Password, Text


class RegisterIn(ApiModel):
    email: Email
    # Length is checked by the password policy, in characters, after normalisation.
    password: Password
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
