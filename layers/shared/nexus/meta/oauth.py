"""Facebook Login, server side: the dialog URL, the code and long-lived token exchanges, and
what a user token can see (who, which permissions, which Pages with their tokens and linked
Instagram professional accounts).

- Every call goes through :class:`nexus.graph.client.GraphClient` (timeouts, retries, error
  parsing); calls made with a user token carry ``appsecret_proof``.
- The app secret travels only in a POST body (``/oauth/access_token`` accepts a form), never
  in a URL.
- Page tokens come from ``/me/accounts`` asked with the long-lived user token: those do not
  expire (Meta can still invalidate them), while the short-lived user token's would within
  hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from nexus.deadline import Deadline
from nexus.graph.client import GraphClient
from nexus.secrets import resolve_secret
from nexus.settings import Settings, get_settings

# What reading Page and Instagram insights needs (contract §9); Instagram's are optional.
REQUIRED_SCOPES = ("pages_show_list", "pages_read_engagement", "read_insights")
INSTAGRAM_SCOPES = ("instagram_basic", "instagram_manage_insights")
SCOPES = (*REQUIRED_SCOPES, *INSTAGRAM_SCOPES)
ACCOUNT_FIELDS = "id,name,access_token,tasks,instagram_business_account{id,username,name}"
ACCOUNTS_PAGE = 100
MAX_ACCOUNT_PAGES = 20  # 2,000 Pages: a bound on a loop that Meta's paging drives
REDEEM_BUDGET_SECONDS = 8.0


def redirect_uri(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return f"{settings.web_base_url.rstrip('/')}/dashboard/integrations/callback"


def app_secret(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return resolve_secret(
        settings.meta_app_secret, settings.meta_app_secret_arn, name="META_APP_SECRET"
    )


def dialog_url(state: str, settings: Settings | None = None) -> str:
    """Meta's Login dialog for this app: scopes, or a Login for Business configuration."""
    settings = settings or get_settings()
    params = {
        "client_id": settings.meta_app_id or "",
        "redirect_uri": redirect_uri(settings),
        "state": state,
        "response_type": "code",
    }
    if settings.meta_login_config_id:
        params["config_id"] = settings.meta_login_config_id
    else:
        params["scope"] = ",".join(SCOPES)
    base = settings.meta_oauth_dialog_url.rstrip("/")
    return f"{base}/{settings.graph_api_version}/dialog/oauth?{urlencode(params)}"


@dataclass(frozen=True)
class Account:
    provider: str  # facebook | instagram
    external_id: str
    name: str
    username: str | None
    token: str  # the Page's token (an Instagram account is read with its Page's)


@dataclass(frozen=True)
class Grant:
    meta_user_id: str
    user_token: str
    granted: frozenset[str]
    accounts: list[Account]


def _client(
    token: str | None, secret: str | None, settings: Settings, deadline: Deadline
) -> GraphClient:
    return GraphClient(
        token,
        base_url=settings.graph_api_base_url,
        version=settings.graph_api_version,
        timeout=settings.graph_timeout_seconds,
        retries=min(settings.graph_retries, 1),
        app_secret=secret,
        deadline=deadline,
    )


def _object(body: Any) -> dict[str, Any]:
    """Meta's answer as a JSON object, or ValueError (the caller's 502)."""
    if not isinstance(body, dict):
        raise ValueError("Meta answered something other than a JSON object")
    return body


def _items(body: Any) -> list[dict[str, Any]]:
    data = _object(body).get("data") or []
    if not isinstance(data, list):
        raise ValueError("Meta answered a list that is not a list")
    return [item for item in data if isinstance(item, dict)]


def _token(body: Any) -> str:
    token = _object(body).get("access_token")
    if not isinstance(token, str) or not token:
        raise ValueError("Meta answered a token exchange without an access_token")
    return token


def _accounts(client: GraphClient, instagram: bool) -> list[Account]:
    accounts: list[Account] = []
    params: dict[str, Any] = {"fields": ACCOUNT_FIELDS, "limit": ACCOUNTS_PAGE}
    for _ in range(MAX_ACCOUNT_PAGES):
        body = _object(client.call("GET", "me/accounts", params))
        for page in _items(body):
            token = page.get("access_token")
            if not isinstance(token, str) or not page.get("id"):
                continue  # a Page the user cannot act for: nothing to read it with
            name = str(page.get("name") or page["id"])
            accounts.append(Account("facebook", str(page["id"]), name, None, token))
            linked = page.get("instagram_business_account")
            if instagram and isinstance(linked, dict) and linked.get("id"):
                username = linked.get("username")
                accounts.append(
                    Account(
                        "instagram",
                        str(linked["id"]),
                        str(linked.get("name") or username or linked["id"]),
                        str(username) if username else None,
                        token,
                    )
                )
        paging = _object(body.get("paging") or {})
        after = _object(paging.get("cursors") or {}).get("after")
        if not paging.get("next") or not after:
            break
        params = {**params, "after": after}
    return accounts


def redeem(code: str, settings: Settings | None = None) -> Grant:
    """The code → a short-lived user token → a long-lived one → who, what was granted, and
    the accounts. Raises GraphError (Meta refused or failed) or OutOfTime."""
    settings = settings or get_settings()
    secret = app_secret(settings)
    # Every call of the redemption shares one budget inside the API function's 10 s: Meta
    # being slow is a 502 (OutOfTime), never a function timeout.
    deadline = Deadline.after(REDEEM_BUDGET_SECONDS)
    anonymous = _client(None, None, settings, deadline)
    form = {
        "client_id": settings.meta_app_id or "",
        "client_secret": secret,
        "redirect_uri": redirect_uri(settings),
        "code": code,
    }
    short = _token(anonymous.call("POST", "oauth/access_token", form))
    exchange = {
        "grant_type": "fb_exchange_token",
        "client_id": settings.meta_app_id or "",
        "client_secret": secret,
        "fb_exchange_token": short,
    }
    long = _token(anonymous.call("POST", "oauth/access_token", exchange))
    user = _client(long, secret, settings, deadline)
    meta_user_id = str(_object(user.call("GET", "me", {"fields": "id,name"})).get("id") or "")
    if not meta_user_id:
        raise ValueError("Meta answered /me without an id")
    permissions = _items(user.call("GET", "me/permissions", {}))
    granted = frozenset(
        str(p.get("permission")) for p in permissions if p.get("status") == "granted"
    )
    instagram = all(s in granted for s in INSTAGRAM_SCOPES)
    accounts = _accounts(user, instagram) if "pages_show_list" in granted else []
    return Grant(meta_user_id, long, granted, accounts)
