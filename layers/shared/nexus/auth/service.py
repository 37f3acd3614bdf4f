"""Registration, login and the current user."""

from __future__ import annotations

import math

from nexus.auth import passwords, tokens
from nexus.auth.models import (
    LoginIn,
    LoginState,
    RegisterIn,
    RegisterOut,
    TokenOut,
    UserOut,
    UserRow,
)
from nexus.auth.repository import AuthRepository, EmailTaken
from nexus.errors import Conflict, TooManyRequests, Unauthorized, found
from nexus.observability import logger
from nexus.settings import Settings, get_settings

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


def _throttled(state: LoginState, settings: Settings) -> TooManyRequests | None:
    """429 when this attempt is over the address's or the client's limit, with the time
    until that window ends (the longer one when both are over)."""
    window = settings.login_window_seconds
    over = [
        (counter, message)
        for counter, limit, message in (
            (state.account, settings.login_max_failures, "for this address"),
            (state.client, settings.login_ip_limit, "from this client"),
        )
        if counter.attempts > limit
    ]
    if not over:
        return None
    waits = [window - (state.now - c.window_start).total_seconds() for c, _ in over]
    return TooManyRequests(
        f"Too many failed logins {over[0][1]}; try again later.",
        retry_after=max(1, math.ceil(max(waits))),
    )


def login(body: LoginIn, client_ip: str, *, repo: AuthRepository = REPOSITORY) -> TokenOut:
    """Counted before any password work (so at most LOGIN_MAX_FAILURES attempts per address
    and LOGIN_IP_LIMIT per client are checked in a window, however many arrive at once)."""
    settings = get_settings()
    key = _email_key(body.email)
    state = repo.count_login(
        email_key=key, client_ip=client_ip, window_seconds=settings.login_window_seconds
    )
    refused = _throttled(state, settings)
    if refused is not None:
        logger.info("login throttled")
        raise refused
    password = body.password.get_secret_value()
    if state.user is None:
        passwords.burn_verify(password)  # same work, so timing does not reveal the answer
        ok = False
    else:
        ok = passwords.verify_password(password, state.user.password_hash)
    if not ok or state.user is None:
        logger.info("login failed")
        raise Unauthorized(_BAD_CREDENTIALS)
    repo.login_succeeded(email_key=key, client_ip=client_ip)
    token, ttl = tokens.issue(state.user.id, state.user.organization_id)
    return TokenOut(access_token=token, expires_in=ttl)


def me(user_id: str, *, repo: AuthRepository = REPOSITORY) -> UserOut:
    user = found(repo.get_user(user_id), "The user no longer exists.")
    return _user_out(user)
