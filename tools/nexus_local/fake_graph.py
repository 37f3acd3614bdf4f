"""A fake Graph API server for tests and the local stack, speaking Graph's wire format:
bearer tokens, ``/{version}/{page-id}/posts`` with cursor paging and field expansion
(``permalink_url``, ``shares``, ``comments.summary(true).limit(0)``,
``insights.metric(...)``), post insights, batch requests (``POST /`` with ``batch=[...]``,
at most 50), Graph error bodies, the usage headers, and code 100 for deprecated metric names
(``post_impressions*``)."""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from nexus_local.httpd import LocalHTTPServer

if TYPE_CHECKING:
    from nexus_local.fake_meta import FakeMeta

KNOWN_METRICS = frozenset(
    {
        "post_media_view",
        "post_total_media_view_unique",
        "post_reactions_by_type_total",
        "post_video_views",
        "post_clicks",
        "post_engaged_users",
    }
)
BATCH_LIMIT = 50


@dataclass
class FakePost:
    id: str
    created_time: datetime
    message: str = ""
    insights: dict[str, Any] = field(default_factory=dict)
    shares: int | None = None
    comments: int = 0
    broken: bool = False  # its insights fail with code 100


@dataclass
class FakePage:
    id: str
    token: str
    name: str = "Page"
    posts: list[FakePost] = field(default_factory=list)
    error: dict[str, Any] | None = None  # every call for this page fails with this
    app_usage: int = 5
    buc_usage: int | None = None
    regain_minutes: int = 0
    hang: bool = False  # every request for this page is accepted and never answered


def graph_error(
    code: int, message: str, *, kind: str = "OAuthException", sub: int | None = None
) -> dict[str, Any]:
    err: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf"}
    if sub is not None:
        err["error_subcode"] = sub
    return {"error": err}


def split_fields(spec: str) -> list[str]:
    """Split a fields list on the commas that are not inside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in spec:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current:
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


class FakeGraph:
    def __init__(
        self,
        pages: list[FakePage] | None = None,
        *,
        latency: float = 0.0,
        meta: FakeMeta | None = None,  # Facebook Login and Instagram (fake_meta.py)
    ) -> None:
        self.pages = {p.id: p for p in pages or []}
        self.meta = meta
        self.latency = latency
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.fail_next = 0  # answer this many requests with HTTP 500 / code 2
        # Hang mode: accept each request (all of them, or those for a page whose ``hang`` is
        # set) and never answer it until stop(), as a Graph that hangs does; the client's
        # timeouts and deadline are all that end the wait.
        self.hang = False
        self._released = threading.Event()

    # -- data ------------------------------------------------------------------------------
    def _post_owner(self, post_id: str) -> tuple[FakePage, FakePost] | None:
        page = self.pages.get(post_id.split("_", 1)[0])
        if page is None:
            return None
        for post in page.posts:
            if post.id == post_id:
                return page, post
        return None

    def _insights(self, post: FakePost, metrics: list[str]) -> tuple[int, dict[str, Any]]:
        bad = [m for m in metrics if m not in KNOWN_METRICS]
        if bad or not metrics:
            return 400, graph_error(100, "(#100) The value must be a valid insights metric")
        if post.broken:
            return 400, graph_error(100, "(#100) Insights are not available for this object")
        data = [
            {
                "name": m,
                "period": "lifetime",
                "values": [{"value": post.insights[m]}],
                "title": m,
                "id": f"{post.id}/insights/{m}/lifetime",
            }
            for m in metrics
            if m in post.insights
        ]
        return 200, {"data": data}

    def _render(self, post: FakePost, fields: list[str]) -> tuple[int, dict[str, Any]]:
        out: dict[str, Any] = {}
        for f in fields:
            if f == "id":
                out["id"] = post.id
            elif f == "created_time":
                out["created_time"] = post.created_time.strftime("%Y-%m-%dT%H:%M:%S+0000")
            elif f == "message" and post.message:
                out["message"] = post.message
            elif f == "permalink_url":
                out["permalink_url"] = f"https://www.facebook.com/{post.id}"
            elif f == "shares" and post.shares:
                out["shares"] = {"count": post.shares}  # Graph omits it for no shares
            elif f.startswith("comments"):
                out["comments"] = {
                    "data": [],
                    "summary": {
                        "order": "ranked",
                        "total_count": post.comments,
                        "can_comment": True,
                    },
                }
            elif f.startswith("insights.metric(") and f.endswith(")"):
                status, body = self._insights(post, f[len("insights.metric(") : -1].split(","))
                if status != 200:
                    return status, body
                out["insights"] = body
        return 200, out

    # -- routes ----------------------------------------------------------------------------
    def dispatch(
        self, method: str, path: str, query: dict[str, str], token: str | None, form: dict[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        parts = [p for p in path.split("/") if p]
        if parts and parts[0].startswith("v"):
            parts = parts[1:]
        routed = self.meta and self.meta.dispatch(
            method, parts, query, token, form, pages=self.pages
        )
        if routed:
            return routed
        if method == "POST" and not parts and "batch" in form:
            return self._batch(form["batch"], token)
        if len(parts) == 2 and parts[1] == "posts":
            return self._posts(parts[0], query, token)
        if len(parts) == 2 and parts[1] == "insights":
            return self._on_post(
                parts[0],
                token,
                lambda post: self._insights(post, query.get("metric", "").split(",")),
            )
        if len(parts) == 1:
            return self._on_post(
                parts[0],
                token,
                lambda post: self._render(post, split_fields(query.get("fields", "id"))),
            )
        return (
            400,
            {},
            graph_error(100, "(#100) Unknown path components", kind="GraphMethodException"),
        )

    def _on_post(
        self,
        post_id: str,
        token: str | None,
        answer: Callable[[FakePost], tuple[int, dict[str, Any]]],
    ) -> tuple[int, dict[str, str], Any]:
        owner = self._post_owner(post_id)
        if owner is None:
            unsupported = graph_error(
                100, "(#100) Unsupported get request.", kind="GraphMethodException"
            )
            return 400, {}, unsupported
        page, post = owner
        denied = self._auth(page, token)
        if denied:
            return denied
        status, body = answer(post)
        return status, self._headers(page), body

    def _headers(self, page: FakePage) -> dict[str, str]:
        u = page.app_usage
        headers = {
            "X-App-Usage": json.dumps({"call_count": u, "total_cputime": u, "total_time": u})
        }
        if page.buc_usage is not None:
            b = page.buc_usage
            headers["X-Business-Use-Case-Usage"] = json.dumps(
                {
                    page.id: [
                        {
                            "type": "pages",
                            "call_count": b,
                            "total_cputime": b,
                            "total_time": b,
                            "estimated_time_to_regain_access": page.regain_minutes,
                        }
                    ]
                }
            )
        return headers

    def _auth(self, page: FakePage, token: str | None) -> tuple[int, dict[str, str], Any] | None:
        if token != page.token:
            return (
                400,
                {},
                graph_error(190, "Error validating access token: Session has expired", sub=463),
            )
        if page.error is not None:
            status = 500 if page.error.get("code") in (1, 2) else 400
            return status, self._headers(page), {"error": dict(page.error)}
        return None

    def _posts(
        self, page_id: str, query: dict[str, str], token: str | None
    ) -> tuple[int, dict[str, str], Any]:
        page = self.pages.get(page_id)
        if page is None:
            return (
                400,
                {},
                graph_error(100, "(#100) Unsupported get request.", kind="GraphMethodException"),
            )
        denied = self._auth(page, token)
        if denied:
            return denied
        since = int(query.get("since", "0"))
        until = int(query.get("until", str(2**40)))
        limit = min(int(query.get("limit", "25")), 100)
        offset = int(base64.b64decode(query["after"]).decode()) if query.get("after") else 0
        chosen = sorted(
            (p for p in page.posts if since <= int(p.created_time.timestamp()) < until),
            key=lambda p: p.created_time,
            reverse=True,
        )
        window = chosen[offset : offset + limit]
        fields = split_fields(query.get("fields", "id,created_time,message"))
        data = []
        for post in window:
            status, body = self._render(post, fields)
            if status != 200:
                return status, self._headers(page), body
            data.append(body)
        paging: dict[str, Any] = {}
        if window:
            paging["cursors"] = {
                "before": base64.b64encode(str(offset).encode()).decode(),
                "after": base64.b64encode(str(offset + len(window)).encode()).decode(),
            }
            if offset + len(window) < len(chosen):
                paging["next"] = (
                    f"https://graph.facebook.com/{page_id}/posts?after={paging['cursors']['after']}"
                )
        return 200, self._headers(page), {"data": data, "paging": paging}

    def _batch(self, raw: str, token: str | None) -> tuple[int, dict[str, str], Any]:
        try:
            items = json.loads(raw)
        except ValueError:
            return 400, {}, graph_error(100, "(#100) The parameter batch must be valid JSON")
        if not isinstance(items, list) or len(items) > BATCH_LIMIT:
            return (
                400,
                {},
                graph_error(
                    100, "(#100) Too many requests in batch message. Maximum batch size is 50"
                ),
            )
        answers: list[dict[str, Any]] = []
        headers: dict[str, str] = {}
        for item in items:
            url = urlsplit("/" + str(item.get("relative_url", "")).lstrip("/"))
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            status, headers, body = self.dispatch("GET", url.path, query, token, {})
            self._record("GET(batch)", url.path, url.query, token)
            answers.append({"code": status, "headers": [], "body": json.dumps(body)})
        return 200, headers, answers

    # -- HTTP ------------------------------------------------------------------------------
    def hangs(self, path: str, form: dict[str, str]) -> bool:
        """Hang mode: everything, or the requests that name a hanging page (its posts, one
        of its posts, or a batch with a sub-request for either)."""
        if self.hang:
            return True
        hanging = {page.id for page in self.pages.values() if page.hang}
        if not hanging:
            return False
        targets = [path] + [str(item.get("relative_url", "")) for item in _batch_items(form)]
        return any(
            segment.split("_", 1)[0] in hanging for t in targets for segment in t.split("/")[:3]
        )

    def _record(self, method: str, path: str, query: str, token: str | None) -> None:
        with self._lock:
            self.log.append({"method": method, "path": path, "query": query, "token": token})

    def start(self, port: int = 0) -> str:
        graph = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as separate writes: without this, Nagle's algorithm
            # and delayed ACKs add ~40 ms to every keep-alive request.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                form = {k: v[-1] for k, v in parse_qs(raw).items()}
                auth = self.headers.get("Authorization") or ""
                token = auth[7:] if auth.lower().startswith("bearer ") else None
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}
                # Graph also accepts access_token in the query; this fake records it so a
                # test can prove the client never puts it there.
                token = token or query.get("access_token")
                graph._record(self.command, split.path, split.query, token)
                if graph.hangs(split.path, form):
                    graph._released.wait()
                    self.close_connection = True
                    return
                if graph.latency:
                    time.sleep(graph.latency)
                with graph._lock:
                    failing = graph.fail_next > 0
                    graph.fail_next -= 1 if failing else 0
                status: int
                headers: dict[str, str]
                body: Any
                if failing:
                    status, headers = 500, {}
                    body = graph_error(2, "Service temporarily unavailable")
                else:
                    gated = graph.meta and graph.meta.gate(query, form, token)
                    status, headers, body = gated or graph.dispatch(
                        self.command, split.path, query, token, form
                    )
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                if "Content-Type" not in headers:  # fake_meta's HTML pages and redirects
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = LocalHTTPServer(("127.0.0.1", port), Handler)
        # A short poll interval: shutdown() waits for the next poll (0.5 s by default, which
        # the test suites would pay at every stop).
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._released.set()  # hung requests end, unanswered
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _batch_items(form: dict[str, str]) -> list[dict[str, Any]]:
    try:
        items = json.loads(form.get("batch") or "[]")
    except ValueError:
        return []
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def make_posts(
    page_id: str, count: int, *, now: datetime | None = None, seed: int = 7, days: int = 27
) -> list[FakePost]:
    """Deterministic posts spread over the last ``days`` days, with realistic metrics."""
    rng = random.Random(f"{seed}-{page_id}")
    now = now or datetime.now(UTC)
    posts = []
    for i in range(count):
        created = now - timedelta(seconds=rng.randint(60, days * 86400))
        views = rng.randint(50, 5000)
        insights: dict[str, Any] = {
            "post_media_view": views,
            "post_total_media_view_unique": int(views * rng.uniform(0.4, 0.9)),
            "post_reactions_by_type_total": {
                "like": rng.randint(0, 80),
                "love": rng.randint(0, 20),
            },
            "post_clicks": rng.randint(0, 200),
        }
        if i % 4 == 0:
            insights["post_video_views"] = rng.randint(10, 3000)
        posts.append(
            FakePost(
                id=f"{page_id}_{1000 + i}",
                created_time=created.replace(microsecond=0),
                message=f"Post {i} on page {page_id}",
                insights=insights,
                shares=rng.choice([None, rng.randint(1, 40)]),
                comments=rng.randint(0, 30),
            )
        )
    return posts


def demo_pages() -> list[FakePage]:
    """The sandbox's demo pages. Page 3030's first token has expired: connect it with
    ``demo-token-expired`` to see a job dead-lettered, then reconnect it with
    ``demo-token-renewed`` and redrive."""
    return [
        FakePage(
            id="1010", token="demo-token-bakery", name="Demo Bakery", posts=make_posts("1010", 40)
        ),
        FakePage(
            id="2020", token="demo-token-studio", name="Demo Studio", posts=make_posts("2020", 12)
        ),
        FakePage(
            id="3030",
            token="demo-token-renewed",
            name="Demo Gallery",
            posts=make_posts("3030", 5),  # any other token, e.g. demo-token-expired: 190
        ),
    ]
