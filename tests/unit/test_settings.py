from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from nexus.settings import load_settings


def test_defaults_follow_the_contract() -> None:
    settings = load_settings({})
    assert settings.bcrypt_rounds == 12
    assert settings.jwt_ttl_seconds == 900
    assert settings.login_max_failures == 5
    assert settings.login_window_seconds == 900
    assert settings.max_body_bytes == 1024 * 1024


def test_values_are_read_from_upper_case_variables() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://x/y", "BCRYPT_ROUNDS": "13"})
    assert settings.database_url == "postgresql://x/y"
    assert settings.bcrypt_rounds == 13


@pytest.mark.parametrize("name,value", [("JWT_TTL_SECONDS", "901"), ("BCRYPT_ROUNDS", "3")])
def test_values_outside_policy_are_refused(name: str, value: str) -> None:
    with pytest.raises(ValidationError):
        load_settings({name: value})


def test_on_aws_the_database_password_is_an_iam_token_over_tls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nexus.db import _conninfo

    for key, value in {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(
        {"DB_HOST": "proxy.example.us-east-1.rds.amazonaws.com", "DB_USER": "nexus_app"}
    )
    info = _conninfo(settings)
    assert info["sslmode"] == "require"
    assert info["user"] == "nexus_app"
    assert info["password"].startswith(
        "proxy.example.us-east-1.rds.amazonaws.com:5432/?Action=connect"
    )
    assert "X-Amz-Signature=" in info["password"]


@pytest.mark.parametrize("session_token", [None, "FwoGZXIvYXdzE//session+token="])
def test_iam_token_signed_here_matches_botocores(
    monkeypatch: pytest.MonkeyPatch, session_token: str | None
) -> None:
    from urllib.parse import parse_qsl, urlsplit

    import boto3

    from nexus.db.iam import auth_token

    creds = {"access_key": "AKIDEXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
    client = boto3.client(
        "rds",
        region_name="eu-west-1",
        aws_access_key_id=creds["access_key"],
        aws_secret_access_key=creds["secret_key"],
        aws_session_token=session_token,
    )
    theirs = client.generate_db_auth_token(
        DBHostname="nexus.proxy-abc.eu-west-1.rds.amazonaws.com", Port=5432, DBUsername="app"
    )
    stamp = dict(parse_qsl(urlsplit("https://" + theirs).query))["X-Amz-Date"]
    ours = auth_token(
        "nexus.proxy-abc.eu-west-1.rds.amazonaws.com",
        5432,
        "app",
        "eu-west-1",
        session_token=session_token,
        now=datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC),
        **creds,
    )
    assert urlsplit("https://" + ours).netloc == urlsplit("https://" + theirs).netloc
    assert dict(parse_qsl(urlsplit("https://" + ours).query)) == dict(
        parse_qsl(urlsplit("https://" + theirs).query)
    )
