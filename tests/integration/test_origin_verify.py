"""The origin check (nexus.http): with ORIGIN_VERIFY_REQUIRED, a request that does not carry
the secret header CloudFront adds is refused before any handler runs, so a direct call to the
execute-api endpoint cannot go around the distribution and its WAF; the webhooks third parties
sign are exempt. Through the template's routes and authorizer, against real PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nexus import aws, secrets
from nexus.settings import get_settings
from tests.support.api import Api, assert_problem

SECRET = "origin-secret-from-the-distribution-0123456789"
UNKNOWN_PRODUCT = "/store/products/00000000-0000-4000-8000-000000000000"
THROUGH_CLOUDFRONT = {"x-origin-verify": SECRET}


@pytest.fixture
def required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORIGIN_VERIFY_REQUIRED", "true")
    monkeypatch.setenv("ORIGIN_VERIFY_SECRET", SECRET)
    get_settings.cache_clear()


def _refused(reply: Any) -> None:
    body = assert_problem(reply, 403)
    assert body["title"] == "Forbidden"
    assert "/api" in body["detail"]
    assert SECRET not in reply.text


@pytest.mark.usefixtures("required")
class TestRequired:
    def test_a_public_route_without_the_header_is_refused_and_with_it_answered(
        self, api: Api
    ) -> None:
        _refused(api.get(UNKNOWN_PRODUCT))
        _refused(api.get(UNKNOWN_PRODUCT, headers={"x-origin-verify": SECRET[:-1]}))
        _refused(api.get(UNKNOWN_PRODUCT, headers={"x-origin-verify": ""}))
        # With it, the route answers as ever (an unknown product: 404)
        assert_problem(api.get(UNKNOWN_PRODUCT, headers=THROUGH_CLOUDFRONT), 404)

    def test_a_valid_token_does_not_make_up_for_the_header(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a seller who registered through the distribution
        reply = api.post(
            "/auth/register",
            json_body={"email": "direct@example.com", "password": "correct horse battery"},
            headers=THROUGH_CLOUDFRONT,
        )
        assert reply.status == 201, reply.text
        token = reply.json()["access_token"]
        # When they call the API's own endpoint directly, the authorizer accepts the token
        # but the function refuses the request
        _refused(api.get("/products", token=token))
        _refused(api.post("/products", json_body={"name": "x", "price": 100}, token=token))
        # Through the distribution it is served
        assert api.get("/products", token=token, headers=THROUGH_CLOUDFRONT).status == 200

    def test_credential_routes_are_refused_before_the_password_is_checked(
        self, api: Api, conn: Any
    ) -> None:
        reply = api.post(
            "/auth/login", json_body={"email": "nobody@example.com", "password": "whatever1"}
        )
        _refused(reply)
        # nothing was counted against the account or the client
        assert conn.execute("SELECT count(*) FROM login_throttle").fetchone()[0] == 0

    def test_the_signed_webhooks_are_exempt(self, api: Api) -> None:
        # Stripe and Meta call the execute-api endpoint and sign their bodies: without the
        # header their handlers run, and refuse the missing signatures themselves (401).
        stripe = api.post(
            "/webhooks/stripe",
            body='{"id": "evt_1", "type": "checkout.session.completed"}',
            headers={"content-type": "application/json", "stripe-signature": "t=1,v1=00"},
        )
        assert_problem(stripe, 401)
        for path in ("/webhooks/meta/deauthorize", "/webhooks/meta/data-deletion"):
            meta = api.post(
                path,
                body="signed_request=not.signed",
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert_problem(meta, 401)

    def test_during_a_rotation_both_values_are_accepted(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The secret's shape on AWS: {"current", "previous"}
        monkeypatch.setenv(
            "ORIGIN_VERIFY_SECRET", json.dumps({"current": "new-value", "previous": SECRET})
        )
        get_settings.cache_clear()
        for value in ("new-value", SECRET):
            reply = api.get(UNKNOWN_PRODUCT, headers={"x-origin-verify": value})
            assert_problem(reply, 404)
        _refused(api.get(UNKNOWN_PRODUCT, headers={"x-origin-verify": "older-value"}))
        _refused(api.get(UNKNOWN_PRODUCT, headers={"x-origin-verify": ""}))

    def test_required_without_a_secret_is_a_503_not_an_open_door(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("ORIGIN_VERIFY_SECRET")
        get_settings.cache_clear()
        assert_problem(api.get(UNKNOWN_PRODUCT, headers=THROUGH_CLOUDFRONT), 503)


def test_without_the_setting_direct_calls_are_served(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The local stack and tests: the check is off unless configured, even with a secret set
    # (which then only decides whether CloudFront-Viewer-Address is trusted).
    monkeypatch.setenv("ORIGIN_VERIFY_SECRET", SECRET)
    monkeypatch.delenv("ORIGIN_VERIFY_REQUIRED", raising=False)
    get_settings.cache_clear()
    assert_problem(api.get(UNKNOWN_PRODUCT), 404)


def test_on_aws_the_values_come_from_secrets_manager(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the secret as the template makes it (a JSON object in Secrets Manager) and only its
    # ARN in the environment
    import boto3
    from moto import mock_aws

    with mock_aws():
        for key, value in {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        aws.cache_clear()
        secrets.cache_clear()
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(
            Name="origin-verify", SecretString=json.dumps({"previous": "", "current": SECRET})
        )["ARN"]
        monkeypatch.setenv("ORIGIN_VERIFY_REQUIRED", "true")
        monkeypatch.delenv("ORIGIN_VERIFY_SECRET", raising=False)
        monkeypatch.setenv("ORIGIN_VERIFY_SECRET_ARN", arn)
        get_settings.cache_clear()
        try:
            _refused(api.get(UNKNOWN_PRODUCT))
            _refused(api.get(UNKNOWN_PRODUCT, headers={"x-origin-verify": ""}))
            assert_problem(api.get(UNKNOWN_PRODUCT, headers=THROUGH_CLOUDFRONT), 404)
        finally:
            aws.cache_clear()
            secrets.cache_clear()
