"""Logical metrics → Graph insight metric names, per Graph API version.

Meta removed the post_impressions* metrics in 2025 (replacements: post_media_view,
post_total_media_view_unique), so names are pinned per version here and nowhere else.
Comments and shares are not insights: they come from the post's own fields.
"""

from __future__ import annotations

INSIGHTS: dict[str, dict[str, str]] = {
    "v23.0": {
        "impressions": "post_media_view",
        "reach": "post_total_media_view_unique",
        "reactions": "post_reactions_by_type_total",
        "video_views": "post_video_views",
        "clicks": "post_clicks",
    },
}
METRICS = ("impressions", "reach", "reactions", "video_views", "clicks", "comments", "shares")
# Metrics whose value is an object of counts to be summed ({"like": 3, "love": 1}).
SUMMED = frozenset({"post_reactions_by_type_total"})


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.lstrip("v").split("."))


def insight_metrics(version: str) -> dict[str, str]:
    """The catalogue of the newest catalogued version not newer than ``version``."""
    wanted = _version_key(version)
    known = sorted((v for v in INSIGHTS if _version_key(v) <= wanted), key=_version_key)
    if not known:
        known = sorted(INSIGHTS, key=_version_key)[:1]
    return dict(INSIGHTS[known[-1]])
