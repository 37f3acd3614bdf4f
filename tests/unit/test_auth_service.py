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


IP = "198.51.100.7"


def _login(
    repo: FakeAuthRepository, email: str = EMAIL, password: str = PASSWORD, ip: str = IP
) -> str:
    body = LoginIn(email=email, password=SecretStr(password))
    return service.login(body, ip, repo=repo).access_token


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


def test_login_success_issues_a_token_and_clears_the_address_count(
    repo: FakeAuthRepository,
) -> None:
    # Given a user with two recent failed logins from this client
    user_id = _register(repo)
    repo.given(f"account:{EMAIL}", 2, timedelta(minutes=2))
    repo.given(f"ip:{IP}", 2, timedelta(minutes=2))
    # When they log in with the right password (the address in another case, padded)
    token = _login(repo, email="  Ann@Example.com ")
    # Then the token is theirs, the address's count is gone and the client's keeps only
    # its failures
    assert tokens.verify(token).user_id == user_id
    assert f"account:{EMAIL}" not in repo.counters
    assert repo.counters[f"ip:{IP}"].attempts == 2


def test_wrong_password_is_401_and_stays_counted(repo: FakeAuthRepository) -> None:
    _register(repo)
    with pytest.raises(Unauthorized) as caught:
        _login(repo, password="wrong horse battery")
    assert caught.value.status == 401
    assert repo.counters[f"account:{EMAIL}"].attempts == 1
    assert repo.counters[f"ip:{IP}"].attempts == 1
    assert "login_succeeded" not in repo.calls


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
    # And the unknown address is counted too
    assert repo.counters["account:nobody@example.com"].attempts == 1


def _no_verify(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Spies on password checks: the passwords a login verified (or burned a verify for)."""
    checked: list[str] = []

    def verify(password: str, password_hash: str) -> bool:
        checked.append(password)
        return True

    monkeypatch.setattr(passwords, "verify_password", verify)
    monkeypatch.setattr(passwords, "burn_verify", checked.append)
    return checked


def test_after_five_attempts_login_is_429_with_the_time_left_and_no_password_work(
    repo: FakeAuthRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given five attempts counted for the address in a window that began 100 s ago
    _register(repo)
    repo.given(f"account:{EMAIL}", 5, timedelta(seconds=100))
    checked = _no_verify(monkeypatch)
    # When the right password is sent
    with pytest.raises(TooManyRequests) as caught:
        _login(repo)
    # Then it is refused with Retry-After = the time until the window ends
    assert caught.value.status == 429
    assert caught.value.retry_after == 900 - 100
    assert "for this address" in caught.value.detail
    # And no password was checked
    assert checked == []


def test_retry_after_is_at_least_one_second(repo: FakeAuthRepository) -> None:
    _register(repo)
    repo.given(f"account:{EMAIL}", 5, timedelta(seconds=899.9))
    with pytest.raises(TooManyRequests) as caught:
        _login(repo)
    assert caught.value.retry_after == 1


def test_the_fifth_attempt_is_still_checked(repo: FakeAuthRepository) -> None:
    # Given four attempts counted (the limit is five)
    _register(repo)
    repo.given(f"account:{EMAIL}", 4, timedelta(seconds=10))
    # Then the right password still logs in
    assert tokens.verify(_login(repo)).user_id in repo.users


def test_a_window_that_has_ended_starts_counting_again(repo: FakeAuthRepository) -> None:
    _register(repo)
    repo.given(f"account:{EMAIL}", 50, timedelta(seconds=901))
    assert tokens.verify(_login(repo)).user_id in repo.users


def test_one_client_cannot_spray_many_accounts(
    repo: FakeAuthRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 20 failed logins from one client (LOGIN_IP_LIMIT) across other addresses
    _register(repo)
    repo.given(f"ip:{IP}", 20, timedelta(seconds=60))
    checked = _no_verify(monkeypatch)
    # When that client tries one more account, even with its right password
    with pytest.raises(TooManyRequests) as caught:
        _login(repo)
    # Then it is refused unchecked, while another client may still log in to it
    assert "from this client" in caught.value.detail
    assert caught.value.retry_after == 900 - 60
    assert checked == []
    assert _login(repo, ip="203.0.113.9")


def test_the_throttle_uses_the_configured_window_and_limits(
    repo: FakeAuthRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a 60 s window, a limit of 2 per address and 3 per client
    monkeypatch.setenv("LOGIN_WINDOW_SECONDS", "60")
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "2")
    monkeypatch.setenv("LOGIN_IP_LIMIT", "3")
    get_settings.cache_clear()
    _register(repo)
    repo.given(f"account:{EMAIL}", 2, timedelta(seconds=30))
    with pytest.raises(TooManyRequests) as by_address:
        _login(repo)
    repo.given(f"ip:{IP}", 3, timedelta(seconds=45))
    with pytest.raises(TooManyRequests) as by_client:
        _login(repo, email="other@example.com")
    # Then the repository was asked for that window, and Retry-After follows from it
    assert set(repo.windows) == {60}
    assert (by_address.value.retry_after, by_client.value.retry_after) == (30, 15)


def test_me_returns_the_user(repo: FakeAuthRepository) -> None:
    user_id = _register(repo)
    me = service.me(user_id, repo=repo)
    assert (me.id, me.email, me.name) == (user_id, EMAIL, "Ann")


def test_me_for_a_user_that_no_longer_exists_is_404(repo: FakeAuthRepository) -> None:
    # Given a valid token for a user since removed
    with pytest.raises(NotFound, match="no longer exists"):
        service.me(new_id(), repo=repo)


def test_a_refresh_spends_its_token_and_continues_the_session(repo: FakeAuthRepository) -> None:
    # Given a session from a login
    _register(repo)
    first = service.login(LoginIn(email=EMAIL, password=SecretStr(PASSWORD)), IP, repo=repo)
    session = tokens.verify(first.access_token).session_id
    # When its refresh token is spent
    second = service.refresh(SecretStr(first.refresh_token), repo=repo)
    # Then a new pair continues the same session, and the old token is spent
    assert second.refresh_token != first.refresh_token
    assert tokens.verify(second.access_token).session_id == session is not None
    with pytest.raises(Unauthorized):
        service.refresh(SecretStr(first.refresh_token), repo=repo)


def test_a_spent_refresh_token_used_again_ends_its_whole_session(repo: FakeAuthRepository) -> None:
    # Given a session refreshed once (an attacker kept the first token)
    _register(repo)
    first = service.login(LoginIn(email=EMAIL, password=SecretStr(PASSWORD)), IP, repo=repo)
    second = service.refresh(SecretStr(first.refresh_token), repo=repo)
    # When the stolen first token is replayed
    with pytest.raises(Unauthorized):
        service.refresh(SecretStr(first.refresh_token), repo=repo)
    # Then the legitimate holder's newer token is dead too: the family was revoked
    with pytest.raises(Unauthorized):
        service.refresh(SecretStr(second.refresh_token), repo=repo)


@pytest.mark.parametrize("token", [None, "", "never-issued"])
def test_no_or_unknown_refresh_token_is_401(repo: FakeAuthRepository, token: str | None) -> None:
    with pytest.raises(Unauthorized):
        service.refresh(None if token is None else SecretStr(token), repo=repo)
