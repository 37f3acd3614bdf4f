"""Logical metrics → Graph names, per Graph API version: pinned here and nowhere else.

Graph's insights deprecations hit every version, and an unknown or retired metric fails the
whole insights call (code 100), so every name the client asks for comes from this module.
Each table is keyed by the version that introduced it; the client uses the newest
catalogued version not newer than the one it speaks (:func:`pick`).

- Facebook posts (:data:`INSIGHTS`, :func:`insight_metrics`): Meta removed post_impressions*
  in 2025 (replacements: post_media_view, post_total_media_view_unique). Comments and shares
  are not insights there: they come from the post's own fields.
- Instagram media (:data:`MEDIA_INSIGHTS`, :func:`media_metrics`), per media product type:
  asking a type for a metric it lacks fails the whole request, so each type lists only its
  own. ``impressions``, ``plays`` and ``video_views`` are gone (2025) and never listed; the
  logical ``impressions`` holds Meta's ``views``.
- Account-level daily metrics (:data:`ACCOUNT_INSIGHTS`, :func:`account_metrics`), per
  provider, each with how Graph serves it (:class:`Source`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The metric row (v2): one column per name, NULL where the provider or the version has none.
METRICS = (
    "impressions",
    "reach",
    "reactions",
    "video_views",
    "clicks",
    "comments",
    "shares",
    "saves",
    "profile_visits",
    "follows",
)
# The account row: one per integration and day.
ACCOUNT_METRICS = ("followers", "follows", "views", "reach", "engagements")
PROVIDERS = ("facebook", "instagram")

INSIGHTS: dict[str, dict[str, str]] = {
    "v23.0": {
        "impressions": "post_media_view",
        "reach": "post_total_media_view_unique",
        "reactions": "post_reactions_by_type_total",
        "video_views": "post_video_views",
        "clicks": "post_clicks",
    },
}
# Metrics whose value is an object of counts to be summed ({"like": 3, "love": 1}).
SUMMED = frozenset({"post_reactions_by_type_total"})

# Lifetime insights of Instagram media, per media_product_type. video_views and clicks have
# no Instagram counterpart (None on Instagram rows).
_IG_COMMON = {
    "impressions": "views",
    "reach": "reach",
    "reactions": "likes",
    "comments": "comments",
    "shares": "shares",
    "saves": "saved",
}
MEDIA_INSIGHTS: dict[str, dict[str, dict[str, str]]] = {
    "v23.0": {
        "FEED": {**_IG_COMMON, "profile_visits": "profile_visits", "follows": "follows"},
        "REELS": dict(_IG_COMMON),
    },
}


class Source(StrEnum):
    """How Graph serves an account metric."""

    SERIES = "series"  # /{id}/insights?period=day&since&until: one value per day
    TOTAL = "total"  # metric_type=total_value: one total for since..until, so a call per day
    FIELD = "field"  # a field of the account node: its current value only


@dataclass(frozen=True)
class AccountMetric:
    graph_name: str
    source: Source


ACCOUNT_INSIGHTS: dict[str, dict[str, dict[str, AccountMetric]]] = {
    "v23.0": {
        "facebook": {
            "followers": AccountMetric("page_follows", Source.SERIES),
            "follows": AccountMetric("page_daily_follows_unique", Source.SERIES),
            "views": AccountMetric("page_media_view", Source.SERIES),
            "reach": AccountMetric("page_total_media_view_unique", Source.SERIES),
            "engagements": AccountMetric("page_post_engagements", Source.SERIES),
        },
        "instagram": {
            "reach": AccountMetric("reach", Source.SERIES),
            # New followers that day (Graph: none for accounts under 100 followers).
            "follows": AccountMetric("follower_count", Source.SERIES),
            "views": AccountMetric("views", Source.TOTAL),
            "engagements": AccountMetric("total_interactions", Source.TOTAL),
            "followers": AccountMetric("followers_count", Source.FIELD),
        },
    },
}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.lstrip("v").split("."))


def pick[T](table: dict[str, T], version: str) -> T:
    """The entry of the newest catalogued version not newer than ``version`` (the oldest
    one if ``version`` predates them all)."""
    wanted = _version_key(version)
    ordered = sorted(table, key=_version_key)
    known = [v for v in ordered if _version_key(v) <= wanted] or ordered[:1]
    return table[known[-1]]


def insight_metrics(version: str) -> dict[str, str]:
    """Facebook post insights: logical → Graph name."""
    names: dict[str, str] = pick(INSIGHTS, version)
    return dict(names)


def media_metrics(version: str, media_product_type: str | None) -> dict[str, str]:
    """Instagram media insights for one media product type ("FEED", "REELS"): logical →
    Graph name. For a type the catalogue does not know (or None), only the metrics every
    catalogued type has, which no type rejects."""
    types = pick(MEDIA_INSIGHTS, version)
    if media_product_type in types:
        return dict(types[str(media_product_type)])
    return common_media_metrics(version)


def common_media_metrics(version: str) -> dict[str, str]:
    """The Instagram media metrics of every catalogued media product type (the ones field
    expansion can ask for on a listing of mixed media)."""
    types = list(pick(MEDIA_INSIGHTS, version).values())
    first = types[0]
    return {k: v for k, v in first.items() if all(t.get(k) == v for t in types[1:])}


def account_metrics(version: str, provider: str) -> dict[str, AccountMetric]:
    """Account-level daily metrics of ``provider`` ("facebook" or "instagram"): logical
    (one of :data:`ACCOUNT_METRICS`) → Graph name and source. ValueError for another
    provider."""
    providers = pick(ACCOUNT_INSIGHTS, version)
    if provider not in providers:
        raise ValueError(f"no account metrics for provider {provider!r}")
    return dict(providers[provider])
