"""Registration, login and the current user."""

from __future__ import annotations

import math

from nexus.auth import passwords, tokens
from nexus.auth.models import LoginIn, RegisterIn, RegisterOut, TokenOut, UserOut, UserRow
from nexus.auth.repository import AuthRepository, EmailTaken
from nexus.errors import Conflict, TooManyRequests, Unauthorized, found
from nexus.observability import logger
from nexus.settings import get_settings

_BAD_CREDENTIALS = "The e-mail address or password is incorrect."
REPOSITORY = AuthRepository()


def _email_key(email: str) -> str:
    return email.strip().lower()


def _user_out(user: UserRow) -> UserOut:
    return UserOut.model_validate(user)


def register(body: RegisterIn, *, repo: AuthRepository = REPOSITORY) -> RegisterOut:
    # bcrypt runs before the statement: no lock or connection held for 250 ms.
    password_hash = passwords.hash_password(body.password.get_secret_value())
    try:
        user = repo.create_user_with_organization(
            email=body.email, name=body.name, password_hash=password_hash
        )
    except EmailTaken as exc:
        raise Conflict("An account with this e-mail address already exists.") from exc
    token, ttl = tokens.issue(user.id, user.organization_id)
    logger.info("user registered", extra={"user_id": user.id})
    return RegisterOut(user=_user_out(user), access_token=token, expires_in=ttl)


def login(body: LoginIn, *, repo: AuthRepository = REPOSITORY) -> TokenOut:
    settings = get_settings()
    key = _email_key(body.email)
    state = repo.login_state(email_key=key, window_seconds=settings.login_window_seconds)
    if state.recent_failures >= settings.login_max_failures and state.oldest_failure_at:
        elapsed = (state.now - state.oldest_failure_at).total_seconds()
        retry_after = max(1, math.ceil(settings.login_window_seconds - elapsed))
        raise TooManyRequests(
            "Too many failed logins for this address; try again later.", retry_after=retry_after
        )
    password = body.password.get_secret_value()
    if state.user is None:
        passwords.burn_verify(password)  # same work, so timing does not reveal the answer
        ok = False
    else:
        ok = passwords.verify_password(password, state.user.password_hash)
    repo.record_login(email_key=key, succeeded=ok)
    if not ok or state.user is None:
        logger.info("login failed")
        raise Unauthorized(_BAD_CREDENTIALS)
    token, ttl = tokens.issue(state.user.id, state.user.organization_id)
    return TokenOut(access_token=token, expires_in=ttl)


def me(user_id: str, *, repo: AuthRepository = REPOSITORY) -> UserOut:
    user = found(repo.get_user(user_id), "The user no longer exists.")
    return _user_out(user)
