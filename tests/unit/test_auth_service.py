"""nexus.auth.service decisions, against an in-memory AuthRepository (real bcrypt at the
test cost of 4 rounds, real JWTs)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from nexus.auth import passwords, service, tokens
from nexus.auth.models import LoginIn, RegisterIn
from nexus.errors import Conflict, NotFound, TooManyRequests, Unauthorized
from nexus.settings import get_settings
from tests.support.fakes import FakeAuthRepository, new_id

EMAIL = "ann@example.com"
PASSWORD = "correct horse battery"


@pytest.fixture
def repo() -> FakeAuthRepository:
    return FakeAuthRepository()


def _register(repo: FakeAuthRepository, email: str = EMAIL) -> str:
    body = RegisterIn(email=email, password=SecretStr(PASSWORD), name="Ann")
    return service.register(body, repo=repo).user.id


def _login(repo: FakeAuthRepository, email: str = EMAIL, password: str = PASSWORD) -> str:
    return service.login(LoginIn(email=email, password=SecretStr(password)), repo=repo).access_token


def test_register_stores_a_hash_and_issues_a_token_for_the_new_user(
    repo: FakeAuthRepository,
) -> None:
    # When someone registers
    out = service.register(
        RegisterIn(email=EMAIL, password=SecretStr(PASSWORD), name="Ann"), repo=repo
    )
    # Then the password is stored only as a hash that verifies
    stored = repo.users[out.user.id]
    assert PASSWORD not in stored.password_hash
    assert passwords.verify_password(PASSWORD, stored.password_hash)
    # And the token names the new user and their organization
    claims = tokens.verify(out.access_token)
    assert (claims.user_id, claims.organization_id) == (out.user.id, out.user.organization_id)
    assert out.expires_in == get_settings().jwt_ttl_seconds


def test_register_with_a_taken_email_in_any_case_is_409(repo: FakeAuthRepository) -> None:
    # Given an account for ann@example.com
    _register(repo)
    # When someone registers ANN@EXAMPLE.COM, Then it is a conflict and no user is added
    with pytest.raises(Conflict) as caught:
        _register(repo, email="ANN@EXAMPLE.COM")
    assert caught.value.status == 409
    assert len(repo.users) == 1


def test_login_success_issues_a_token_and_clears_failures(repo: FakeAuthRepository) -> None:
    # Given a user with two recent failed logins
    user_id = _register(repo)
    repo.fail(EMAIL, timedelta(minutes=2), timedelta(minutes=1))
    # When they log in with the right password (the address in another case, padded)
    token = _login(repo, email="  Ann@Example.com ")
    # Then the token is theirs, and the success is recorded for the normalised address
    assert tokens.verify(token).user_id == user_id
    assert repo.recorded == [(EMAIL, True)]
    assert EMAIL not in repo.failures


def test_wrong_password_is_401_and_recorded_as_a_failure(repo: FakeAuthRepository) -> None:
    _register(repo)
    # When the password is wrong
    with pytest.raises(Unauthorized) as caught:
        _login(repo, password="wrong horse battery")
    # Then it is a 401 and a failure is recorded
    assert caught.value.status == 401
    assert repo.recorded == [(EMAIL, False)]


def test_unknown_email_burns_a_verify_and_answers_as_a_wrong_password(
    repo: FakeAuthRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a registered user, and a spy on the timing equaliser
    _register(repo)
    burned: list[str] = []
    real_burn = passwords.burn_verify

    def spy(password: str) -> None:
        burned.append(password)
        real_burn(password)

    monkeypatch.setattr(passwords, "burn_verify", spy)
    with pytest.raises(Unauthorized) as wrong_password:
        _login(repo, password="wrong horse battery")
    # When someone logs in with an address nobody has
    with pytest.raises(Unauthorized) as unknown_user:
        _login(repo, email="nobody@example.com", password="some password 1")
    # Then a bcrypt verification is still spent, for the unknown address only
    assert burned == ["some password 1"]
    # And the answer cannot be told apart from a wrong password
    assert unknown_user.value.detail == wrong_password.value.detail
    assert unknown_user.value.status == wrong_password.value.status == 401
    # And the failure is recorded against the unknown address too
    assert repo.recorded[-1] == ("nobody@example.com", False)


def test_after_too_many_failures_login_is_429_with_the_time_left(
    repo: FakeAuthRepository,
) -> None:
    # Given five failures in the 15-minute window, the oldest 100 s ago
    _register(repo)
    ago = [timedelta(seconds=s) for s in (100, 80, 60, 40, 20)]
    repo.fail(EMAIL, *ago)
    # When the right password is sent
    with pytest.raises(TooManyRequests) as caught:
        _login(repo)
    # Then it is refused with Retry-After = the time until the oldest failure leaves the window
    assert caught.value.status == 429
    assert caught.value.retry_after == 900 - 100
    # And nothing is verified or recorded: the throttle is decided before any password work
    assert repo.recorded == []


def test_retry_after_is_at_least_one_second(repo: FakeAuthRepository) -> None:
    # Given five failures, the oldest just about to leave the window
    _register(repo)
    repo.fail(EMAIL, *[timedelta(seconds=899.9)] * 5)
    with pytest.raises(TooManyRequests) as caught:
        _login(repo)
    # Then Retry-After is rounded up, never 0
    assert caught.value.retry_after == 1


def test_one_failure_below_the_limit_is_not_throttled(repo: FakeAuthRepository) -> None:
    # Given four failures (the limit is five)
    _register(repo)
    repo.fail(EMAIL, *[timedelta(seconds=10)] * 4)
    # Then the right password still logs in
    assert tokens.verify(_login(repo)).user_id in repo.users


def test_the_throttle_uses_the_configured_window_and_limit(
    repo: FakeAuthRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a 60 s window and a limit of 2
    monkeypatch.setenv("LOGIN_WINDOW_SECONDS", "60")
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "2")
    get_settings.cache_clear()
    _register(repo)
    repo.fail(EMAIL, timedelta(seconds=30), timedelta(seconds=10))
    # When the user logs in
    with pytest.raises(TooManyRequests) as caught:
        _login(repo)
    # Then the repository was asked for that window, and Retry-After follows from it
    assert repo.windows == [60]
    assert caught.value.retry_after == 60 - 30


def test_me_returns_the_user(repo: FakeAuthRepository) -> None:
    user_id = _register(repo)
    me = service.me(user_id, repo=repo)
    assert (me.id, me.email, me.name) == (user_id, EMAIL, "Ann")


def test_me_for_a_user_that_no_longer_exists_is_404(repo: FakeAuthRepository) -> None:
    # Given a valid token for a user since removed
    with pytest.raises(NotFound, match="no longer exists"):
        service.me(new_id(), repo=repo)
