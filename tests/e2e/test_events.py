"""Every SAM CLI event in events/ works against the local stack started with --seed-demo: sent
to the Lambda invoke API (as `make invoke` does), refreshed first (a new Stripe-Signature, a
fresh demo token), it gets the answer it was written for; sent again, still no 5xx."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus.payments.signature import verify
from nexus_local import demo
from nexus_local.invoke import DEMO_TOKEN, function_for, refresh
from nexus_local.template import parse
from tests.support.api import ROOT, TEST_SECRETS
from tests.support.stack import Stack, free_port, run_module, start_stack

pytestmark = pytest.mark.e2e
EVENTS = ROOT / "events"


def status(code: int) -> Callable[[Any], bool]:
    return lambda result: isinstance(result, dict) and result.get("statusCode") == code


# What each event is written to get from the freshly seeded demo.
EXPECTED: dict[str, Callable[[Any], bool]] = {
    "auth_register": status(201),
    "auth_login": status(200),
    "auth_me": status(200),
    "authorizer": lambda r: (
        r["isAuthorized"] is True
        and r["context"]
        == {"user_id": demo.USER_ID, "organization_id": demo.ORGANIZATION_ID, "session_id": ""}
    ),
    "authorizer_rejected": lambda r: r == {"isAuthorized": False},
    "products_create": status(201),
    "products_list": status(200),
    "products_get": status(200),
    "products_update": status(200),
    "products_delete": status(204),
    "store_product": status(200),
    "checkout": status(201),
    "checkout_order": status(200),
    "webhook_stripe": status(200),
    "orders_list": status(200),
    "orders_get": status(200),
    "integrations_create": status(201),
    "integrations_list": status(200),
    "integrations_update": status(200),
    "integrations_delete": status(204),
    "integrations_sync": status(202),
    "analytics_metrics": status(200),
    "analytics_runs": status(200),
    "analytics_accounts": status(200),
    "analytics_funnel": status(200),
    "analytics_content": status(200),
    "analytics_summary": status(200),
    "integrations_connect": status(200),
    # A state POST /integrations/connect never issued: refused (the dialog's real code and
    # state are a person's to bring back).
    "integrations_connect_callback": status(422),
    "meta_deauthorize": status(200),
    "meta_data_deletion": status(200),
    "meta_data_deletion_status": status(404),  # no deletion has that code
    "schedule": lambda r: r["jobs"] >= 1,
    "sqs_batch": lambda r: r == {"batchItemFailures": []},
    "analytics_exports_create": status(202),
    "analytics_exports_get": status(404),  # the demo has no export of that id
    # An export the demo does not have: acknowledged (nothing to write), not retried.
    "sqs_export": lambda r: r == {"batchItemFailures": []},
}


@pytest.fixture
def demo_stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    s = start_stack(
        tmp_path, free_port(), {"DATABASE_URL": database_url, **TEST_SECRETS}, ["--seed-demo"]
    )
    yield s
    assert s.stop() == 0


def _events() -> dict[str, dict[str, Any]]:
    return {
        p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(EVENTS.glob("*.json"))
    }


def test_every_event_file_has_an_expected_answer() -> None:
    assert set(_events()) == set(EXPECTED)


def _answer(result: Any) -> Any:
    if isinstance(result, dict) and isinstance(result.get("body"), str) and result["body"]:
        return {**result, "body": json.loads(result["body"])}
    return result


def test_every_event_gets_its_intended_answer_and_never_a_5xx(demo_stack: Stack) -> None:
    app = parse()
    events = _events()
    for name, event in events.items():
        fresh = refresh(event, TEST_SECRETS)
        result, error = demo_stack.invoke(function_for(fresh, app), fresh)
        assert error is None, (name, result)
        assert EXPECTED[name](result), (name, _answer(result))
    # The demo is in the state the events left it in: the order is paid, page 3030 renewed.
    token = refresh(events["authorizer"], TEST_SECRETS)["identitySource"][0].split()[1]
    status_code, _, order = demo_stack.call("GET", f"/orders/{demo.ORDER_ID}", token=token)
    assert (status_code, order["status"]) == (200, "paid")
    # Sent again, nothing is a server error (some are 404 / 409 now: deleted, connected).
    for name, event in events.items():
        fresh = refresh(event, TEST_SECRETS)
        result, error = demo_stack.invoke(function_for(fresh, app), fresh)
        assert error is None, (name, result)
        if isinstance(result, dict) and "statusCode" in result:
            assert result["statusCode"] < 500, (name, _answer(result))


def test_the_static_events_need_refreshing_only_where_they_say_so() -> None:
    events = _events()
    # The webhook's signature cannot be static: refresh signs the body anew, as Stripe does.
    stale = events["webhook_stripe"]
    fresh = refresh(stale, TEST_SECRETS)
    assert fresh["body"] == stale["body"]
    verify(
        fresh["headers"]["stripe-signature"],
        fresh["body"].encode(),
        TEST_SECRETS["STRIPE_WEBHOOK_SECRET"],
    )
    assert json.loads(fresh["body"])["type"] == "checkout.session.completed"
    # The demo token placeholder becomes a bearer token; other events are left as they are.
    assert DEMO_TOKEN in events["authorizer"]["identitySource"]
    assert DEMO_TOKEN not in refresh(events["authorizer"], TEST_SECRETS)["identitySource"]
    assert refresh(events["products_get"], TEST_SECRETS) == events["products_get"]


def test_make_invoke_sends_an_event_and_writes_refreshed_ones(
    demo_stack: Stack, tmp_path: Path
) -> None:
    # The environment of a user's shell: the stack found through its state file.
    env = {k: v for k, v in demo_stack.env.items() if k not in ("LAMBDA_PORT", "SQS_PORT")}
    done = run_module(
        "nexus_local.invoke",
        "events/webhook_stripe.json",
        "events/products_get.json",
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--> CheckoutFunction <- events/webhook_stripe.json\nstatusCode 200" in done.stdout
    assert "--> ProductsFunction <- events/products_get.json\nstatusCode 200" in done.stdout
    # --output writes events for sam local invoke, signed now
    out = tmp_path / "for-sam"
    done = run_module(
        "nexus_local.invoke",
        "events/webhook_stripe.json",
        "--output",
        str(out),
        env=env,
        timeout=120,
        check=True,
    )
    written = json.loads((out / "webhook_stripe.json").read_text(encoding="utf-8"))
    verify(
        written["headers"]["stripe-signature"],
        written["body"].encode(),
        TEST_SECRETS["STRIPE_WEBHOOK_SECRET"],
    )
    assert "(for CheckoutFunction)" in done.stdout
