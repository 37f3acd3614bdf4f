"""Sessions, e-mail verification and passwords through the template's routes (contract §7),
against PostgreSQL. E-mail link tokens are read where the outbox receives them."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest

from nexus import outbox
from nexus.auth import tokens
from tests.support.api import Api, assert_problem

EMAIL, PASSWORD = "ann@example.com", "correct horse battery staple"


@pytest.fixture
def links(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, str]]]:
    """(kind, recipient, token) of every e-mail link written to the outbox."""
    sent: list[tuple[str, str, str]] = []
    real = outbox.add

    def recording(conn: Any, *, kind: str, recipient: str, payload: Any, secret: Any = None) -> str:
        if secret is not None:
            sent.append((kind, recipient, secret))
        return real(conn, kind=kind, recipient=recipient, payload=payload, secret=secret)

    monkeypatch.setattr(outbox, "add", recording)
    yield sent


def register(api: Api, email: str = EMAIL) -> Any:
    reply = api.post("/auth/register", json_body={"email": email, "password": PASSWORD})
    assert reply.status == 201, reply.text
    return reply


def login(api: Api, password: str = PASSWORD, **request: Any) -> Any:
    return api.post("/auth/login", json_body={"email": EMAIL, "password": password}, **request)


def refresh(api: Api, token: str | None, **request: Any) -> Any:
    body = {} if token is None else {"refresh_token": token}
    return api.post("/auth/refresh", json_body=body, **request)


class TestSessions:
    def test_login_answers_a_short_access_token_and_a_refresh_token_also_as_a_cookie(
        self, api: Api
    ) -> None:
        register(api)
        reply = login(api)
        pair = reply.json()
        assert set(pair) == {"access_token", "token_type", "expires_in", "refresh_token"}
        assert pair["expires_in"] <= 900
        assert len(pair["refresh_token"]) >= 43  # 256 bits, URL-safe base64
        claims = tokens.verify(pair["access_token"])
        assert claims.session_id is not None
        (cookie,) = reply.cookies
        assert cookie.startswith(f"refresh_token={pair['refresh_token']}")
        attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "path", "max-age", "samesite"} <= attributes
        assert "Path=/api/auth" in cookie and "SameSite=Strict" in cookie
        assert "Secure" not in cookie  # loopback: a browser would drop it over plain HTTP
        remote = login(api, headers={"host": "shop.example.com"})
        assert "Secure" in remote.cookies[0]

    def test_refresh_rotates_and_a_reused_token_ends_the_whole_session(self, api: Api) -> None:
        register(api)
        first = login(api).json()
        second = refresh(api, first["refresh_token"])
        assert second.status == 200, second.text
        pair = second.json()
        assert pair["refresh_token"] != first["refresh_token"]
        assert tokens.verify(pair["access_token"]).session_id == (
            tokens.verify(first["access_token"]).session_id
        )
        # The spent token replayed (a thief's copy): 401, and the holder's newer one dies too
        assert_problem(refresh(api, first["refresh_token"]), 401)
        assert_problem(refresh(api, pair["refresh_token"]), 401)
        # Other sessions of the user are untouched
        other = login(api).json()
        assert refresh(api, other["refresh_token"]).status == 200

    def test_the_refresh_cookie_works_when_the_body_has_no_token(self, api: Api) -> None:
        register(api)
        token = login(api).json()["refresh_token"]
        reply = refresh(api, None, headers={"cookie": f"theme=dark; refresh_token={token}"})
        assert reply.status == 200, reply.text
        assert reply.cookies[0].startswith(f"refresh_token={reply.json()['refresh_token']}")

    def test_a_token_unused_for_30_days_has_expired(self, api: Api, conn: Any) -> None:
        register(api)
        token = login(api).json()["refresh_token"]
        conn.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
        assert_problem(refresh(api, token), 401)
        assert_problem(refresh(api, "never-issued"), 401)
        assert_problem(refresh(api, None), 401)

    def test_logout_ends_that_session_only_and_is_idempotent(self, api: Api) -> None:
        register(api)
        one, two = login(api).json(), login(api).json()
        reply = api.post("/auth/logout", json_body={"refresh_token": one["refresh_token"]})
        assert reply.status == 204
        assert "Max-Age=0" in reply.cookies[0]
        assert_problem(refresh(api, one["refresh_token"]), 401)
        assert refresh(api, two["refresh_token"]).status == 200
        again = api.post("/auth/logout", json_body={"refresh_token": one["refresh_token"]})
        assert (again.status, api.post("/auth/logout", json_body={}).status) == (204, 204)

    def test_logout_all_ends_every_session(self, api: Api) -> None:
        register(api)
        pairs = [login(api).json() for _ in range(3)]
        reply = api.post("/auth/logout-all", token=pairs[0]["access_token"])
        assert reply.status == 204
        for pair in pairs:
            assert_problem(refresh(api, pair["refresh_token"]), 401)


class TestEmailVerification:
    def test_the_link_verifies_once(self, api: Api, links: list[tuple[str, str, str]]) -> None:
        access = register(api).json()["access_token"]
        assert api.get("/auth/me", token=access).json()["email_verified"] is False
        ((kind, recipient, token),) = links
        assert (kind, recipient) == ("verify_email", EMAIL)
        verified = api.post("/auth/verify-email", json_body={"token": token})
        assert (verified.status, verified.json()["email_verified"]) == (200, True)
        assert api.get("/auth/me", token=access).json()["email_verified"] is True
        body = assert_problem(api.post("/auth/verify-email", json_body={"token": token}), 422)
        assert body["errors"][0]["loc"] == ["body", "token"]
        assert_problem(api.post("/auth/verify-email", json_body={"token": "forged"}), 422)

    def test_an_expired_link_is_422(
        self, api: Api, conn: Any, links: list[tuple[str, str, str]]
    ) -> None:
        register(api)
        conn.execute("UPDATE email_tokens SET expires_at = now() - interval '1 second'")
        assert_problem(api.post("/auth/verify-email", json_body={"token": links[0][2]}), 422)

    def test_resend_sends_at_most_5_per_hour_and_nothing_once_verified(
        self, api: Api, links: list[tuple[str, str, str]]
    ) -> None:
        access = register(api).json()["access_token"]
        answers = {api.post("/auth/verify-email/resend", token=access).status for _ in range(7)}
        assert answers == {202}
        assert len(links) == 1 + 5  # registration's, then five resends
        api.post("/auth/verify-email", json_body={"token": links[-1][2]})


class TestPasswords:
    def test_forgot_then_reset_sets_the_password_ends_sessions_and_unlocks(
        self, api: Api, links: list[tuple[str, str, str]]
    ) -> None:
        register(api)
        old = login(api).json()
        for _ in range(5):
            login(api, password="wrong password here")
        assert_problem(login(api), 429)
        assert api.post("/auth/password/forgot", json_body={"email": EMAIL}).status == 202
        kind, recipient, token = links[-1]
        assert (kind, recipient) == ("password_reset", EMAIL)
        new = "another long passphrase"
        reply = api.post("/auth/password/reset", json_body={"token": token, "password": new})
        assert reply.status == 204, reply.text
        assert_problem(refresh(api, old["refresh_token"]), 401)
        assert login(api, password=new).status == 200  # unlocked, and the new password
        assert_problem(login(api), 401)
        again = api.post("/auth/password/reset", json_body={"token": token, "password": new})
        assert_problem(again, 422)

    def test_reset_refuses_a_weak_password_and_keeps_the_link(
        self, api: Api, links: list[tuple[str, str, str]]
    ) -> None:
        register(api)
        api.post("/auth/password/forgot", json_body={"email": EMAIL})
        token = links[-1][2]
        weak = api.post("/auth/password/reset", json_body={"token": token, "password": "short"})
        assert_problem(weak, 422)
        good = {"token": token, "password": "a perfectly fine passphrase"}
        assert api.post("/auth/password/reset", json_body=good).status == 204

    def test_forgot_answers_alike_and_in_the_same_time_for_unknown_addresses(
        self, api: Api, links: list[tuple[str, str, str]]
    ) -> None:
        register(api)
        timings: dict[str, list[float]] = {"known": [], "unknown": []}
        for n in range(5):
            for case, email in (("known", EMAIL), ("unknown", f"nobody{n}@example.com")):
                started = time.perf_counter()
                reply = api.post("/auth/password/forgot", json_body={"email": email})
                timings[case].append(time.perf_counter() - started)
                assert (reply.status, reply.json()) == (202, {"accepted": True})
        known, unknown = (statistics.median(timings[c]) for c in ("known", "unknown"))
        ratio = max(known, unknown) / min(known, unknown)
        print(
            f"\nforgot-password median: known {known * 1000:.0f} ms, unknown "
            f"{unknown * 1000:.0f} ms, ratio {ratio:.3f}"
        )
        assert ratio <= 1.2
        assert [k for k, _, _ in links].count("password_reset") == 5

    def test_change_needs_the_current_password_and_ends_other_sessions(self, api: Api) -> None:
        register(api)
        mine, other = login(api).json(), login(api).json()
        wrong = {"current_password": "not my password", "new_password": "a new long passphrase"}
        change = "/auth/password/change"
        assert_problem(api.post(change, json_body=wrong, token=mine["access_token"]), 401)
        right = {"current_password": PASSWORD, "new_password": "a new long passphrase"}
        assert api.post(change, json_body=right, token=mine["access_token"]).status == 204
        assert_problem(refresh(api, other["refresh_token"]), 401)
        assert refresh(api, mine["refresh_token"]).status == 200
        assert login(api, password="a new long passphrase").status == 200

    def test_wrong_current_passwords_count_toward_the_login_throttle(self, api: Api) -> None:
        register(api)
        access = login(api).json()["access_token"]
        wrong = {"current_password": "not my password", "new_password": "a new long passphrase"}
        statuses = [
            api.post("/auth/password/change", json_body=wrong, token=access).status
            for _ in range(6)
        ]
        assert statuses == [401] * 5 + [429]
