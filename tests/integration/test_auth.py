"""Auth routes over the template's routes and authorizer, against real PostgreSQL."""

from __future__ import annotations

import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import bcrypt
import pytest

from nexus.settings import get_settings
from nexus_local.apigw import Gateway
from nexus_local.runtime import Runtime
from nexus_local.template import parse
from tests.support.api import Api, assert_problem

STRONG = "correct horse battery staple"


@pytest.fixture
def bcrypt_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per bcrypt password check made from now on."""
    calls: list[int] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(1)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    return calls


def register(api: Api, email: str = "ann@example.com", password: str = STRONG, **extra: Any) -> Any:
    return api.post("/auth/register", json_body={"email": email, "password": password, **extra})


def login(api: Api, email: str = "ann@example.com", password: str = STRONG, **request: Any) -> Any:
    return api.post("/auth/login", json_body={"email": email, "password": password}, **request)


class TestRegister:
    def test_creates_user_and_organization_and_returns_a_working_token(
        self, api: Api, conn: Any
    ) -> None:
        # When
        reply = register(api, name="Ann")
        # Then
        assert reply.status == 201
        body = reply.json()
        assert body["token_type"] == "Bearer"
        assert 0 < body["expires_in"] <= 3600
        user = body["user"]
        assert user["email"] == "ann@example.com"
        assert user["name"] == "Ann"
        assert set(user) == {
            "id",
            "email",
            "name",
            "organization_id",
            "created_at",
            "email_verified",
        }
        org = conn.execute(
            "SELECT o.id::text FROM organizations o JOIN users u ON u.organization_id = o.id"
            " WHERE u.id = %s",
            (user["id"],),
        ).fetchone()
        assert org == (user["organization_id"],)
        me = api.get("/auth/me", token=body["access_token"])
        assert me.status == 200
        assert me.json() == user

    def test_password_is_stored_with_bcrypt_never_in_clear(self, api: Api, conn: Any) -> None:
        register(api)
        (stored,) = conn.execute("SELECT password_hash FROM users").fetchone()
        assert stored.startswith("$2b$")
        assert STRONG not in stored

    def test_email_taken_is_409_case_insensitively(self, api: Api) -> None:
        assert register(api, email="Ann@Example.com").status == 201
        reply = register(api, email="ann@EXAMPLE.com")
        assert_problem(reply, 409)

    @pytest.mark.parametrize(
        "email",
        ["", "not-an-email", "a@b", "two@@example.com", "sp ace@example.com", "x" * 250 + "@e.com"],
    )
    def test_bad_email_is_422(self, api: Api, email: str) -> None:
        body = assert_problem(register(api, email=email), 422)
        assert any(e["loc"][-1] == "email" for e in body["errors"])

    @pytest.mark.parametrize("password", ["short1!", "x" * 129 + "Z"])
    def test_password_length_outside_8_to_128_is_422(self, api: Api, password: str) -> None:
        body = assert_problem(register(api, password=password), 422)
        assert body["errors"][0]["loc"] == ["body", "password"]

    @pytest.mark.parametrize("password", ["password123", "PASSWORD123", "iloveyou", "qwertyuiop"])
    def test_common_passwords_are_refused(self, api: Api, password: str) -> None:
        body = assert_problem(register(api, password=password), 422)
        assert "common" in body["errors"][0]["msg"]

    def test_128_characters_of_any_script_are_accepted_and_not_truncated(self, api: Api) -> None:
        # Given a 128-character password of 3-byte characters: 384 UTF-8 bytes, far past
        # bcrypt's 72-byte window.
        password = "密码" * 64
        assert len(password) == 128
        assert register(api, password=password).status == 201
        # Then the whole password matters: changing only the last character fails.
        assert login(api, password=password).status == 200
        assert login(api, password=password[:-1] + "X").status == 401

    def test_unicode_normalisation_forms_are_the_same_password(self, api: Api) -> None:
        composed = unicodedata.normalize("NFC", "Crème brûlée à la carte")
        decomposed = unicodedata.normalize("NFD", composed)
        assert composed != decomposed
        assert register(api, password=composed).status == 201
        assert login(api, password=decomposed).status == 200

    def test_default_bcrypt_cost_is_12(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from nexus.auth import passwords
        from nexus.settings import get_settings

        monkeypatch.delenv("BCRYPT_ROUNDS")
        get_settings.cache_clear()
        hashed = passwords.hash_password(STRONG)
        assert hashed.startswith("$2b$12$")


class TestLogin:
    def test_success_returns_a_bearer_token(self, api: Api) -> None:
        register(api)
        reply = login(api, email="ANN@example.com")
        assert reply.status == 200
        body = reply.json()
        assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
        assert api.get("/auth/me", token=body["access_token"]).status == 200

    def test_unknown_email_and_wrong_password_get_the_same_401(self, api: Api) -> None:
        register(api)
        wrong = login(api, password="not the password at all")
        unknown = login(api, email="nobody@example.com")
        assert_problem(wrong, 401)
        assert wrong.json() == unknown.json()

    def test_unknown_email_still_runs_one_bcrypt_verification(
        self, api: Api, bcrypt_checks: list[int]
    ) -> None:
        register(api)
        calls = bcrypt_checks
        login(api, password="wrong password here")
        login(api, email="nobody@example.com")
        assert len(calls) == 2

    def test_five_failures_lock_the_address_for_the_window(self, api: Api) -> None:
        register(api)
        for _ in range(5):
            assert login(api, password="wrong password here").status == 401
        # Even the right password is refused now, without checking it.
        reply = login(api)
        body = assert_problem(reply, 429)
        assert body["status"] == 429
        retry_after = int(reply.header("retry-after") or "0")
        assert 1 <= retry_after <= 900
        # Another address is not affected.
        register(api, email="bob@example.com")
        assert login(api, email="bob@example.com").status == 200

    def test_failures_older_than_15_minutes_do_not_count(self, api: Api, conn: Any) -> None:
        register(api)
        for _ in range(5):
            login(api, password="wrong password here")
        conn.execute("UPDATE login_throttle SET window_start = now() - interval '16 minutes'")
        assert login(api).status == 200

    def test_unknown_addresses_are_throttled_too(self, api: Api) -> None:
        for _ in range(5):
            assert login(api, email="ghost@example.com").status == 401
        assert login(api, email="GHOST@example.com").status == 429

    def test_a_success_clears_earlier_failures(self, api: Api) -> None:
        register(api)
        for _ in range(4):
            login(api, password="wrong password here")
        assert login(api).status == 200
        for _ in range(4):
            assert login(api, password="wrong password here").status == 401
        assert login(api).status == 200

    def test_50_parallel_wrong_passwords_check_at_most_5(
        self, database_url: str, bcrypt_checks: list[int]
    ) -> None:
        """Contract §6: the statement that counts an attempt also decides it, so 50 attempts
        at once for one account get at most 5 password checks; the rest are 429."""
        runtime = Runtime(parse(), concurrency=8)
        try:
            busy = Api(Gateway(runtime.app, runtime))
            register(busy)
            checks = bcrypt_checks
            start = threading.Barrier(8)

            def attempt(n: int) -> Any:
                if n < 8:
                    start.wait()
                return login(busy, password=f"wrong password {n}", source_ip=f"10.0.0.{n}")

            with ThreadPoolExecutor(8) as pool:
                replies = list(pool.map(attempt, range(50)))
        finally:
            runtime.shutdown()
        statuses = [r.status for r in replies]
        print(f"\n50 parallel wrong passwords: {len(checks)} checked, {statuses.count(429)} x 429")
        assert statuses.count(401) == len(checks) <= 5
        assert statuses.count(429) == 50 - len(checks)
        assert all(1 <= int(r.header("retry-after")) <= 900 for r in replies if r.status == 429)

    def test_one_client_ip_cannot_spray_many_accounts(self, api: Api) -> None:
        # Given 20 failed logins (LOGIN_IP_LIMIT) from one client, each on another address
        for n in range(20):
            assert (
                login(api, email=f"victim{n}@example.com", source_ip="198.51.100.4").status == 401
            )
        register(api)
        # Then that client is refused even for a real account with its right password,
        refused = login(api, source_ip="198.51.100.4")
        assert "from this client" in assert_problem(refused, 429)["detail"]
        # while the same account from another client logs in
        assert login(api, source_ip="203.0.113.8").status == 200

    def test_the_viewer_address_counts_only_behind_the_origin_secret(
        self, api: Api, conn: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ORIGIN_VERIFY_SECRET", "s3cret-from-cloudfront")
        get_settings.cache_clear()
        viewer = {"cloudfront-viewer-address": "203.0.113.50:46532"}
        login(api, headers={**viewer, "x-origin-verify": "s3cret-from-cloudfront"})
        login(api, headers={**viewer, "x-origin-verify": "guessed"})
        login(
            api,
            headers={
                "cloudfront-viewer-address": "[2001:db8::7]:443",
                **{"x-origin-verify": "s3cret-from-cloudfront"},
            },
        )
        counted = dict(conn.execute("SELECT key, attempts FROM login_throttle").fetchall())
        assert counted == {
            "account:ann@example.com": 3,
            "ip:203.0.113.50": 1,
            "ip:127.0.0.1": 1,
            "ip:2001:db8::7": 1,
        }


class TestMe:
    def test_without_authorization_header_api_gateway_answers_401(self, api: Api) -> None:
        reply = api.get("/auth/me")
        assert reply.status == 401
        assert reply.json() == {"message": "Unauthorized"}

    def test_user_deleted_since_token_was_issued_is_404(self, api: Api, conn: Any) -> None:
        token = register(api).json()["access_token"]
        conn.execute("DELETE FROM users")
        assert_problem(api.get("/auth/me", token=token), 404)


def test_token_answers_are_never_cached(api: Api) -> None:
    """Contract §6: responses that carry tokens (/auth/*) have Cache-Control: no-store."""
    body = {"email": "cache@example.com", "password": "correct horse battery"}
    registered = api.post("/auth/register", json_body=body)
    logged_in = api.post("/auth/login", json_body=body)
    refused = api.post("/auth/login", json_body={**body, "password": "wrong password here"})
    me = api.get("/auth/me", token=logged_in.json()["access_token"])
    assert [r.status for r in (registered, logged_in, refused, me)] == [201, 200, 401, 200]
    assert all(
        r.header("cache-control") == "no-store" for r in (registered, logged_in, refused, me)
    )
    # Other functions' answers carry no such header
    assert (
        api.get("/products", token=logged_in.json()["access_token"]).header("cache-control") is None
    )
