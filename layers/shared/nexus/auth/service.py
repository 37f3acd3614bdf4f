"""Accounts: registration, login and sessions (rotating refresh tokens), the current user,
e-mail verification and passwords (forgot, reset, change)."""

from __future__ import annotations

import math
import time

from pydantic import SecretStr

from nexus import outbox
from nexus.auth import opaque, passwords, tokens
from nexus.auth.models import (
    ChangeIn,
    EmailTokenIn,
    ForgotIn,
    LoginIn,
    LoginState,
    RegisterIn,
    RegisterOut,
    ResetIn,
    TokenOut,
    UserOut,
    UserRow,
)
from nexus.auth.repository import AuthRepository, EmailTaken
from nexus.errors import Conflict, TooManyRequests, Unauthorized, ValidationFailed, found
from nexus.identity import Identity
from nexus.observability import logger
from nexus.settings import Settings, get_settings

_BAD_CREDENTIALS = "The e-mail address or password is incorrect."
REPOSITORY = AuthRepository()


def _email_key(email: str) -> str:
    return email.strip().lower()


def _user_out(user: UserRow) -> UserOut:
    return UserOut.model_validate(user)


def _tokens(user: UserRow, *, repo: AuthRepository) -> TokenOut:
    """A new session for ``user``: its first refresh token and an access token bound to it."""
    refresh, digest = opaque.new()
    family = repo.start_session(user_id=user.id, token_hash=digest)
    access, ttl = tokens.issue(user.id, user.organization_id, session_id=family)
    return TokenOut(access_token=access, expires_in=ttl, refresh_token=refresh)


def register(body: RegisterIn, *, repo: AuthRepository = REPOSITORY) -> RegisterOut:
    # bcrypt runs before the statement: no lock or connection held for 250 ms.
    password_hash = passwords.hash_password(body.password.get_secret_value())
    verify_token, _ = opaque.new()
    try:
        user, email = repo.create_user_with_organization(
            email=body.email, name=body.name, password_hash=password_hash, verify_token=verify_token
        )
    except EmailTaken as exc:
        raise Conflict("An account with this e-mail address already exists.") from exc
    outbox.publish([email])
    logger.info("user registered", extra={"user_id": user.id})
    pair = _tokens(user, repo=repo)
    return RegisterOut(user=_user_out(user), **pair.model_dump())


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


def _counted(email: str, client_ip: str, *, repo: AuthRepository) -> LoginState:
    """Count a password attempt for the address and the client, refusing it (429) when over
    either limit: decided before any password work, however many arrive at once."""
    settings = get_settings()
    state = repo.count_login(
        email_key=_email_key(email),
        client_ip=client_ip,
        window_seconds=settings.login_window_seconds,
    )
    refused = _throttled(state, settings)
    if refused is not None:
        logger.info("login throttled")
        raise refused
    return state


def login(body: LoginIn, client_ip: str, *, repo: AuthRepository = REPOSITORY) -> TokenOut:
    """At most LOGIN_MAX_FAILURES attempts per address and LOGIN_IP_LIMIT per client are
    checked in a window."""
    state = _counted(body.email, client_ip, repo=repo)
    password = body.password.get_secret_value()
    if state.user is None:
        passwords.burn_verify(password)  # same work, so timing does not reveal the answer
        ok = False
    else:
        ok = passwords.verify_password(password, state.user.password_hash)
    if not ok or state.user is None:
        logger.info("login failed")
        raise Unauthorized(_BAD_CREDENTIALS)
    repo.login_succeeded(email_key=_email_key(body.email), client_ip=client_ip)
    return _tokens(state.user, repo=repo)


def _check_password(user: UserRow, password: str, client_ip: str, *, repo: AuthRepository) -> None:
    """The login throttle's rules for a password proven outside login (change password)."""
    _counted(user.email, client_ip, repo=repo)
    if not passwords.verify_password(password, user.password_hash):
        raise Unauthorized("The current password is incorrect.")
    repo.login_succeeded(email_key=_email_key(user.email), client_ip=client_ip)


_BAD_REFRESH = "The refresh token is not valid; log in again."


def refresh(token: SecretStr | None, *, repo: AuthRepository = REPOSITORY) -> TokenOut:
    """Spend ``token`` for a new pair in the same session. A token already spent is one
    someone else holds too: its whole session is ended (RFC 9700 §4.14)."""
    if token is None or not token.get_secret_value():
        raise Unauthorized(_BAD_REFRESH)
    digest = opaque.digest(token.get_secret_value())
    following, next_digest = opaque.new()
    session = repo.rotate(token_hash=digest, next_hash=next_digest)
    if session is None:
        if repo.revoke_family_of_spent(token_hash=digest):
            logger.warning("refresh token reused: session revoked")
        raise Unauthorized(_BAD_REFRESH)
    access, ttl = tokens.issue(
        session.user_id, session.organization_id, session_id=session.family_id
    )
    return TokenOut(access_token=access, expires_in=ttl, refresh_token=following)


def logout(token: SecretStr | None, *, repo: AuthRepository = REPOSITORY) -> None:
    """End the session ``token`` belongs to; idempotent, and silent about unknown tokens."""
    if token is not None and token.get_secret_value():
        repo.end_session(token_hash=opaque.digest(token.get_secret_value()))


def logout_all(who: Identity, *, repo: AuthRepository = REPOSITORY) -> None:
    repo.end_sessions(user_id=who.user_id)


BAD_LINK = "The link is not valid: it was used already, has expired, or was never sent."


def _bad_link() -> ValidationFailed:
    return ValidationFailed(BAD_LINK, errors=[{"loc": ["body", "token"], "msg": BAD_LINK}])


def verify_email(body: EmailTokenIn, *, repo: AuthRepository = REPOSITORY) -> UserOut:
    user = repo.verify_email(token_hash=opaque.digest(body.token.get_secret_value()))
    if user is None:
        raise _bad_link()
    return _user_out(user)


def _send_link(email: str, purpose: str, *, repo: AuthRepository) -> None:
    token, _ = opaque.new()
    sent = repo.send_link(
        email_key=_email_key(email),
        purpose=purpose,
        token=token,
        limit=get_settings().link_emails_per_hour,
        window_seconds=3600,
    )
    if sent is not None:
        outbox.publish([sent])


def resend_verification(who: Identity, *, repo: AuthRepository = REPOSITORY) -> None:
    """Another verification e-mail (none once verified, none past the hourly limit)."""
    user = found(repo.get_user(who.user_id), "The user no longer exists.")
    if not user.email_verified:
        _send_link(user.email, "verify_email", repo=repo)


def forgot_password(body: ForgotIn, *, repo: AuthRepository = REPOSITORY) -> None:
    """A reset link for a known address; the answer, and its time, are the same for an
    unknown one: the work is padded to FORGOT_FLOOR_SECONDS either way."""
    started = time.monotonic()
    _send_link(body.email, "password_reset", repo=repo)
    time.sleep(max(0.0, get_settings().forgot_floor_seconds - (time.monotonic() - started)))


def reset_password(body: ResetIn, *, repo: AuthRepository = REPOSITORY) -> None:
    password_hash = passwords.hash_password(body.password.get_secret_value())
    digest = opaque.digest(body.token.get_secret_value())
    if repo.reset_password(token_hash=digest, password_hash=password_hash) is None:
        raise _bad_link()
    logger.info("password reset")


def change_password(
    who: Identity, body: ChangeIn, client_ip: str, *, repo: AuthRepository = REPOSITORY
) -> None:
    """The new password; every session but the caller's ends."""
    user = found(repo.get_user(who.user_id), "The user no longer exists.")
    _check_password(user, body.current_password.get_secret_value(), client_ip, repo=repo)
    password_hash = passwords.hash_password(body.new_password.get_secret_value())
    repo.change_password(user_id=user.id, password_hash=password_hash, keep_family=who.session_id)


def me(user_id: str, *, repo: AuthRepository = REPOSITORY) -> UserOut:
    user = found(repo.get_user(user_id), "The user no longer exists.")
    return _user_out(user)
