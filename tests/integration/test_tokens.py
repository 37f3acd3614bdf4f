"""Forged, expired and malformed tokens are refused by the authorizer before any function
runs (API Gateway answers 403 {"message": "Forbidden"})."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from functions.authorizer import app as authorizer
from nexus.auth import tokens
from tests.support.api import TEST_SECRETS, Api, lambda_context

KEY = TEST_SECRETS["JWT_SECRET"]


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "11111111-1111-1111-1111-111111111111",
        "org": "22222222-2222-2222-2222-222222222222",
        "iat": now,
        "exp": now + 600,
        "iss": "nexus-sales",
        "aud": "nexus-sales-api",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def alg_none() -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."


def tampered() -> str:
    good = jwt.encode(claims(), KEY, algorithm="HS256")
    head, _, sig = good.split(".")
    return f"{head}.{b64(claims(org='33333333-3333-3333-3333-333333333333'))}.{sig}"


FORGED: dict[str, Callable[[], str]] = {
    "alg none": alg_none,
    "wrong key": lambda: jwt.encode(
        claims(), "another-key-0123456789abcdef0123456789", algorithm="HS256"
    ),
    "other alg, same key": lambda: jwt.encode(claims(), KEY, algorithm="HS512"),
    "expired": lambda: jwt.encode(
        claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), KEY, algorithm="HS256"
    ),
    "wrong issuer": lambda: jwt.encode(claims(iss="evil"), KEY, algorithm="HS256"),
    "wrong audience": lambda: jwt.encode(claims(aud="other-api"), KEY, algorithm="HS256"),
    "no exp": lambda: jwt.encode(claims(exp=None), KEY, algorithm="HS256"),
    "no org": lambda: jwt.encode(claims(org=None), KEY, algorithm="HS256"),
    "lifetime over an hour": lambda: jwt.encode(
        claims(exp=int(time.time()) + 7200), KEY, algorithm="HS256"
    ),
    "tampered payload": tampered,
    # Validly signed, but a claim a function would trust has the wrong shape (contract §6)
    "sub not a uuid": lambda: jwt.encode(claims(sub="admin"), KEY, algorithm="HS256"),
    "org not a uuid": lambda: jwt.encode(claims(org="1; DROP TABLE"), KEY, algorithm="HS256"),
    "sub a number": lambda: jwt.encode(claims(sub=12345), KEY, algorithm="HS256"),
    "org with NUL": lambda: jwt.encode(claims(org="2222\x00"), KEY, algorithm="HS256"),
    "garbage": lambda: "not-a-jwt",
}


@pytest.mark.parametrize("name", sorted(FORGED))
def test_forged_tokens_are_forbidden(api: Api, name: str) -> None:
    reply = api.get("/auth/me", token=FORGED[name]())
    assert reply.status == 403
    assert reply.json() == {"message": "Forbidden"}


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Token abc", "bearer"])
def test_wrong_scheme_is_forbidden(api: Api, header: str) -> None:
    reply = api.get("/auth/me", headers={"Authorization": header})
    assert reply.status == 403


@pytest.mark.parametrize("session", [None, "33333333-3333-3333-3333-333333333333"])
def test_authorizer_passes_identity_and_session_in_its_context(session: str | None) -> None:
    token, _ = tokens.issue(
        "11111111-1111-1111-1111-111111111111",
        "22222222-2222-2222-2222-222222222222",
        session_id=session,
    )
    event = {"version": "2.0", "type": "REQUEST", "identitySource": [f"Bearer {token}"]}
    result = authorizer.lambda_handler(event, lambda_context())
    assert result == {
        "isAuthorized": True,
        "context": {
            "user_id": "11111111-1111-1111-1111-111111111111",
            "organization_id": "22222222-2222-2222-2222-222222222222",
            "session_id": session or "",
        },
    }


def test_a_token_whose_session_is_not_a_uuid_is_refused() -> None:
    forged = jwt.encode(claims(sid="admin"), KEY, algorithm="HS256")
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(forged)


def test_authorizer_accepts_any_case_of_the_scheme() -> None:
    token, _ = tokens.issue(
        "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
    )
    event = {"identitySource": [f"bEaReR {token}"]}
    assert authorizer.lambda_handler(event, lambda_context())["isAuthorized"] is True


def test_authorizer_denies_when_no_signing_key_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nexus.settings import get_settings

    token, _ = tokens.issue(
        "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
    )
    monkeypatch.delenv("JWT_SECRET")
    get_settings.cache_clear()
    assert authorizer.lambda_handler({"identitySource": [f"Bearer {token}"]}, lambda_context()) == {
        "isAuthorized": False
    }


def test_signing_key_comes_from_secrets_manager_when_only_an_arn_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a secret in (moto's) Secrets Manager and no key in the environment
    import boto3
    from moto import mock_aws

    from nexus.settings import get_settings

    with mock_aws():
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(Name="jwt", SecretString="key-from-secrets-manager-0123456789")[
            "ARN"
        ]
        monkeypatch.delenv("JWT_SECRET")
        monkeypatch.setenv("JWT_SECRET_ARN", arn)
        get_settings.cache_clear()
        # When a token is issued
        token, _ = tokens.issue(
            "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
        )
    # Then it is signed with that secret
    decoded = jwt.decode(
        token,
        "key-from-secrets-manager-0123456789",
        algorithms=["HS256"],
        audience="nexus-sales-api",
    )
    assert decoded["sub"] == "11111111-1111-1111-1111-111111111111"


def test_a_fractional_issued_at_is_a_valid_numeric_date_not_a_crash(api: Api) -> None:
    """JWT NumericDates may be fractional: such a token is judged (here: its user does not
    exist), never an authorizer crash."""
    token = jwt.encode(claims(iat=time.time() - 0.5), KEY, algorithm="HS256")
    reply = api.get("/auth/me", token=token)
    assert reply.status == 404, reply.text
