"""Facebook Login and Instagram for the sandbox Graph (FakeGraph(meta=FakeMeta(...))), in
Graph's wire format: the OAuth dialog (an HTML account chooser with a checkbox per requested
permission, a 303 back to redirect_uri with code/state/granted_scopes/denied_scopes, or
error=access_denied on Cancel), the code and fb_exchange_token exchanges, /me,
/me/permissions, /me/accounts (page tokens, the linked Instagram account when instagram_basic
was granted), appsecret_proof, the Instagram account node (followers_count), its media
(since/until, cursor paging) with insights per media product type, and account and Page
insights per day (at most 90 days, code 100 for deprecated metrics). ``FakeMeta.retired``
names metrics a newer Graph no longer serves (code 100 wherever they are asked for), and a
``FakeIgMedia.broken`` media has no insights (code 100, subcode 2108006: posted before the
account became a business account), as Graph's deprecations and old media do.

Page tokens: from a long-lived user token, /me/accounts gives the page's own FakePage.token
(non-expiring, as Meta's, and what /posts accepts); from a short-lived user token it gives a
short-lived page token that only these routes accept: a product that stores it without first
exchanging the user token sees code 190 from /posts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from nexus_local.fake_graph import graph_error

if TYPE_CHECKING:
    from nexus_local.fake_graph import FakePage

Answer = tuple[int, dict[str, str], Any]

SHORT_LIVED = 2 * 3600
LONG_LIVED = 60 * 86400
CODE_LIFETIME = 600
MAX_RANGE = 90 * 86400
PAGE_TASKS = ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"]
COMMON_MEDIA_METRICS = frozenset(
    {"views", "reach", "likes", "comments", "shares", "saved", "total_interactions"}
)
MEDIA_METRICS = {
    "FEED": COMMON_MEDIA_METRICS | {"profile_visits", "follows"},
    "REELS": COMMON_MEDIA_METRICS | {"ig_reels_avg_watch_time", "ig_reels_video_view_total_time"},
}
DEPRECATED_MEDIA_METRICS = frozenset({"impressions", "plays", "video_views"})
ACCOUNT_METRICS = frozenset(
    {
        "reach",
        "views",
        "follows_and_unfollows",
        "total_interactions",
        "accounts_engaged",
        "likes",
        "comments",
        "shares",
        "saved",
        "profile_links_taps",
        "follower_count",
    }
)
PAGE_METRICS = frozenset(
    {
        "page_follows",
        "page_media_view",
        "page_total_media_view_unique",
        "page_post_engagements",
        "page_daily_follows_unique",
        "page_views_total",
    }
)
HTML = {"Content-Type": "text/html; charset=UTF-8"}


@dataclass
class FakeIgMedia:
    id: str
    timestamp: datetime
    media_type: str = "IMAGE"  # IMAGE, CAROUSEL_ALBUM, VIDEO
    media_product_type: str = "FEED"  # FEED or REELS
    caption: str = ""
    insights: dict[str, int] = field(default_factory=dict)  # else seeded from the id
    broken: bool = False  # its insights fail: posted before the business-account conversion


@dataclass
class FakeIgAccount:
    id: str
    username: str
    name: str = ""
    media: list[FakeIgMedia] = field(default_factory=list)
    followers_count: int | None = None  # else seeded from the id


@dataclass
class FakeUser:
    id: str
    name: str
    pages: list[str] = field(default_factory=list)  # ids of FakeGraph pages the user manages
    instagram: dict[str, FakeIgAccount] = field(default_factory=dict)  # page id -> account


@dataclass
class Grant:
    user: FakeUser
    granted: list[str]
    declined: list[str]
    expires_at: float
    long_lived: bool = False
    page_id: str | None = None  # a short-lived page token's page


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    grant: Grant
    expires_at: float


def seeded(*parts: str, low: int = 0, high: int = 1000) -> int:
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return low + int.from_bytes(digest[:4]) % (high - low + 1)


def appsecret_proof(token: str, secret: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def split_nested(spec: str) -> list[str]:
    """Split a fields list on the commas outside () and {}."""
    parts, depth, current = [], 0, ""
    for ch in spec:
        depth += (ch in "({") - (ch in ")}")
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def paged(items: list[Any], query: dict[str, str], url: str) -> dict[str, Any]:
    limit = min(int(query.get("limit", "25")), 100)
    offset = int(base64.b64decode(query["after"]).decode()) if query.get("after") else 0
    window = items[offset : offset + limit]
    paging: dict[str, Any] = {}
    if window:
        after = base64.b64encode(str(offset + len(window)).encode()).decode()
        paging["cursors"] = {"before": base64.b64encode(str(offset).encode()).decode()}
        paging["cursors"]["after"] = after
        if offset + len(window) < len(items):
            paging["next"] = f"https://graph.facebook.com{url}?after={after}&limit={limit}"
    return {"data": window, "paging": paging}


def _bad(message: str, code: int = 100, sub: int | None = None) -> Answer:
    return 400, {}, graph_error(code, message, sub=sub)


def _retired(metric: str) -> str:
    return f"(#100) The {metric} metric is no longer supported in this version"


def _day_range(query: dict[str, str], now: float) -> tuple[int, int, Answer | None]:
    until = int(query.get("until") or now)
    since = int(query.get("since") or until - 2 * 86400)
    if until - since > MAX_RANGE:
        message = "(#100) There cannot be more than 90 days (7776000 s) between since and until"
        return since, until, _bad(message)
    if query.get("period", "day") != "day":
        return since, until, _bad("(#100) period must be one of the following values: day")
    return since, until, None


def _daily(object_id: str, name: str, since: int, until: int) -> dict[str, Any]:
    values = []
    day = datetime.fromtimestamp(since, UTC).replace(hour=7, minute=0, second=0)
    while day.timestamp() <= until:
        stamp = day.strftime("%Y-%m-%dT%H:%M:%S+0000")
        values.append({"value": seeded(object_id, name, stamp), "end_time": stamp})
        day += timedelta(days=1)
    return {
        "name": name,
        "period": "day",
        "values": values,
        "title": name.replace("_", " ").capitalize(),
        "id": f"{object_id}/insights/{name}/day",
    }


class FakeMeta:
    def __init__(
        self,
        app_id: str,
        app_secret: str,
        users: list[FakeUser] | None = None,
        *,
        configs: dict[str, list[str]] | None = None,  # Login for Business config_id -> scopes
        require_proof: bool = False,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.users = {u.id: u for u in users or []}
        self.configs = configs or {}
        self.require_proof = require_proof
        self.retired: set[str] = set()  # metrics answered with code 100, as deprecated
        self.clock: Callable[[], float] = time.time
        self.tokens: dict[str, Grant] = {}
        self._codes: dict[str, _Code] = {}
        self._lock = threading.Lock()

    # -- lookups ---------------------------------------------------------------------------
    def _ig(self, ig_id: str) -> tuple[str, FakeIgAccount] | None:
        for user in self.users.values():
            for page_id, account in user.instagram.items():
                if account.id == ig_id:
                    return page_id, account
        return None

    def _media(self, media_id: str) -> tuple[str, FakeIgMedia] | None:
        for user in self.users.values():
            for page_id, account in user.instagram.items():
                for media in account.media:
                    if media.id == media_id:
                        return page_id, media
        return None

    def _grant(self, token: str | None) -> Grant | Answer:
        grant = self.tokens.get(token or "")
        if grant is None:
            return _bad("Invalid OAuth access token - Cannot parse access token", 190)
        if grant.expires_at <= self.clock():
            return _bad("Error validating access token: Session has expired", 190, 463)
        return grant

    def _issue(self, grant: Grant) -> str:
        token = "EAA" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = grant
        return token

    # -- the gate and the routes -----------------------------------------------------------
    def gate(self, query: dict[str, str], form: dict[str, str], token: str | None) -> Answer | None:
        """appsecret_proof on a top-level request that carries a token."""
        proof = query.get("appsecret_proof") or form.get("appsecret_proof")
        if token is None:
            return None
        if proof is None:
            if self.require_proof:
                return _bad("API calls from the server require an appsecret_proof argument")
            return None
        if not hmac.compare_digest(proof, appsecret_proof(token, self.app_secret)):
            return _bad("Invalid appsecret_proof provided in the API argument")
        return None

    def dispatch(
        self,
        method: str,
        parts: list[str],
        query: dict[str, str],
        token: str | None,
        form: dict[str, str],
        *,
        pages: dict[str, FakePage],
    ) -> Answer | None:
        """The answer for a route of Login or Instagram, or None for FakeGraph's own."""
        if parts == ["dialog", "oauth"]:
            return (
                self._dialog(query, pages) if method == "GET" else self._submit({**query, **form})
            )
        if parts == ["oauth", "access_token"]:
            return self._access_token({**query, **form})
        if parts and parts[0] == "me":
            return self._me(parts[1:], query, token, pages)
        return self._objects(parts, query, token, pages)

    def _objects(
        self, parts: list[str], query: dict[str, str], token: str | None, pages: dict[str, FakePage]
    ) -> Answer | None:
        if len(parts) == 1 and self._ig(parts[0]):
            return self._ig_node(parts[0], query, token, pages)
        if len(parts) == 2 and parts[1] in ("media", "insights") and self._ig(parts[0]):
            return self._ig_route(parts[0], parts[1], query, token, pages)
        if len(parts) == 2 and parts[1] == "insights" and self._media(parts[0]):
            return self._media_insights(parts[0], query, token, pages)
        if len(parts) == 2 and parts[1] == "insights" and parts[0] in pages:
            return self._page_insights(pages[parts[0]], query, token)
        return None

    # -- the dialog ------------------------------------------------------------------------
    def _scopes(self, query: dict[str, str]) -> list[str] | None:
        if "config_id" in query:
            return self.configs.get(query["config_id"])
        raw = query.get("scope", "").replace(" ", ",")
        return [s for s in raw.split(",") if s]

    def _dialog(self, query: dict[str, str], pages: dict[str, FakePage]) -> Answer:
        scopes = self._scopes(query)
        if query.get("client_id") != self.app_id or not query.get("redirect_uri"):
            return self._error_page("Invalid App ID: the app_id is not valid for this request.")
        if scopes is None:
            return self._error_page("Invalid config_id.")
        keep = {k: query.get(k, "") for k in ("client_id", "redirect_uri", "state")}
        keep["scope"] = ",".join(scopes)
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in keep.items()
        )
        forms = []
        for user in self.users.values():
            names = [f"{pages[p].name} ({p})" if p in pages else p for p in user.pages]
            boxes = "".join(
                f'<label><input type="checkbox" name="perm_{html.escape(s)}" checked> '
                f"{html.escape(s)}</label><br>"
                for s in scopes
            )
            forms.append(
                f'<form method="post" class="account">{hidden}'
                f'<input type="hidden" name="user_id" value="{html.escape(user.id)}">'
                f"<p>{html.escape(user.name)}: {html.escape(', '.join(names))}</p>"
                f'{boxes}<button name="action" value="continue">'
                f"Continue as {html.escape(user.name)}</button></form>"
            )
        cancel = (
            f'<form method="post">{hidden}'
            '<button name="action" value="cancel">Cancel</button></form>'
        )
        page = (
            "<!doctype html><html><head><title>Log in with Facebook</title></head><body>"
            f"<h1>Choose an account</h1>{''.join(forms)}{cancel}</body></html>"
        )
        return 200, dict(HTML), page.encode()

    def _error_page(self, message: str) -> Answer:
        page = (
            f"<!doctype html><html><body><h1>Error</h1><p>{html.escape(message)}</p></body></html>"
        )
        return 400, dict(HTML), page.encode()

    def _submit(self, form: dict[str, str]) -> Answer:
        if form.get("client_id") != self.app_id or not form.get("redirect_uri"):
            return self._error_page("Invalid App ID: the app_id is not valid for this request.")
        redirect, state = form["redirect_uri"], form.get("state", "")
        sep = "&" if "?" in redirect else "?"
        if form.get("action") != "continue":
            params = {
                "error": "access_denied",
                "error_code": "200",
                "error_description": "Permissions error",
                "error_reason": "user_denied",
                "state": state,
            }
            return 303, {**HTML, "Location": f"{redirect}{sep}{urlencode(params)}"}, b""
        user = self.users.get(form.get("user_id", ""))
        if user is None:
            return self._error_page("Unknown account.")
        scopes = [s for s in form.get("scope", "").split(",") if s]
        granted = ["public_profile", *(s for s in scopes if f"perm_{s}" in form)]
        declined = [s for s in scopes if f"perm_{s}" not in form]
        now = self.clock()
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(
                form["client_id"],
                redirect,
                Grant(user, granted, declined, now + SHORT_LIVED),
                now + CODE_LIFETIME,
            )
        params = {
            "code": code,
            "state": state,
            "granted_scopes": ",".join(granted),
            "denied_scopes": ",".join(declined),
        }
        return 303, {**HTML, "Location": f"{redirect}{sep}{urlencode(params)}"}, b""

    # -- tokens ----------------------------------------------------------------------------
    def _access_token(self, query: dict[str, str]) -> Answer:
        if query.get("client_id") != self.app_id:
            return _bad("Error validating application. Invalid application ID.", 101)
        if query.get("client_secret") != self.app_secret:
            return _bad("Error validating client secret.", 1)
        if query.get("grant_type") == "fb_exchange_token":
            return self._exchange(query.get("fb_exchange_token"))
        return self._redeem(query)

    def _redeem(self, query: dict[str, str]) -> Answer:
        with self._lock:
            entry = self._codes.pop(query.get("code", ""), None)
        if entry is None:
            return _bad("This authorization code has been used.", 100, 36009)
        if entry.expires_at <= self.clock():
            return _bad("This authorization code has expired.", 100, 36007)
        if entry.redirect_uri != query.get("redirect_uri"):
            return _bad(
                "Error validating verification code. Please make sure your redirect_uri is "
                "identical to the one you used in the OAuth dialog request",
                100,
                36008,
            )
        token = self._issue(entry.grant)
        return 200, {}, {"access_token": token, "token_type": "bearer", "expires_in": SHORT_LIVED}

    def _exchange(self, user_token: str | None) -> Answer:
        grant = self._grant(user_token)
        if not isinstance(grant, Grant):
            return grant
        if grant.page_id is not None:
            return _bad("(#100) fb_exchange_token must be a user access token")
        long = Grant(
            grant.user, grant.granted, grant.declined, self.clock() + LONG_LIVED, long_lived=True
        )
        token = self._issue(long)
        return 200, {}, {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED}

    # -- /me -------------------------------------------------------------------------------
    def _me(
        self, rest: list[str], query: dict[str, str], token: str | None, pages: dict[str, FakePage]
    ) -> Answer:
        grant = self._grant(token)
        if not isinstance(grant, Grant):
            return grant
        if grant.page_id is not None:
            return _bad("(#100) Tried accessing nonexisting field (accounts) on node type (Page)")
        user = grant.user
        if not rest:
            fields = split_nested(query.get("fields", "id,name"))
            return 200, {}, {k: v for k, v in (("id", user.id), ("name", user.name)) if k in fields}
        if rest == ["permissions"]:
            data = [{"permission": p, "status": "granted"} for p in grant.granted]
            data += [{"permission": p, "status": "declined"} for p in grant.declined]
            return 200, {}, {"data": data}
        if rest == ["accounts"]:
            return 200, {}, self._accounts(grant, query, pages)
        return _bad("(#100) Unknown path components", 100)

    def _accounts(
        self, grant: Grant, query: dict[str, str], pages: dict[str, FakePage]
    ) -> dict[str, Any]:
        fields = split_nested(query.get("fields", "id,name,access_token,tasks"))
        owned = [pages[p] for p in grant.user.pages if p in pages]
        if "pages_show_list" not in grant.granted:
            owned = []
        items = [self._account(grant, page, fields) for page in owned]
        return paged(items, query, "/me/accounts")

    def _account(self, grant: Grant, page: FakePage, fields: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields:
            if f in ("id", "name"):
                out[f] = getattr(page, f)
            elif f == "access_token":
                out[f] = page.token if grant.long_lived else self._page_token(grant, page)
            elif f == "tasks":
                out[f] = list(PAGE_TASKS)
            elif f.startswith("instagram_business_account"):
                account = grant.user.instagram.get(page.id)
                if account is None or "instagram_basic" not in grant.granted:
                    continue
                sub = split_nested(f[len("instagram_business_account") :].strip("{}") or "id")
                whole = {"id": account.id, "username": account.username, "name": account.name}
                out["instagram_business_account"] = {k: whole[k] for k in sub if k in whole}
        return out

    def _page_token(self, grant: Grant, page: FakePage) -> str:
        short = Grant(grant.user, grant.granted, grant.declined, grant.expires_at)
        short.page_id = page.id
        return self._issue(short)

    def _page_auth(
        self, page: FakePage, token: str | None, permission: str = "read_insights"
    ) -> Answer | None:
        if token == page.token:
            return None
        grant = self._grant(token)
        if not isinstance(grant, Grant):
            return grant
        if page.id not in grant.user.pages or (grant.page_id not in (None, page.id)):
            return _bad("(#10) Application does not have permission for this action", 10)
        if permission not in grant.granted:
            return _bad(f"(#10) This endpoint requires the '{permission}' permission", 10)
        return None

    # -- Page insights ---------------------------------------------------------------------
    def _page_insights(self, page: FakePage, query: dict[str, str], token: str | None) -> Answer:
        denied = self._page_auth(page, token)
        if denied:
            return denied
        metrics = [m for m in query.get("metric", "").split(",") if m]
        if not metrics or any(m not in PAGE_METRICS for m in metrics):
            return _bad("(#100) The value must be a valid insights metric")
        gone = [m for m in metrics if m in self.retired]
        if gone:
            return _bad(_retired(gone[0]))
        since, until, refused = _day_range(query, self.clock())
        if refused:
            return refused
        return 200, {}, {"data": [_daily(page.id, m, since, until) for m in metrics]}

    # -- Instagram -------------------------------------------------------------------------
    def _ig_route(
        self,
        ig_id: str,
        what: str,
        query: dict[str, str],
        token: str | None,
        pages: dict[str, FakePage],
    ) -> Answer:
        found = self._ig(ig_id)
        assert found is not None
        page_id, account = found
        page = pages.get(page_id)
        permission = "instagram_basic" if what == "media" else "instagram_manage_insights"
        denied = self._ig_auth(page_id, page, token, permission)
        if denied:
            return denied
        if what == "insights":
            return self._account_insights(account, query)
        fields = split_nested(query.get("fields", "id"))
        insights = [f for f in fields if f.startswith("insights")]
        if insights:
            denied = self._ig_auth(page_id, page, token, "instagram_manage_insights")
            if denied:
                return denied
        since = int(query.get("since") or 0)
        until = int(query.get("until") or 2**40)
        chosen = [
            m
            for m in sorted(account.media, key=lambda m: m.timestamp, reverse=True)
            if since <= m.timestamp.timestamp() < until
        ]
        # Graph renders (and fails on) the media of the page asked for only.
        listing = paged(chosen, query, f"/{ig_id}/media")
        items = []
        for media in listing["data"]:
            status, body = self._render_media(media, fields)
            if status != 200:
                return status, {}, body
            items.append(body)
        return 200, {}, {**listing, "data": items}

    def _ig_node(
        self, ig_id: str, query: dict[str, str], token: str | None, pages: dict[str, FakePage]
    ) -> Answer:
        found = self._ig(ig_id)
        assert found is not None
        page_id, account = found
        denied = self._ig_auth(page_id, pages.get(page_id), token, "instagram_basic")
        if denied:
            return denied
        followers = account.followers_count
        whole: dict[str, Any] = {
            "id": account.id,
            "username": account.username,
            "name": account.name,
            "followers_count": followers
            if followers is not None
            else seeded(account.id, "followers_count", low=100, high=50_000),
            "media_count": len(account.media),
        }
        fields = split_nested(query.get("fields", "id"))
        unknown = [f for f in fields if f not in whole]
        if unknown:
            return _bad(
                f"(#100) Tried accessing nonexisting field ({unknown[0]}) on node type (IGUser)"
            )
        return 200, {}, {k: whole[k] for k in ["id", *fields] if k in whole}

    def _ig_auth(
        self, page_id: str, page: FakePage | None, token: str | None, permission: str
    ) -> Answer | None:
        if page is not None and token == page.token:
            return None
        grant = self._grant(token)
        if not isinstance(grant, Grant):
            return grant
        if page_id not in grant.user.pages or grant.page_id not in (None, page_id):
            return _bad("(#10) Application does not have permission for this action", 10)
        if permission not in grant.granted:
            return _bad(f"(#10) This endpoint requires the '{permission}' permission", 10)
        return None

    def _render_media(self, media: FakeIgMedia, fields: list[str]) -> tuple[int, dict[str, Any]]:
        whole: dict[str, Any] = {
            "id": media.id,
            "caption": media.caption,
            "media_type": media.media_type,
            "media_product_type": media.media_product_type,
            "timestamp": media.timestamp.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "permalink": f"https://www.instagram.com/p/{media.id}/",
        }
        out: dict[str, Any] = {}
        for f in fields:
            if f.startswith("insights.metric(") and f.endswith(")"):
                status, body = self._insights(media, f[len("insights.metric(") : -1].split(","))
                if status != 200:
                    return status, body
                out["insights"] = body
            elif f in whole and (f != "caption" or media.caption):
                out[f] = whole[f]
        return 200, out

    def _insights(self, media: FakeIgMedia, metrics: list[str]) -> tuple[int, dict[str, Any]]:
        metrics = [m.strip() for m in metrics if m.strip()]
        allowed = MEDIA_METRICS.get(media.media_product_type, frozenset())
        for m in metrics:
            if m in DEPRECATED_MEDIA_METRICS:
                message = f"(#100) Starting from v22.0, the {m} metric is no longer supported"
                return 400, graph_error(100, message)
            if m not in allowed:
                message = (
                    f"(#100) The Media Insights API does not support the {m} metric for this "
                    f"media product type ({media.media_product_type})"
                )
                return 400, graph_error(100, message)
            if m in self.retired:
                return 400, graph_error(100, _retired(m))
        if not metrics:
            return 400, graph_error(100, "(#100) The parameter metric is required")
        if media.broken:
            return 400, graph_error(100, "Invalid parameter", sub=2108006)
        data = [
            {
                "name": m,
                "period": "lifetime",
                "values": [{"value": media.insights.get(m, seeded(media.id, m))}],
                "title": m.replace("_", " ").capitalize(),
                "id": f"{media.id}/insights/{m}/lifetime",
            }
            for m in metrics
        ]
        return 200, {"data": data}

    def _media_insights(
        self, media_id: str, query: dict[str, str], token: str | None, pages: dict[str, FakePage]
    ) -> Answer:
        found = self._media(media_id)
        assert found is not None
        page_id, media = found
        denied = self._ig_auth(page_id, pages.get(page_id), token, "instagram_manage_insights")
        if denied:
            return denied
        status, body = self._insights(media, query.get("metric", "").split(","))
        return status, {}, body

    def _account_insights(self, account: FakeIgAccount, query: dict[str, str]) -> Answer:
        metrics = [m for m in query.get("metric", "").split(",") if m]
        if not metrics or any(m not in ACCOUNT_METRICS for m in metrics):
            return _bad(
                "(#100) metric[0] must be one of the following values: "
                + ", ".join(sorted(ACCOUNT_METRICS))
            )
        gone = [m for m in metrics if m in self.retired]
        if gone:
            return _bad(_retired(gone[0]))
        since, until, refused = _day_range(query, self.clock())
        if refused:
            return refused
        data = [_daily(account.id, m, since, until) for m in metrics]
        if query.get("metric_type") == "total_value":
            for item in data:
                item["total_value"] = {"value": sum(v["value"] for v in item.pop("values"))}
        return 200, {}, {"data": data}


def make_media(ig_id: str, count: int, *, now: datetime | None = None) -> list[FakeIgMedia]:
    """Deterministic media over the last four weeks, every third one a Reel."""
    now = now or datetime.now(UTC)
    media = []
    for i in range(count):
        reel = i % 3 == 0
        media.append(
            FakeIgMedia(
                id=f"{ig_id}{100 + i}",
                timestamp=(now - timedelta(seconds=seeded(ig_id, str(i), high=27 * 86400))).replace(
                    microsecond=0
                ),
                media_type="VIDEO" if reel else ("CAROUSEL_ALBUM" if i % 3 == 1 else "IMAGE"),
                media_product_type="REELS" if reel else "FEED",
                caption=f"Media {i} of {ig_id}",
            )
        )
    return media


def demo_meta() -> FakeMeta:
    """The sandbox's Facebook app: Dana Demo manages Demo Bakery (1010, with the Instagram
    account demo.bakery) and Demo Studio (2020); Sam Sample manages Demo Gallery (3030)."""
    bakery = FakeIgAccount(id="17841400000001010", username="demo.bakery", name="Demo Bakery")
    bakery.media = make_media(bakery.id, 15)
    return FakeMeta(
        "demo-app",
        "demo-app-secret",
        [
            FakeUser("5050", "Dana Demo", pages=["1010", "2020"], instagram={"1010": bakery}),
            FakeUser("6060", "Sam Sample", pages=["3030"]),
        ],
        # A Login for Business configuration asking for what the product needs.
        configs={
            "demo-config": [
                "pages_show_list",
                "pages_read_engagement",
                "read_insights",
                "instagram_basic",
                "instagram_manage_insights",
            ]
        },
    )
