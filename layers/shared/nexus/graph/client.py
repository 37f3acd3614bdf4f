"""Graph API client: a Page's recent posts, an Instagram account's media, and account-level
daily insights, with their metrics.

- The token travels only in ``Authorization: Bearer``; paging follows ``cursors.after``
  (never ``paging.next``, whose URL can carry a token). With an app secret, every request
  that carries a token also carries ``appsecret_proof`` (HMAC-SHA256 of the token), in the
  query of a GET and the form of a POST (a batch's sub-requests inherit the batch's).
- One request per page of up to 100 posts or media brings their metrics by field expansion
  (for Instagram, the metrics every media product type has); what is left (Instagram's
  FEED-only metrics) comes in batches of 50 sub-requests.
- A metric Graph rejects (code 100) is dropped and recorded as unavailable; the rest
  completes. If no metric is to blame, the metrics are fetched per post or media in batches
  of 50, so one broken item fails alone (an ITEM error on its Post).
- Usage headers are read after every response; no further request is made once any
  reported share of the quota reaches the ceiling.
- Every request has a timeout (connect, read): the configured one, or the time left before
  the job's :class:`~nexus.deadline.Deadline` when that is less. 5xx answers and network
  errors are retried here (not by urllib3, whose retries know no deadline) with exponential
  backoff, honouring ``Retry-After``, and only while the pause still ends before the
  deadline. Time running out raises :class:`~nexus.deadline.OutOfTime` (transient), so the
  consumer can give the job's message back instead of being killed mid-way.
- ``requests`` counts every HTTP request the client made (retries included); a result's
  ``requests`` counts those its own call made.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter

from nexus.deadline import Deadline, OutOfTime
from nexus.graph import catalogue
from nexus.graph.catalogue import AccountMetric, Source
from nexus.graph.errors import DEFAULT_THROTTLE_SECONDS, ErrorClass, GraphError

PAGE_SIZE = 100
BATCH_LIMIT = 50
MAX_ACCOUNT_DAYS = 90  # Graph's limit between since and until for day insights
_BASE_FIELDS = "id,created_time,message,permalink_url,shares,comments.summary(true).limit(0)"
_MEDIA_FIELDS = "id,caption,media_type,media_product_type,timestamp,permalink"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
CONNECT_TIMEOUT = 3.05
RETRY_STATUSES = frozenset({500, 502, 503, 504})
BACKOFF_SECONDS = 0.5  # doubled after each failed attempt

# A GET to make, alone or inside a batch: (path without version, query parameters).
Get = tuple[str, dict[str, Any]]


@dataclass
class Post:
    """A Facebook post or an Instagram media. ``metrics`` has every name of
    :data:`~nexus.graph.catalogue.METRICS`, None where Graph gave no value.

    ``media_type`` is None for Facebook posts; for Instagram media it is Graph's
    ``media_product_type`` ("FEED", "REELS", …), which decides the metrics a media has,
    falling back to ``media_type`` (IMAGE, VIDEO, CAROUSEL_ALBUM) when Graph sends none."""

    content_id: str
    created_time: datetime | None
    message: str | None
    metrics: dict[str, int | None]
    error: GraphError | None = None
    permalink_url: str | None = None
    media_type: str | None = None


@dataclass
class PageResult:
    posts: list[Post] = field(default_factory=list)
    unavailable: set[str] = field(default_factory=set)
    requests: int = 0

    @property
    def failed(self) -> int:
        return sum(1 for p in self.posts if p.error is not None)


@dataclass
class AccountDay:
    """One day of an account (a UTC date; see :meth:`GraphClient.account_days`), None where
    Graph has no value for it."""

    date: date
    followers: int | None = None
    follows: int | None = None
    views: int | None = None
    reach: int | None = None
    engagements: int | None = None


@dataclass
class AccountResult:
    days: list[AccountDay]
    unavailable: set[str] = field(default_factory=set)
    requests: int = 0


def make_session() -> requests.Session:
    """A pooled session without library retries: GraphClient retries itself, within its
    deadline."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0, pool_maxsize=4)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def appsecret_proof(token: str, app_secret: str) -> str:
    """Graph's appsecret_proof: HMAC-SHA256 of the access token, keyed by the app secret."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


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


def _data(body: Any) -> list[Any]:
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, list) else []


def _time(raw: Any) -> datetime | None:
    return datetime.strptime(raw, _TIME_FORMAT) if isinstance(raw, str) and raw else None


def _metric_level(error: GraphError) -> bool:
    """A rejection of the metric asked for, not of the object (whose code-100 refusals carry
    a subcode: 33 no such object, 2108006 media older than the business account...)."""
    return error.code == 100 and error.subcode is None and error.error_class is ErrorClass.ITEM


def day_window(first: date, last: date) -> tuple[int, int]:
    """``since`` and ``until`` for the day values of ``first``..``last``.

    A day value's ``end_time`` is the end of its (Pacific) day, the next day at 07:00 or
    08:00 UTC, and Graph returns the values whose end_time lies between since and until. So
    the window runs from midnight UTC after ``first`` to the second before midnight UTC two
    days after ``last``: it holds exactly those end_times, and spans at most as many days as
    it covers (90 days fit Graph's limit)."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC) + timedelta(days=1)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=2)
    return int(start.timestamp()), int(end.timestamp()) - 1


def _value_day(end_time: Any) -> date | None:
    """The day a day value is for: the UTC date of its end_time less one day."""
    moment = _time(end_time)
    return (moment - timedelta(days=1)).astimezone(UTC).date() if moment else None


@dataclass
class _MediaPlan:
    """What to ask of Instagram media: the metrics of each media product type, less those
    field expansion already brought and those Graph rejected (per type)."""

    version: str
    expanded: dict[str, str]
    dropped: dict[str, set[str]] = field(default_factory=dict)

    def metrics(self, kind: str | None, *, expanded_too: bool) -> dict[str, str]:
        names = catalogue.media_metrics(self.version, kind)
        gone = self.dropped.get(kind or "", set())
        return {
            k: v
            for k, v in names.items()
            if k not in gone and (expanded_too or k not in self.expanded)
        }


@dataclass
class _Media:
    kind: str | None  # media_product_type
    post: Post


class GraphClient:
    def __init__(
        self,
        token: str | None,
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
        app_secret: str | None = None,
    ) -> None:
        """``token`` None: requests go without Authorization (the OAuth code exchange).
        ``app_secret``: every request that carries the token carries appsecret_proof."""
        self._token = token
        self._proof = appsecret_proof(token, app_secret) if token and app_secret else None
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
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        if self._proof:
            params = {**params, "appsecret_proof": self._proof}
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

    def _error(self, body: Any, http_status: int) -> GraphError:
        error = _error_from(body, http_status)
        if error.error_class is ErrorClass.THROTTLED:
            error.retry_after = self._usage[1] or DEFAULT_THROTTLE_SECONDS
        return error

    def call(self, method: str, path: str, params: dict[str, Any]) -> Any:
        """One Graph call (``path`` without the version) with this client's token, proof,
        quota check, deadline and retries; the parsed body, or GraphError."""
        self._check_quota()
        url = f"{self._base}/{self._version}/{path.lstrip('/')}"
        resp = self._send(method, url, params)
        self._usage = _usage(resp.headers)
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code >= 400 or (isinstance(body, dict) and "error" in body):
            raise self._error(body, resp.status_code)
        return body

    def _batch(self, relative_urls: list[str]) -> list[tuple[int, Any]]:
        """Batched GETs (at most 50 per call), answers in order as (code, parsed body).
        Relative URLs carry no version: the batch request's own version applies."""
        answers: list[tuple[int, Any]] = []
        for start in range(0, len(relative_urls), BATCH_LIMIT):
            chunk = relative_urls[start : start + BATCH_LIMIT]
            batch = [{"method": "GET", "relative_url": u} for u in chunk]
            result = self.call("POST", "", {"batch": json.dumps(batch), "include_headers": "false"})
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

    def _fetch(self, wanted: list[Get]) -> list[Any]:
        """GETs in as few requests as possible: one alone, more in batches. Each answer is
        its body or its GraphError (returned, not raised)."""
        if len(wanted) == 1:
            try:
                return [self.call("GET", *wanted[0])]
            except GraphError as exc:
                return [exc]
        urls = [f"{path}?{urlencode(params)}" for path, params in wanted]
        answers = self._batch(urls)
        if len(answers) != len(urls):
            raise GraphError(f"batch answered {len(answers)} of {len(urls)} requests")
        return [self._error(body, code) if code >= 400 else body for code, body in answers]

    def _listing(self, edge: str, fields: str, since: int, until: int) -> Iterator[list[Any]]:
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
            body = self.call("GET", edge, params)
            yield list(body.get("data") or [])
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return

    # -- Facebook posts --------------------------------------------------------------------
    def _fields(self, metric_names: list[str]) -> str:
        if not metric_names:
            return _BASE_FIELDS
        return f"{_BASE_FIELDS},insights.metric({','.join(metric_names)})"

    def _pages(self, page_id: str, fields: str, since: int, until: int) -> Iterable[list[Any]]:
        return self._listing(f"{page_id}/posts", fields, since, until)

    def _post(self, raw: dict[str, Any], names: dict[str, str]) -> Post:
        insights = _insight_values((raw.get("insights") or {}).get("data") or [])
        metrics: dict[str, int | None] = {m: None for m in catalogue.METRICS}
        for logical, graph_name in names.items():
            metrics[logical] = insights.get(graph_name)
        shares = raw.get("shares")
        metrics["shares"] = _int(shares.get("count")) if isinstance(shares, dict) else None
        summary = (raw.get("comments") or {}).get("summary") or {}
        metrics["comments"] = _int(summary.get("total_count"))
        return Post(
            content_id=str(raw.get("id")),
            created_time=_time(raw.get("created_time")),
            message=raw.get("message"),
            metrics=metrics,
            permalink_url=raw.get("permalink_url"),
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
        start = self.requests
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
            result.requests = self.requests - start

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

    # -- Instagram media -------------------------------------------------------------------
    def instagram_media(self, ig_user_id: str, since: int, until: int) -> PageResult:
        """The media an Instagram account published between since and until, with their lifetime
        metrics: one listing request per 100 media, their common metrics by field expansion,
        FEED's own (profile_visits, follows) in batches of 50. Metrics a media product type
        does not have are None (REELS: profile_visits, follows; always: video_views, clicks).

        If the expanded listing fails with code 100, the media are listed plainly and their
        metrics fetched per media in batches; a media that fails alone gets its ITEM error.
        When every media of a type fails, a sample or two is probed metric by metric, and a
        metric Graph rejects there is dropped for that type and recorded as unavailable."""
        result = PageResult()
        start = self.requests
        plan = _MediaPlan(self._version, catalogue.common_media_metrics(self._version))
        edge = f"{ig_user_id}/media"
        try:
            try:
                expansion = ",".join(plan.expanded.values())
                fields = (
                    f"{_MEDIA_FIELDS},insights.metric({expansion})" if expansion else _MEDIA_FIELDS
                )
                media = [self._media(raw, plan) for raw in self._all(edge, fields, since, until)]
                expanded_too = False
            except GraphError as exc:
                if exc.error_class is not ErrorClass.ITEM:
                    raise
                media = [
                    self._media(raw, plan) for raw in self._all(edge, _MEDIA_FIELDS, since, until)
                ]
                expanded_too = True
            self._media_metrics(media, plan, result, expanded_too=expanded_too)
            result.posts = [m.post for m in media]
            return result
        finally:
            result.requests = self.requests - start

    def _all(self, edge: str, fields: str, since: int, until: int) -> list[dict[str, Any]]:
        return [raw for chunk in self._listing(edge, fields, since, until) for raw in chunk]

    def _media(self, raw: dict[str, Any], plan: _MediaPlan) -> _Media:
        kind = raw.get("media_product_type")
        kind = kind if isinstance(kind, str) and kind else None
        post = Post(
            content_id=str(raw.get("id")),
            created_time=_time(raw.get("timestamp")),
            message=raw.get("caption"),
            metrics={m: None for m in catalogue.METRICS},
            permalink_url=raw.get("permalink"),
            media_type=kind or raw.get("media_type"),
        )
        self._merge(post, plan.expanded, raw.get("insights"))
        return _Media(kind, post)

    @staticmethod
    def _merge(post: Post, names: dict[str, str], insights: Any) -> None:
        values = _insight_values(_data(insights))
        for logical, graph_name in names.items():
            if graph_name in values:
                post.metrics[logical] = values[graph_name]

    def _media_metrics(
        self, media: list[_Media], plan: _MediaPlan, result: PageResult, *, expanded_too: bool
    ) -> None:
        """Each media's metrics not yet fetched, one sub-request per media; after a round in
        which every media of a type failed, probe that type, drop what Graph rejects, and ask
        again without it."""
        pending = [m for m in media if plan.metrics(m.kind, expanded_too=expanded_too)]
        for _ in range(len(catalogue.METRICS) + 1):
            if not pending:
                return
            failed = self._ask_media(pending, plan, expanded_too=expanded_too)
            blamed = self._blame(pending, failed, plan, expanded_too=expanded_too)
            if not blamed:
                return
            for kind, bad in blamed.items():
                plan.dropped.setdefault(kind or "", set()).update(bad)
                result.unavailable |= bad
            again = [m for m in failed if m.kind in blamed]
            for m in again:
                m.post.error = None
            pending = [m for m in again if plan.metrics(m.kind, expanded_too=expanded_too)]

    def _ask_media(
        self, pending: list[_Media], plan: _MediaPlan, *, expanded_too: bool
    ) -> list[_Media]:
        """One sub-request per media for its outstanding metrics; the media that failed."""
        wanted = [
            (
                f"{m.post.content_id}/insights",
                {"metric": ",".join(plan.metrics(m.kind, expanded_too=expanded_too).values())},
            )
            for m in pending
        ]
        failed = []
        for m, answer in zip(pending, self._fetch(wanted), strict=True):
            if isinstance(answer, GraphError):
                if answer.error_class is not ErrorClass.ITEM:
                    raise answer
                m.post.error = answer
                failed.append(m)
            else:
                self._merge(m.post, plan.metrics(m.kind, expanded_too=expanded_too), answer)
        return failed

    def _blame(
        self, pending: list[_Media], failed: list[_Media], plan: _MediaPlan, *, expanded_too: bool
    ) -> dict[str | None, set[str]]:
        """For each media product type all of whose media failed: the metrics Graph rejects
        (metric-level code 100 on every probed sample, one or two media). Every metric
        failing on a single sample blames that media instead, which then fails alone."""
        failed_ids = {id(m) for m in failed}
        kinds = {m.kind for m in failed}
        kinds = {k for k in kinds if all(id(m) in failed_ids for m in pending if m.kind == k)}
        samples = {k: [m for m in failed if m.kind == k][:2] for k in kinds}
        probes = [
            (k, m, logical, graph_name)
            for k in kinds
            for m in samples[k]
            for logical, graph_name in plan.metrics(k, expanded_too=expanded_too).items()
        ]
        if not probes:
            return {}
        answers = self._fetch(
            [(f"{m.post.content_id}/insights", {"metric": name}) for _, m, _, name in probes]
        )
        rejected: dict[tuple[str | None, str], int] = {}
        for (k, _, logical, _), answer in zip(probes, answers, strict=True):
            if isinstance(answer, GraphError):
                if answer.error_class is not ErrorClass.ITEM:
                    raise answer
                if _metric_level(answer):
                    rejected[(k, logical)] = rejected.get((k, logical), 0) + 1
        blamed: dict[str | None, set[str]] = {}
        for k in kinds:
            names = plan.metrics(k, expanded_too=expanded_too)
            bad = {n for n in names if rejected.get((k, n), 0) == len(samples[k])}
            if bad and (bad != set(names) or len(samples[k]) > 1):
                blamed[k] = bad
        return blamed

    # -- account-level days ----------------------------------------------------------------
    def account_days(
        self, provider: str, account_id: str, first: date, last: date
    ) -> AccountResult:
        """Daily account metrics (:data:`~nexus.graph.catalogue.ACCOUNT_METRICS`) of a
        Facebook Page or an Instagram account for ``first``..``last`` (at most 90 days,
        else ValueError), one :class:`AccountDay` per date in order, every day present with
        None where Graph has no value (a day is never left out, so a caller can tell "no
        value" from "not asked"; rows of Nones need not be stored).

        Requests, as few as Graph allows: time-series metrics in one call for the whole
        range; a total_value metric (Instagram's views and total_interactions) once per day;
        a field (Instagram's followers_count, the current total) once, on the row of
        ``last``. A Page needs one GET; Instagram's 1 + days + 1 reads go in batches of 50
        (90 days: 2 POSTs). A metric Graph rejects (code 100) is probed alone, dropped and
        recorded in ``unavailable``; everything else still comes back. Other errors raise
        GraphError; so does a code 100 that no metric explains (no such account)."""
        count = (last - first).days + 1
        if not 1 <= count <= MAX_ACCOUNT_DAYS:
            raise ValueError(f"{count} days asked; 1 to {MAX_ACCOUNT_DAYS} days per call")
        metrics = catalogue.account_metrics(self._version, provider)
        result = AccountResult(days=[AccountDay(first + timedelta(days=i)) for i in range(count)])
        start = self.requests
        try:
            _AccountFetch(self, account_id, metrics, result).run()
            return result
        finally:
            result.requests = self.requests - start


class _AccountFetch:
    """One account_days call: round 1 asks everything; round 2 probes the metrics of what
    failed with code 100, one metric per request; round 3 asks the remaining days again for
    the total_value metrics that survived the probe."""

    def __init__(
        self,
        client: GraphClient,
        account_id: str,
        metrics: dict[str, AccountMetric],
        result: AccountResult,
    ) -> None:
        self.client = client
        self.id = account_id
        self.result = result
        self.by_day = {d.date: d for d in result.days}
        self.series = {k: m for k, m in metrics.items() if m.source is Source.SERIES}
        self.totals = {k: m for k, m in metrics.items() if m.source is Source.TOTAL}
        self.fields = {k: m for k, m in metrics.items() if m.source is Source.FIELD}
        self.succeeded = False
        self.first_error: GraphError | None = None

    # -- requests --------------------------------------------------------------------------
    def _series(self, names: dict[str, AccountMetric]) -> Get:
        since, until = day_window(self.result.days[0].date, self.result.days[-1].date)
        metric = ",".join(m.graph_name for m in names.values())
        params = {"metric": metric, "period": "day", "since": since, "until": until}
        return f"{self.id}/insights", params

    def _total(self, day: date, names: dict[str, AccountMetric]) -> Get:
        since, until = day_window(day, day)
        return f"{self.id}/insights", {
            "metric": ",".join(m.graph_name for m in names.values()),
            "metric_type": "total_value",
            "period": "day",
            "since": since,
            "until": until,
        }

    def _field(self) -> Get:
        return self.id, {"fields": ",".join(m.graph_name for m in self.fields.values())}

    # -- answers ---------------------------------------------------------------------------
    def _ok(self, answer: Any) -> bool:
        """True for a body; False for an ITEM error (kept); other errors raise."""
        if not isinstance(answer, GraphError):
            self.succeeded = True
            return True
        if answer.error_class is not ErrorClass.ITEM:
            raise answer
        self.first_error = self.first_error or answer
        return False

    def _apply_series(self, names: dict[str, AccountMetric], body: Any) -> None:
        logical = {m.graph_name: k for k, m in names.items()}
        for item in _data(body):
            name = logical.get(str(item.get("name"))) if isinstance(item, dict) else None
            points = item.get("values") if name else None
            for point in points if isinstance(points, list) else []:
                day = _value_day(point.get("end_time")) if isinstance(point, dict) else None
                row = self.by_day.get(day) if day else None
                if row is not None and name:
                    setattr(row, name, _int(point.get("value")))

    def _apply_total(self, day: date, names: dict[str, AccountMetric], body: Any) -> None:
        logical = {m.graph_name: k for k, m in names.items()}
        for item in _data(body):
            name = logical.get(str(item.get("name"))) if isinstance(item, dict) else None
            total = item.get("total_value") if name else None
            if name and isinstance(total, dict):
                setattr(self.by_day[day], name, _int(total.get("value")))

    def _apply_field(self, body: Any) -> None:
        for logical, metric in self.fields.items():
            if isinstance(body, dict):
                setattr(self.result.days[-1], logical, _int(body.get(metric.graph_name)))

    # -- rounds ----------------------------------------------------------------------------
    def run(self) -> None:
        days = [d.date for d in self.result.days]
        wanted: list[Get] = [self._series(self.series)] if self.series else []
        wanted += [self._total(d, self.totals) for d in days] if self.totals else []
        wanted += [self._field()] if self.fields else []
        answers = iter(self.client._fetch(wanted))
        series_failed = False
        if self.series:
            answer = next(answers)
            series_failed = not self._ok(answer)
            if not series_failed:
                self._apply_series(self.series, answer)
        failed_days = []
        for day in days if self.totals else []:
            answer = next(answers)
            if self._ok(answer):
                self._apply_total(day, self.totals, answer)
            else:
                failed_days.append(day)
        if self.fields:
            answer = next(answers)
            if self._ok(answer):
                self._apply_field(answer)
            else:
                self.result.unavailable |= set(self.fields)
        # A total_value metric is to blame only if every day failed; else those days did.
        totals_failed = bool(self.totals) and len(failed_days) == len(days)
        self._probe(series_failed, days[0] if totals_failed else None)
        if totals_failed:
            self._again(days[1:])
        if not self.succeeded and self.first_error is not None:
            raise self.first_error

    def _probe(self, series_failed: bool, total_day: date | None) -> None:
        """Each metric alone: a success is its data, a code 100 makes it unavailable."""
        probes: list[tuple[str, AccountMetric, Get]] = []
        if series_failed:
            probes += [(k, m, self._series({k: m})) for k, m in self.series.items()]
        if total_day is not None:
            probes += [(k, m, self._total(total_day, {k: m})) for k, m in self.totals.items()]
        if not probes:
            return
        for (logical, metric, _), answer in zip(
            probes, self.client._fetch([p for _, _, p in probes]), strict=True
        ):
            if not self._ok(answer):
                if _metric_level(answer):
                    self.result.unavailable.add(logical)
            elif metric.source is Source.SERIES:
                self._apply_series({logical: metric}, answer)
            elif total_day is not None:
                self._apply_total(total_day, {logical: metric}, answer)

    def _again(self, days: list[date]) -> None:
        """The other days again, for the total_value metrics the probe did not reject (only
        if it rejected some: asking what just failed would fail the same way)."""
        kept = {k: m for k, m in self.totals.items() if k not in self.result.unavailable}
        if not days or not kept or len(kept) == len(self.totals):
            return
        answers = self.client._fetch([self._total(d, kept) for d in days])
        for day, answer in zip(days, answers, strict=True):
            if self._ok(answer):
                self._apply_total(day, kept, answer)
