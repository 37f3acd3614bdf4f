"""Meta's compliance callbacks through the API (contract §9), on a real PostgreSQL, as the
function's own role: deauthorize forgets a Meta user's tokens, data deletion erases
everything of theirs and reports it under its confirmation code, and nothing that is not a
valid signed_request changes anything.

Meta user 5050 has, in two organizations, a Facebook Page and an Instagram account, a
soft-deleted Page, and their content, metrics, account days, runs and a connect-flow
connection; Meta user 6060's integration and a pasted-token one in the same organization
must come through untouched."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest

from nexus import crypto
from nexus.ingest import consumer
from nexus.ingest.job import IngestJob
from nexus.meta import compliance_repository
from nexus.meta.compliance_repository import ComplianceRepository
from nexus.meta.signed_request import sign
from nexus.settings import get_settings
from tests.support.api import Api, Reply, assert_problem

SECRET = "meta-app-secret-for-tests-0123456789"
WEB = "https://nexus.example"
USER, OTHER = "5050", "6060"
FORM = "application/x-www-form-urlencoded"
DEAUTHORIZE, DELETION = "/webhooks/meta/deauthorize", "/webhooks/meta/data-deletion"
CHILD_TABLES = (
    "analytics_content",
    "analytics_daily_metrics",
    "analytics_account_daily",
    "ingestion_runs",
    "analytics_rollup_daily",
)
NOW = dt.datetime.now(dt.UTC)
TODAY = NOW.date()


@dataclass
class World:
    token: str  # the first seller's access token
    org: str
    mine: dict[str, str]  # name → integration id, Meta user 5050's
    others: dict[str, str]  # name → integration id, not 5050's


def payload(user_id: Any = USER, **extra: Any) -> dict[str, Any]:
    return {"algorithm": "HMAC-SHA256", "issued_at": 1_790_000_000, "user_id": user_id, **extra}


def form(value: str) -> str:
    return urlencode({"signed_request": value})


def post_form(api: Api, path: str, body: str | bytes, content_type: str = FORM) -> Reply:
    return api.post(path, body=body, headers={"content-type": content_type})


def signed_form(user_id: str = USER, secret: str = SECRET) -> str:
    return form(sign(secret, payload(user_id)))


@pytest.fixture(autouse=True)
def meta_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("META_APP_SECRET", SECRET)
    monkeypatch.setenv("WEB_BASE_URL", WEB)
    get_settings.cache_clear()
    return SECRET


def _integration(
    conn: Any, org: str, provider: str, external_id: str, meta_user: str | None, **kw: Any
) -> str:
    integration = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO integrations (id, organization_id, provider, external_id, name,"
        " access_token_ciphertext, meta_user_id, token_source, deleted_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            integration,
            org,
            provider,
            external_id,
            f"{provider} {external_id}",
            crypto.encrypt(f"token-{external_id}", integration),
            meta_user,
            "connect" if meta_user else "manual",
            kw.get("deleted_at"),
        ),
    )
    for day in (TODAY - dt.timedelta(days=1), TODAY):
        content = f"{external_id}_{day.isoformat()}"
        conn.execute(
            "INSERT INTO analytics_content (organization_id, integration_id, content_id,"
            " message, permalink_url, media_type) VALUES (%s, %s, %s, 'hi', 'https://x.io/p',"
            " 'IMAGE')",
            (org, integration, content),
        )
        conn.execute(
            "INSERT INTO analytics_daily_metrics (organization_id, integration_id, content_id,"
            " date, impressions, saves) VALUES (%s, %s, %s, %s, 7, 1)",
            (org, integration, content, day),
        )
        conn.execute(
            "INSERT INTO analytics_account_daily (organization_id, integration_id, date,"
            " followers) VALUES (%s, %s, %s, 100)",
            (org, integration, day),
        )
        conn.execute(
            "INSERT INTO ingestion_runs (organization_id, integration_id, date, status)"
            " VALUES (%s, %s, %s, 'ok')",
            (org, integration, day),
        )
        conn.execute(
            "INSERT INTO analytics_rollup_daily (organization_id, integration_id, date, views)"
            " VALUES (%s, %s, %s, 7)",
            (org, integration, day),
        )
    return integration


def _connection(conn: Any, org: str, user: str, meta_user: str) -> None:
    conn.execute(
        "INSERT INTO meta_connections (id, organization_id, user_id, meta_user_id,"
        " granted_scopes, accounts, tokens_ciphertext) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (uuid.uuid4(), org, user, meta_user, ["pages_show_list"], json.dumps([]), b"\x01"),
    )


def _seller(api: Api, conn: Any, email: str) -> tuple[str, str, str]:
    token = api.seller(email)
    org, user = conn.execute(
        "SELECT organization_id::text, id::text FROM users WHERE email = %s", (email,)
    ).fetchone()
    return token, org, user


@pytest.fixture
def world(api: Api, conn: Any) -> World:
    token, org, user = _seller(api, conn, "owner@example.com")
    _, org2, user2 = _seller(api, conn, "second@example.com")
    mine = {
        "facebook": _integration(conn, org, "facebook", "111", USER),
        "instagram": _integration(conn, org, "instagram", "17841400000000111", USER),
        "deleted": _integration(conn, org, "facebook", "112", USER, deleted_at=NOW),
        "elsewhere": _integration(conn, org2, "facebook", "113", USER),
    }
    others = {
        "other_user": _integration(conn, org, "facebook", "222", OTHER),
        "pasted": _integration(conn, org, "facebook", "333", None),
    }
    for o, u in ((org, user), (org2, user2)):
        _connection(conn, o, u, USER)
    _connection(conn, org, user, OTHER)
    return World(token=token, org=org, mine=mine, others=others)


def snapshot(conn: Any) -> dict[str, Any]:
    """Everything the callbacks may touch, row by row."""
    tables: dict[str, Any] = {
        "integrations": conn.execute(
            "SELECT id::text, status, access_token_ciphertext, meta_user_id, deleted_at,"
            " updated_at FROM integrations ORDER BY id"
        ).fetchall(),
        "meta_connections": conn.execute(
            "SELECT id::text, meta_user_id FROM meta_connections ORDER BY id"
        ).fetchall(),
        "meta_data_deletions": conn.execute(
            "SELECT * FROM meta_data_deletions ORDER BY confirmation_code"
        ).fetchall(),
    }
    for table in CHILD_TABLES:
        tables[table] = conn.execute(
            f"SELECT integration_id::text, count(*) FROM {table}"  # noqa: S608 - constant
            " GROUP BY integration_id ORDER BY integration_id"
        ).fetchall()
    return tables


def rows_of(conn: Any, integration_ids: list[str]) -> dict[str, int]:
    counts = {
        table: conn.execute(
            f"SELECT count(*) FROM {table} WHERE integration_id = ANY(%s::uuid[])",  # noqa: S608
            (integration_ids,),
        ).fetchone()[0]
        for table in CHILD_TABLES
    }
    counts["integrations"] = conn.execute(
        "SELECT count(*) FROM integrations WHERE id = ANY(%s::uuid[])", (integration_ids,)
    ).fetchone()[0]
    return counts


def connections_of(conn: Any, meta_user: str) -> int:
    return int(
        conn.execute(
            "SELECT count(*) FROM meta_connections WHERE meta_user_id = %s", (meta_user,)
        ).fetchone()[0]
    )


def others_state(conn: Any, world: World) -> Any:
    ids = list(world.others.values())
    integrations = conn.execute(
        "SELECT id::text, status, access_token_ciphertext, updated_at FROM integrations"
        " WHERE id = ANY(%s::uuid[]) ORDER BY id",
        (ids,),
    ).fetchall()
    return integrations, rows_of(conn, ids), connections_of(conn, OTHER)


# ------------------------------------------------------------------------------ deauthorize
def test_deauthorize_forgets_the_users_tokens_and_connections(
    api: Api, conn: Any, world: World, as_role: Callable[[str | None], None]
) -> None:
    before = others_state(conn, world)
    children = rows_of(conn, list(world.mine.values()))
    reply = post_form(api, DEAUTHORIZE, signed_form())
    assert reply.status == 200, reply.text
    assert reply.json() == {"integrations": 3}  # the live ones, in both organizations

    rows = conn.execute(
        "SELECT id::text, status, access_token_ciphertext FROM integrations"
        " WHERE meta_user_id = %s",
        (USER,),
    ).fetchall()
    assert {r[0] for r in rows} == set(world.mine.values())
    assert all(r[1:] == ("needs_reauth", None) for r in rows)
    assert connections_of(conn, USER) == 0
    assert rows_of(conn, list(world.mine.values())) == children  # the data stays
    assert others_state(conn, world) == before

    listed = {
        i["id"]: i["status"] for i in api.get("/integrations", token=world.token).json()["items"]
    }
    assert listed == {
        world.mine["facebook"]: "needs_reauth",
        world.mine["instagram"]: "needs_reauth",
        world.others["other_user"]: "active",
        world.others["pasted"]: "active",
    }

    # Ingestion skips them: the token is gone, and Graph is never called.
    def no_graph(token: str) -> Any:
        raise AssertionError("Graph called for a deauthorized integration")

    as_role("nexus_ingest")
    for name in ("facebook", "instagram"):
        job = IngestJob(
            integration_id=world.mine[name], organization_id=world.org, snapshot_date=TODAY
        )
        outcome = consumer.process(job, body=job.model_dump_json(), client_factory=no_graph)
        assert outcome.status == "skipped"

    # Meta may deliver it again: the same outcome, nothing else changes.
    again = post_form(api, DEAUTHORIZE, signed_form())
    assert (again.status, again.json()) == (200, {"integrations": 3})
    assert others_state(conn, world) == before


def test_deauthorize_for_a_user_without_integrations_is_200(api: Api, world: World) -> None:
    reply = post_form(api, DEAUTHORIZE, signed_form("999"))
    assert (reply.status, reply.json()) == (200, {"integrations": 0})


def test_a_reenabled_integration_stays_needs_reauth_without_a_token(
    api: Api, conn: Any, world: World
) -> None:
    path = f"/integrations/{world.mine['facebook']}"
    assert api.patch(path, json_body={"enabled": False}, token=world.token).status == 200
    assert post_form(api, DEAUTHORIZE, signed_form()).status == 200
    reply = api.patch(path, json_body={"enabled": True}, token=world.token)
    assert reply.json()["status"] == "needs_reauth"


# ---------------------------------------------------------------------------- data deletion
def test_data_deletion_erases_everything_of_the_user_and_reports_it(
    api: Api, conn: Any, world: World, as_role: Callable[[str | None], None]
) -> None:
    before = others_state(conn, world)
    reply = post_form(api, DELETION, signed_form())
    assert reply.status == 200, reply.text
    answer = reply.json()
    assert set(answer) == {"url", "confirmation_code"}
    code = answer["confirmation_code"]
    assert re.fullmatch(r"[0-9a-f]{20}", code)
    assert answer["url"] == f"{WEB}/api/meta/data-deletion/{code}"

    assert rows_of(conn, list(world.mine.values())) == dict.fromkeys(
        (*CHILD_TABLES, "integrations"), 0
    )
    assert conn.execute(
        "SELECT count(*) FROM integrations WHERE meta_user_id = %s", (USER,)
    ).fetchone() == (0,)
    assert connections_of(conn, USER) == 0
    assert others_state(conn, world) == before
    assert conn.execute(
        "SELECT meta_user_id, status, integrations, completed_at >= requested_at"
        " FROM meta_data_deletions WHERE confirmation_code = %s",
        (code,),
    ).fetchone() == (USER, "complete", 4, True)

    status = api.get(f"/meta/data-deletion/{code}")  # public: no token
    assert status.status == 200, status.text
    body = status.json()
    assert set(body) == {"confirmation_code", "status", "requested_at", "completed_at"}
    assert (body["confirmation_code"], body["status"]) == (code, "complete")
    assert dt.datetime.fromisoformat(body["completed_at"]) >= dt.datetime.fromisoformat(
        body["requested_at"]
    )
    listed = [i["id"] for i in api.get("/integrations", token=world.token).json()["items"]]
    assert sorted(listed) == sorted(world.others.values())

    # A job queued before the erase is skipped, not dead-lettered as a message for no
    # integration: only the erased ids are kept (no name, no token, no Meta user).
    as_role("nexus_ingest")
    job = IngestJob(
        integration_id=world.mine["instagram"], organization_id=world.org, snapshot_date=TODAY
    )
    assert consumer.process(job, body=job.model_dump_json()).status == "skipped"
    erased = conn.execute("SELECT count(*) FROM erased_integrations").fetchone()
    assert erased == (4,)


def test_a_repeated_deletion_request_gets_a_new_code_and_erases_nothing_more(
    api: Api, conn: Any, world: World
) -> None:
    first = post_form(api, DELETION, signed_form()).json()["confirmation_code"]
    after_first = snapshot(conn)
    second = post_form(api, DELETION, signed_form())
    assert second.status == 200
    code = second.json()["confirmation_code"]
    assert code != first
    rows = dict(
        conn.execute("SELECT confirmation_code, integrations FROM meta_data_deletions").fetchall()
    )
    assert rows == {first: 4, code: 0}
    later = snapshot(conn)
    assert {k: v for k, v in later.items() if k != "meta_data_deletions"} == {
        k: v for k, v in after_first.items() if k != "meta_data_deletions"
    }
    assert api.get(f"/meta/data-deletion/{code}").json()["status"] == "complete"


def test_an_error_during_the_erase_leaves_nothing_half_deleted(
    conn: Any,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    as_role: Callable[[str | None], None],
) -> None:
    before = snapshot(conn)
    # The last delete fails, after the integrations and their rows were deleted.
    monkeypatch.setattr(
        compliance_repository, "DELETE_CONNECTIONS", "DELETE FROM meta_connections WHERE nope"
    )
    as_role("nexus_integrations")
    with pytest.raises(psycopg.errors.UndefinedColumn):
        ComplianceRepository().erase(meta_user_id=USER, confirmation_code=secrets.token_hex(10))
    assert snapshot(conn) == before


@pytest.mark.parametrize(
    "code", ["0123456789abcdef0123", "nope", "0123456789ABCDEF0123", "a" * 65, "%00", "..%2F"]
)
def test_an_unknown_confirmation_code_is_404(api: Api, world: World, code: str) -> None:
    post_form(api, DELETION, signed_form())
    assert_problem(api.get(f"/meta/data-deletion/{code}"), 404)


# --------------------------------------------------------------------------------- refusals
def _tampered() -> str:
    signature, _ = sign(SECRET, payload()).split(".")
    _, forged = sign(SECRET, payload(OTHER)).split(".")
    return form(f"{signature}.{forged}")


REFUSED: dict[str, tuple[str | bytes, str, int]] = {
    "tampered payload": (_tampered(), FORM, 401),
    "wrong secret": (signed_form(secret="another-apps-secret"), FORM, 401),
    "wrong algorithm": (form(sign(SECRET, {**payload(), "algorithm": "HMAC-SHA1"})), FORM, 401),
    "no user_id": (form(sign(SECRET, {"algorithm": "HMAC-SHA256", "issued_at": 1})), FORM, 401),
    "bad base64": (form("not+base64.at/all"), FORM, 401),
    "unsigned": (form("eyJ1c2VyX2lkIjoiNTA1MCJ9"), FORM, 401),
    "empty signed_request": ("signed_request=", FORM, 401),
    "missing field": ("user_id=5050", FORM, 400),
    "duplicated field": (signed_form() + "&" + signed_form(), FORM, 400),
    "no body": ("", FORM, 400),
    "garbage": ("%%%garbage", FORM, 400),
    "not UTF-8": (b"signed_request=\xff\xfe", FORM, 400),
    "JSON body": (json.dumps({"signed_request": sign(SECRET, payload())}), "application/json", 400),
    "form as text/plain": (signed_form(), "text/plain", 400),
    "form as multipart": (signed_form(), "multipart/form-data; boundary=x", 400),
}


@pytest.mark.parametrize("path", [DEAUTHORIZE, DELETION])
@pytest.mark.parametrize("case", list(REFUSED))
def test_anything_but_a_valid_signed_request_changes_nothing(
    api: Api, conn: Any, world: World, path: str, case: str
) -> None:
    body, content_type, status = REFUSED[case]
    before = snapshot(conn)
    problem = assert_problem(post_form(api, path, body, content_type), status)
    assert SECRET not in json.dumps(problem)
    assert snapshot(conn) == before


@pytest.mark.parametrize(
    "content_type",
    ["Application/X-WWW-Form-Urlencoded", "application/x-www-form-urlencoded; charset=UTF-8"],
)
def test_the_form_media_type_is_case_insensitive_and_may_name_a_charset(
    api: Api, world: World, content_type: str
) -> None:
    assert post_form(api, DEAUTHORIZE, signed_form(), content_type).status == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/integrations"), ("POST", "/auth/login"), ("PATCH", "/integrations/x")],
)
def test_every_other_route_still_refuses_a_form(
    api: Api, world: World, method: str, path: str
) -> None:
    reply = api.request(
        method, path, body=signed_form(), headers={"content-type": FORM}, token=world.token
    )
    problem = assert_problem(reply, 400)
    assert problem["detail"] == "Content-Type must be application/json."
