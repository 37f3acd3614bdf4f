"""Graph API client for a Page's recent posts and their metrics.

- The token travels only in ``Authorization: Bearer``; paging follows ``cursors.after``
  (never ``paging.next``, whose URL can carry a token).
- One request per page of up to 100 posts brings insights, shares and the comment count
  (field expansion), the floor for this API.
- A metric Graph rejects (code 100) is dropped and recorded as unavailable; the rest
  completes. If no metric is to blame, posts are fetched plainly and their insights in
  batches of 50, so one broken post fails alone.
- Usage headers are read after every response; no further request is made once any
  reported share of the quota reaches the ceiling.
- Every request has a timeout (connect, read): the configured one, or the time left before
  the job's :class:`~nexus.deadline.Deadline` when that is less. 5xx answers and network
  errors are retried here (not by urllib3, whose retries know no deadline) with exponential
  backoff, honouring ``Retry-After``, and only while the pause still ends before the
  deadline. Time running out raises :class:`~nexus.deadline.OutOfTime` (transient), so the
  consumer can give the job's message back instead of being killed mid-way.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from nexus.deadline import Deadline, OutOfTime
from nexus.graph import catalogue
from nexus.graph.errors import DEFAULT_THROTTLE_SECONDS, ErrorClass, GraphError

PAGE_SIZE = 100
BATCH_LIMIT = 50
_BASE_FIELDS = "id,created_time,message,shares,comments.summary(true).limit(0)"
CONNECT_TIMEOUT = 3.05
RETRY_STATUSES = frozenset({500, 502, 503, 504})
BACKOFF_SECONDS = 0.5  # doubled after each failed attempt


@dataclass
class Post:
    content_id: str
    created_time: datetime | None
    message: str | None
    metrics: dict[str, int | None]
    error: GraphError | None = None


@dataclass
class PageResult:
    posts: list[Post] = field(default_factory=list)
    unavailable: set[str] = field(default_factory=set)
    requests: int = 0

    @property
    def failed(self) -> int:
        return sum(1 for p in self.posts if p.error is not None)


def make_session() -> requests.Session:
    """A pooled session without library retries: GraphClient retries itself, within its
    deadline."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0, pool_maxsize=4)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _retry_after(resp: requests.Response | None) -> float:
    """Seconds a 5xx answer asks us to wait (``Retry-After`` in seconds), else 0."""
    raw = resp.headers.get("Retry-After", "") if resp is not None else ""
    return float(raw) if raw.strip().isdigit() else 0.0


def _usage(headers: Any) -> tuple[int, int | None]:
    """Highest reported share of any quota (percent) and Graph's wait, in seconds."""
    highest, wait = 0, None
    app = headers.get("X-App-Usage")
    if app:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            highest = max([highest, *[int(v) for v in json.loads(app).values()]])
    buc = headers.get("X-Business-Use-Case-Usage")
    if buc:
        try:
            for entries in json.loads(buc).values():
                for entry in entries:
                    for key in ("call_count", "total_cputime", "total_time"):
                        highest = max(highest, int(entry.get(key, 0)))
                    minutes = int(entry.get("estimated_time_to_regain_access", 0))
                    if minutes:
                        wait = max(wait or 0, minutes * 60)
        except (ValueError, TypeError, AttributeError):
            pass
    return highest, wait


def _error_from(body: Any, http_status: int) -> GraphError:
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return GraphError(f"HTTP {http_status}", http_status=http_status)
    return GraphError(
        str(err.get("message", "Graph error")),
        code=err.get("code") if isinstance(err.get("code"), int) else None,
        subcode=err.get("error_subcode") if isinstance(err.get("error_subcode"), int) else None,
        http_status=http_status,
    )


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, dict):  # e.g. reactions by type: summed
        parts = [v for v in value.values() if isinstance(v, int) and not isinstance(v, bool)]
        return sum(parts) if parts else None
    return None


def _insight_values(data: Iterable[Any]) -> dict[str, int | None]:
    values: dict[str, int | None] = {}
    for item in data:
        if not isinstance(item, dict):
            continue
        points = item.get("values") or []
        if points and isinstance(points[-1], dict):
            values[str(item.get("name"))] = _int(points[-1].get("value"))
    return values


class GraphClient:
    def __init__(
        self,
        token: str,
        *,
        base_url: str,
        version: str,
        timeout: float = 10.0,
        connect_timeout: float = CONNECT_TIMEOUT,
        retries: int = 3,
        usage_ceiling: int = 90,
        session: requests.Session | None = None,
        deadline: Deadline | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._token = token
        self._base = base_url.rstrip("/")
        self._version = version
        self._read_timeout = timeout
        self._connect_timeout = connect_timeout
        self._retries = retries
        self._ceiling = usage_ceiling
        self._session = session or make_session()
        self._deadline = deadline or Deadline.never()
        self._sleep = sleep
        self._usage: tuple[int, int | None] = (0, None)
        self.requests = 0

    # -- transport -------------------------------------------------------------------------
    def _check_quota(self) -> None:
        highest, wait = self._usage
        if highest >= self._ceiling:
            raise GraphError(
                f"quota {highest}% used; stopping before it runs out",
                code=4,
                retry_after=wait or DEFAULT_THROTTLE_SECONDS,
            )

    def _pause(self, attempt: int, resp: requests.Response | None) -> None:
        """Back off before another attempt, unless the pause would end past the deadline."""
        wait = max(BACKOFF_SECONDS * 2**attempt, _retry_after(resp))
        if not self._deadline.allows(wait):
            raise OutOfTime(f"no time left to retry Graph ({wait:.1f} s pause)")
        self._sleep(wait)

    def _send(self, method: str, url: str, params: dict[str, Any]) -> requests.Response:
        """One request, retried for 5xx answers and network errors, all inside the deadline:
        each attempt's timeout is the configured one or the time left, if less."""
        headers = {"Authorization": f"Bearer {self._token}"}
        query, form = (params, None) if method == "GET" else (None, params)
        for attempt in range(self._retries + 1):
            read = self._deadline.timeout(self._read_timeout)
            self.requests += 1
            try:
                resp = self._session.request(
                    method,
                    url,
                    headers=headers,
                    params=query,
                    data=form,
                    timeout=(min(self._connect_timeout, read), read),
                )
            except requests.RequestException as exc:
                cut_short = isinstance(exc, requests.Timeout) and read < self._read_timeout
                if cut_short or self._deadline.expired:
                    # The deadline's timeout ran out, not Graph's: out of time.
                    raise OutOfTime(f"Graph did not answer in time ({type(exc).__name__})") from exc
                if attempt == self._retries:
                    raise GraphError(f"network error: {type(exc).__name__}") from exc
                self._pause(attempt, None)
                continue
            if resp.status_code not in RETRY_STATUSES or attempt == self._retries:
                return resp
            self._pause(attempt, resp)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _call(self, method: str, path: str, params: dict[str, Any]) -> Any:
        self._check_quota()
        url = f"{self._base}/{self._version}/{path.lstrip('/')}"
        resp = self._send(method, url, params)
        self._usage = _usage(resp.headers)
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code >= 400 or (isinstance(body, dict) and "error" in body):
            error = _error_from(body, resp.status_code)
            if error.error_class is ErrorClass.THROTTLED:
                error.retry_after = self._usage[1] or DEFAULT_THROTTLE_SECONDS
            raise error
        return body

    def _batch(self, relative_urls: list[str]) -> list[tuple[int, Any]]:
        """Batched GETs (at most 50 per call), answers in order as (code, parsed body).
        Relative URLs carry no version: the batch request's own version applies."""
        answers: list[tuple[int, Any]] = []
        for start in range(0, len(relative_urls), BATCH_LIMIT):
            chunk = relative_urls[start : start + BATCH_LIMIT]
            batch = [{"method": "GET", "relative_url": u} for u in chunk]
            result = self._call(
                "POST", "", {"batch": json.dumps(batch), "include_headers": "false"}
            )
            for item in result if isinstance(result, list) else []:
                if not isinstance(item, dict):
                    answers.append((500, None))
                    continue
                try:
                    body = json.loads(item.get("body") or "null")
                except ValueError:
                    body = None
                answers.append((int(item.get("code", 500)), body))
        return answers

    # -- posts -----------------------------------------------------------------------------
    def _fields(self, metric_names: list[str]) -> str:
        if not metric_names:
            return _BASE_FIELDS
        return f"{_BASE_FIELDS},insights.metric({','.join(metric_names)})"

    def _pages(self, page_id: str, fields: str, since: int, until: int) -> Iterable[list[Any]]:
        after: str | None = None
        while True:
            params: dict[str, Any] = {
                "fields": fields,
                "since": since,
                "until": until,
                "limit": PAGE_SIZE,
            }
            if after:
                params["after"] = after
            body = self._call("GET", f"{page_id}/posts", params)
            yield list(body.get("data") or [])
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return

    def _post(self, raw: dict[str, Any], names: dict[str, str]) -> Post:
        insights = _insight_values((raw.get("insights") or {}).get("data") or [])
        metrics: dict[str, int | None] = {m: None for m in catalogue.METRICS}
        for logical, graph_name in names.items():
            metrics[logical] = insights.get(graph_name)
        shares = raw.get("shares")
        metrics["shares"] = _int(shares.get("count")) if isinstance(shares, dict) else None
        summary = (raw.get("comments") or {}).get("summary") or {}
        metrics["comments"] = _int(summary.get("total_count"))
        created = raw.get("created_time")
        return Post(
            content_id=str(raw.get("id")),
            created_time=datetime.strptime(created, "%Y-%m-%dT%H:%M:%S%z") if created else None,
            message=raw.get("message"),
            metrics=metrics,
        )

    def _probe_metrics(self, post_id: str, names: dict[str, str]) -> set[str]:
        """Which logical metrics Graph rejects, one sub-request each in one batch."""
        urls = [f"{post_id}/insights?metric={graph_name}" for graph_name in names.values()]
        bad = set()
        for (logical, _), (code, body) in zip(names.items(), self._batch(urls), strict=False):
            if code >= 400 and _error_from(body, code).code == 100:
                bad.add(logical)
        return bad

    def page_posts(self, page_id: str, since: int, until: int) -> PageResult:
        result = PageResult()
        names = catalogue.insight_metrics(self._version)
        try:
            for attempt in range(len(names) + 1):
                try:
                    result.posts = [
                        self._post(raw, names)
                        for chunk in self._pages(
                            page_id, self._fields(list(names.values())), since, until
                        )
                        for raw in chunk
                    ]
                    return result
                except GraphError as exc:
                    if exc.error_class is not ErrorClass.ITEM or attempt == len(names):
                        raise
                    plain = [
                        raw
                        for chunk in self._pages(page_id, _BASE_FIELDS, since, until)
                        for raw in chunk
                    ]
                    if not plain:
                        return result
                    bad = self._probe_metrics(str(plain[0].get("id")), names)
                    # Every metric failing on the sample says more about that post than
                    # about the metrics: fetch post by post so it fails alone.
                    if not bad or bad == set(names):
                        result.posts = self._posts_one_by_one(plain, names)
                        return result
                    result.unavailable |= bad
                    names = {k: v for k, v in names.items() if k not in bad}
            return result
        finally:
            result.requests = self.requests

    def _posts_one_by_one(self, plain: list[dict[str, Any]], names: dict[str, str]) -> list[Post]:
        metric_list = ",".join(names.values())
        urls = [f"{raw.get('id')}/insights?metric={metric_list}" for raw in plain]
        posts = []
        for raw, (code, body) in zip(plain, self._batch(urls), strict=True):
            if code >= 400:
                post = self._post(raw, names)
                post.error = _error_from(body, code)
                if post.error.error_class is not ErrorClass.ITEM:
                    raise post.error
            else:
                post = self._post({**raw, "insights": body}, names)
            posts.append(post)
        return posts
