"""Walk-through: connecting a Facebook Page and its Instagram account with Facebook Login,
and Meta's compliance callbacks.

A new seller (a new address each run) starts the connect flow, consents in the sandbox's
Facebook Login dialog as Dana Demo (Meta user 5050), and connects Page 1010 and Instagram
account 17841400000001010 from the connection; the scheduled fan-out runs now and both are
ingested, with 90 days of account-level history. A declined required permission and a
reused state are refused (422). Then Meta's callbacks, signed with the stack's
META_APP_SECRET as ``make meta`` signs them: deauthorize (the integrations need a new
connection, which a second dialog gives them), and data deletion (everything of Meta user
5050's is erased, in every organization, under a confirmation code whose status is public).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
import uuid
from typing import Any

from nexus_ops.__main__ import main as ops

from nexus_local import meta_cli
from walkthroughs import browser
from walkthroughs.client import Api, WalkthroughFailed, show, wait_for

ACCOUNT, META_USER = "Dana Demo", "5050"
TARGETS = (("facebook", "1010"), ("instagram", "17841400000001010"))
CALLBACK = "/integrations/connect/callback"
# The web app serves the API under /api (the deletion's url); the stack serves it at the root.
WEB_API_PREFIX = "/api"


def _register(api: Api) -> None:
    address = f"connect-{uuid.uuid4().hex[:8]}@example.com"
    seller = {"email": address, "password": "a long connect passphrase", "name": "Connie"}
    reply = api.expect(
        "register a new seller", "POST", "/auth/register", seller, ok=(201,), auth=False
    )
    print(f"   {address}")
    api.token = str(reply.body["access_token"])


def _split(url: str) -> tuple[str, dict[str, str]]:
    """A URL without its query, and the query (the last value of each name)."""
    parts = urllib.parse.urlsplit(url)
    query = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query).items()}
    return parts._replace(query="").geturl(), query


def _consent(api: Api, *, untick: tuple[str, ...] = ()) -> dict[str, str]:
    """Start the flow and consent in the dialog as a browser would: the redirect's query."""
    started = api.expect(
        "start the connect flow", "POST", "/integrations/connect", {"provider": "facebook"}
    ).body
    url = str(started["authorize_url"])
    dialog, asked = _split(url)
    page = browser.open_page(url)
    show(api.next_step("open authorize_url in the browser"), f"GET {dialog}?… -> {page.status}")
    if page.status != 200:
        raise WalkthroughFailed(f"the dialog answered {page.status}: {page.html[:200]}")
    accounts = [b.removeprefix("Continue as ") for f in page.forms for b in f.buttons]
    print(f"   choose an account: {', '.join(a for a in accounts if a != 'Cancel')}")
    print(f"   permissions asked: {asked.get('scope')}")
    button = f"Continue as {ACCOUNT}"
    unticked = ", ".join(n.removeprefix("perm_") for n in untick)
    sent = browser.submit(page, button, untick=untick)
    what = f"press {button!r}" + (f", {unticked} unticked" if untick else "")
    show(api.next_step(what), f"{sent.method} -> {sent.status}")
    if sent.status != 303 or not sent.location:
        raise WalkthroughFailed(f"the dialog's {button!r} answered {sent.status}, no redirect")
    target, back = _split(sent.location)
    print(f"   redirected to the web app: {target}?code=…&state=…")
    if back.get("denied_scopes"):
        print(f"   denied_scopes={back['denied_scopes']}")
    if back.get("state") != started["state"] or "code" not in back:
        raise WalkthroughFailed(f"the dialog sent back no code or another state: {back}")
    return back


def _callback(api: Api, back: dict[str, str], *, ok: tuple[int, ...] = (200,)) -> Any:
    body = {"code": back["code"], "state": back["state"]}
    return api.expect("hand code and state to the API", "POST", CALLBACK, body, ok=ok).body


def _connection(api: Api) -> tuple[str, dict[str, str]]:
    """A new connection (its id), and the redirect's query that made it."""
    back = _consent(api)
    made = _callback(api, back)
    print("   the connection's accounts:")
    for a in made["accounts"]:
        connected = " (connected here)" if a["connected"] else ""
        print(
            f"     {a['provider']} {a['external_id']} {a.get('username') or a['name']}{connected}"
        )
    return str(made["connection_id"]), back


def _add(api: Api, connection_id: str, *, ok: tuple[int, ...]) -> dict[str, dict[str, Any]]:
    added: dict[str, dict[str, Any]] = {}
    for provider, external_id in TARGETS:
        body = {"connection_id": connection_id, "provider": provider, "external_id": external_id}
        what = f"connect {provider} {external_id} from the connection"
        reply = api.expect(what, "POST", "/integrations", body, ok=ok).body
        print(f"   {reply['name']} ({reply['provider']}): {reply['status']}")
        added[provider] = reply
    return added


def _listed(api: Api) -> dict[str, dict[str, Any]]:
    reply = api.call("GET", "/integrations")
    if reply.status != 200:
        raise WalkthroughFailed(f"GET /integrations: {reply.status} {reply.body}")
    return {i["id"]: i for i in reply.body["items"]}


def _ingested_since(api: Api, since: dt.datetime, ids: list[str]) -> dict[str, Any] | None:
    """The integrations' last runs (GET /integrations), once each finished ok after
    ``since``; else None."""
    listed = _listed(api)
    runs = {i: (listed.get(i) or {}).get("last_run") or {} for i in ids}
    for run in runs.values():
        finished = run.get("finished_at")
        if run.get("status") != "ok" or not finished:
            return None
        if dt.datetime.fromisoformat(finished) < since:
            return None
    return runs


def _ingest(api: Api, ids: dict[str, str]) -> None:
    fired_at = dt.datetime.now(dt.UTC)
    print(api.next_step("run the scheduled fan-out now (one job per active integration)"))
    print('   $ make ops ARGS="--local fire"')
    if ops(["--local", "fire"]) != 0:
        raise WalkthroughFailed('make ops ARGS="--local fire" failed')
    runs = wait_for(
        "the Page and the Instagram account to be ingested",
        lambda: _ingested_since(api, fired_at, list(ids.values())),
    )
    for provider, integration in ids.items():
        last = runs[integration]
        print(f"   {provider}: last run {last['status']}, {last['content_total']} posts")


def _metrics(api: Api, ids: dict[str, str]) -> None:
    rows = api.expect(
        "the Instagram account's metric rows",
        "GET",
        f"/analytics/metrics?integration_id={ids['instagram']}&limit=1000",
    ).body["items"]
    providers = sorted({r["provider"] for r in rows})
    reels = [r for r in rows if r["profile_visits"] is None]
    feed = [r for r in rows if r["profile_visits"] is not None]
    print(f"   {len(rows)} rows, provider {', '.join(providers)}; for example:")
    keys = ("content_id", "impressions", "reach", "saves", "profile_visits", "follows")
    for row in (feed[:2] + reels[:1]) or rows[:3]:
        print("     " + ", ".join(f"{k} {row[k]}" for k in keys))
    print(f"   {len(reels)} rows have profile_visits and follows null: Reels have neither")
    if providers != ["instagram"] or not feed or all(r["saves"] is None for r in rows):
        raise WalkthroughFailed(f"unexpected Instagram rows: {rows[:3]}")

    since = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=89)).isoformat()
    days = api.expect(
        "account-level days of the last 90 (the first sync's backfill)",
        "GET",
        f"/analytics/accounts?from={since}",
    ).body["items"]
    for provider, integration in ids.items():
        mine = [d for d in days if d["integration_id"] == integration]
        last = mine[-1] if mine else {}
        span = f"{mine[0]['date']} to {last['date']}" if mine else "none"
        numbers = ", ".join(f"{k} {last.get(k)}" for k in ("followers", "reach", "views"))
        print(f"   {provider}: {len(mine)} days ({span}); the last: {numbers}")
        if len(mine) < 89:
            raise WalkthroughFailed(f"{provider}: {len(mine)} account days, expected about 90")


def _refusals(api: Api, first: dict[str, str]) -> None:
    back = _consent(api, untick=("perm_read_insights",))
    problem = _callback(api, back, ok=(422,))
    print(f"   {problem.get('detail')}")
    print(f"   errors: {problem.get('errors')}")
    if "read_insights" not in str(problem.get("detail")):
        raise WalkthroughFailed(f"the 422 does not name read_insights: {problem}")
    body = {"code": first["code"], "state": first["state"]}
    reused = api.expect(
        "the first redirect's code and state again (a reloaded callback page)",
        "POST",
        CALLBACK,
        body,
        ok=(422,),
    ).body
    print(f"   {reused.get('detail')}")
    print(f"   errors: {reused.get('errors')}")


def _meta_callback(api: Api, what: str, name: str) -> Any:
    raw = meta_cli.form(meta_cli.app_secret(), META_USER)
    path = meta_cli.CALLBACKS[name]
    headers = {"Content-Type": meta_cli.FORM}
    reply = api.expect(what, "POST", path, raw=raw, headers=headers, auth=False)
    print(f'   signed_request=… as make meta ARGS="{name} --user {META_USER}" signs it')
    return reply.body


def _reconnect(api: Api, ids: dict[str, str]) -> None:
    answer = _meta_callback(api, f"Meta: user {META_USER} removes the app", "deauthorize")
    print(f"   {answer}")
    listed = _listed(api)
    statuses = {p: listed[i]["status"] for p, i in ids.items()}
    print(f"   GET /integrations: {statuses}")
    if set(statuses.values()) != {"needs_reauth"}:
        raise WalkthroughFailed(f"after deauthorize: {statuses}")

    print(api.next_step("the seller connects again, through a new dialog"))
    connection_id, _ = _connection(api)
    revived_at = dt.datetime.now(dt.UTC)
    again = _add(api, connection_id, ok=(200,))
    if {p: a["id"] for p, a in again.items()} != ids:
        raise WalkthroughFailed(f"the reconnect made new integrations: {again}")
    if {a["status"] for a in again.values()} != {"active"}:
        raise WalkthroughFailed(f"the reconnect did not make them active: {again}")
    # The reconnect queued a sync of each: let it finish before their data is erased.
    wait_for(
        "the sync the reconnect queued",
        lambda: _ingested_since(api, revived_at, list(ids.values())),
    )


def _erase(api: Api, ids: dict[str, str]) -> None:
    what = f"Meta: user {META_USER} asks for their data to be deleted"
    accepted = _meta_callback(api, what, "data-deletion")
    show("   the answer, for Meta", value=accepted)
    path = urllib.parse.urlsplit(accepted["url"]).path.removeprefix(WEB_API_PREFIX)
    status = api.expect(
        "the deletion's status (the url's path on the API; public)", "GET", path, auth=False
    ).body
    print(f"   {status['status']}, completed at {status['completed_at']}")
    if status["status"] != "complete":
        raise WalkthroughFailed(f"the data deletion is {status['status']}")
    listed = api.expect("the seller's integrations", "GET", "/integrations").body["items"]
    left = [i["id"] for i in listed if i["id"] in ids.values()]
    print(f"   {len(ids) - len(left)} of {len(ids)} gone, {len(listed)} left")
    if left:
        raise WalkthroughFailed(f"still listed after the data deletion: {left}")


def run(api: Api) -> None:
    _register(api)
    connection_id, first = _connection(api)
    ids = {p: str(a["id"]) for p, a in _add(api, connection_id, ok=(201,)).items()}
    _ingest(api, ids)
    _metrics(api, ids)
    _refusals(api, first)
    _reconnect(api, ids)
    _erase(api, ids)
    print(f"done: connected, ingested, deauthorized, reconnected, erased (Meta user {META_USER})")
