"""SQL for integrations, ingestion runs and the analytics reads (organization-scoped)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, kwargs_row

from nexus import db
from nexus.db import tenant
from nexus.db.where import Where
from nexus.integrations.models import (
    AccountRow,
    AnalyticsQuery,
    AnalyticsSummaryQuery,
    Bucket,
    ContentQuery,
    ContentRow,
    Integration,
    MetricRow,
    MetricsQuery,
    Run,
    TopContent,
)


class AlreadyConnected(Exception):
    pass


RUN_COLUMNS = sql.SQL(
    "r.integration_id::text, r.date, r.observed_date, r.status, r.content_total,"
    " r.content_failed, r.finished_at, r.error_code"
)
# An integration and its newest run, in one statement; FROM {source} i must be a row set
# shaped like integrations.
_INTEGRATION = sql.SQL(
    "SELECT i.id::text, i.provider, i.external_id, i.name, i.status, i.created_at,"
    " lr.date AS run_date, lr.observed_date AS run_observed_date, lr.status AS run_status,"
    " lr.content_total AS run_content_total,"
    " lr.content_failed AS run_content_failed, lr.finished_at AS run_finished_at,"
    " lr.error_code AS run_error_code"
    " FROM {source} i LEFT JOIN LATERAL (SELECT r.date, r.observed_date, r.status,"
    " r.content_total,"
    " r.content_failed, r.finished_at, r.error_code FROM ingestion_runs r"
    " WHERE r.integration_id = i.id ORDER BY r.date DESC LIMIT 1) lr ON true"
)
# provider by the integration's primary key, per row of a bounded page: no join, so the
# page's WHERE and ORDER BY stay those of the metrics index.
METRIC_COLUMNS = sql.SQL(
    "integration_id::text,"
    " (SELECT i.provider FROM integrations i WHERE i.id = integration_id) AS provider,"
    " content_id, date, impressions, reach, reactions, video_views, clicks, comments, shares,"
    " saves, profile_visits, follows"
)


def _integration(**columns: Any) -> Integration:
    """An integration row with its newest run's ``run_*`` columns (all null: no run yet)."""
    run = {k.removeprefix("run_"): columns.pop(k) for k in list(columns) if k.startswith("run_")}
    last_run = Run(integration_id=columns["id"], **run) if run.get("date") is not None else None
    return Integration(**columns, last_run=last_run)


_INTEGRATION_ROW = kwargs_row(_integration)


class IntegrationRepository:
    def create(
        self,
        *,
        integration_id: str,
        organization_id: str,
        provider: str,
        external_id: str,
        name: str,
        token_ciphertext: bytes,
    ) -> Integration:
        params = (integration_id, organization_id, provider, external_id, name, token_ciphertext)
        try:
            row = db.fetch_one(
                _INTEGRATION_ROW,
                "INSERT INTO integrations (id, organization_id, provider, external_id, name,"
                " access_token_ciphertext) VALUES (%s, %s, %s, %s, %s, %s)"
                " RETURNING id::text, provider, external_id, name, status, created_at",
                params,
            )
        except psycopg.errors.UniqueViolation as exc:
            raise AlreadyConnected(external_id) from exc
        assert row is not None
        return row

    def list_for(self, organization_id: str) -> list[Integration]:
        query = _INTEGRATION.format(source=sql.SQL("integrations")) + sql.SQL(
            " WHERE i.organization_id = %s AND i.deleted_at IS NULL ORDER BY i.created_at, i.id"
        )
        return db.fetch_all(_INTEGRATION_ROW, query, (organization_id,))

    def get(self, *, organization_id: str, integration_id: str) -> Integration | None:
        query = _INTEGRATION.format(source=sql.SQL("integrations")) + sql.SQL(
            " WHERE i.id = %s AND i.organization_id = %s AND i.deleted_at IS NULL"
        )
        params = (integration_id, organization_id)
        return db.fetch_one(_INTEGRATION_ROW, query, params)

    def update(
        self,
        *,
        organization_id: str,
        integration_id: str,
        name: str | None,
        token_ciphertext: bytes | None,
        enabled: bool | None,
    ) -> Integration | None:
        """Sets only what the request carries. A new token moves needs_reauth back to active;
        enabled toggles disabled/active."""
        params: dict[str, Any] = {"id": integration_id, "org": organization_id}
        sets: list[sql.Composable] = [sql.SQL("updated_at = now()")]
        if name is not None:
            sets.append(sql.SQL("name = %(name)s"))
            params["name"] = name
        if token_ciphertext is not None:
            sets.append(sql.SQL("access_token_ciphertext = %(token)s"))
            params["token"] = token_ciphertext
        revived = [s for s, on in (("disabled", enabled), ("needs_reauth", token_ciphertext)) if on]
        if enabled is False:
            sets.append(sql.SQL("status = 'disabled'"))
        elif revived:
            sets.append(
                sql.SQL(
                    "status = CASE WHEN status = ANY(%(revived)s) THEN 'active' ELSE status END"
                )
            )
            params["revived"] = revived
        updated = sql.SQL(
            "(UPDATE integrations SET {sets}"
            " WHERE id = %(id)s AND organization_id = %(org)s AND deleted_at IS NULL"
            " RETURNING id, organization_id, provider, external_id, name, status, created_at)"
        ).format(sets=sql.SQL(", ").join(sets))
        query = sql.SQL("WITH changed AS {updated} ").format(updated=updated) + _INTEGRATION.format(
            source=sql.SQL("changed")
        )
        return db.fetch_one(_INTEGRATION_ROW, query, params)

    def soft_delete(self, *, organization_id: str, integration_id: str) -> bool:
        return tenant.soft_delete(
            "integrations", row_id=integration_id, organization_id=organization_id
        )

    def metrics(
        self,
        *,
        organization_id: str,
        query: MetricsQuery,
        limit: int,
    ) -> list[MetricRow]:
        """Up to ``limit`` rows in (date, content_id, integration_id) order, after the
        query's cursor."""
        after = query.cursor
        where = (
            Where(
                "organization_id = %(org)s AND deleted_at IS NULL"
                " AND date BETWEEN %(start)s AND %(end)s",
                org=organization_id,
                start=query.start,
                end=query.end,
            )
            .also("integration_id = %(integration)s", integration=query.integration_id)
            .also("content_id = %(content)s", content=query.content_id)
            .also(
                "(date, content_id, integration_id)"
                " > (%(after_date)s, %(after_content)s, %(after_integration)s::uuid)",
                after_date=after and after.date,
                after_content=after and after.content_id,
                after_integration=after and after.integration_id,
            )
        )
        select = sql.SQL(
            "SELECT {columns} FROM analytics_daily_metrics WHERE {where}"
            " ORDER BY date, content_id, integration_id LIMIT %(limit)s"
        ).format(columns=METRIC_COLUMNS, where=where.clause())
        return db.fetch_all(MetricRow, select, {**where.params, "limit": limit})

    def runs(self, *, organization_id: str, query: AnalyticsQuery) -> list[Run]:
        where = Where(
            "r.organization_id = %(org)s AND r.date BETWEEN %(start)s AND %(end)s",
            org=organization_id,
            start=query.start,
            end=query.end,
        ).also("r.integration_id = %(integration)s", integration=query.integration_id)
        select = sql.SQL(
            "SELECT {columns} FROM ingestion_runs r WHERE {where} ORDER BY r.date, r.integration_id"
        ).format(columns=RUN_COLUMNS, where=where.clause())
        return db.fetch_all(Run, select, where.params)

    def accounts(self, *, organization_id: str, query: AnalyticsQuery) -> list[AccountRow]:
        """Account-level days of the organization's live integrations, by (date, integration)."""
        where = Where(
            "a.organization_id = %(org)s AND a.date BETWEEN %(start)s AND %(end)s"
            " AND i.deleted_at IS NULL",
            org=organization_id,
            start=query.start,
            end=query.end,
        ).also("a.integration_id = %(integration)s", integration=query.integration_id)
        select = sql.SQL(
            "SELECT a.integration_id::text, i.provider, a.date, a.followers, a.follows, a.views,"
            " a.reach, a.engagements FROM analytics_account_daily a"
            " JOIN integrations i ON i.id = a.integration_id AND i.organization_id = %(org)s"
            " WHERE {where}"
            " ORDER BY a.date, a.integration_id"
        ).format(where=where.clause())
        return db.fetch_all(AccountRow, select, where.params)

    def content(
        self, *, organization_id: str, query: ContentQuery, limit: int
    ) -> list[tuple[ContentRow, dt.datetime]]:
        """Up to ``limit`` content rows, newest first, after the query's cursor, each with
        its sort time (for the next cursor)."""
        after = query.cursor
        where = (
            Where("organization_id = %(org)s", org=organization_id)
            .also("integration_id = %(integration)s", integration=query.integration_id)
            .also(
                "(COALESCE(created_time, first_seen_at), integration_id, content_id)"
                " < (%(after_at)s, %(after_integration)s::uuid, %(after_content)s)",
                after_at=after and after.at,
                after_integration=after and after.integration_id,
                after_content=after and after.content_id,
            )
        )
        select = sql.SQL(
            "SELECT integration_id::text,"
            " (SELECT i.provider FROM integrations i WHERE i.id = integration_id) AS provider,"
            " content_id, created_time AS created_at, message, permalink_url, media_type,"
            " COALESCE(created_time, first_seen_at) AS sort_at"
            " FROM analytics_content WHERE {where}"
            " ORDER BY COALESCE(created_time, first_seen_at) DESC, integration_id DESC,"
            " content_id DESC LIMIT %(limit)s"
        ).format(where=where.clause())
        rows = db.fetch_all(dict_row, select, {**where.params, "limit": limit})
        return [
            (ContentRow(**{k: v for k, v in r.items() if k != "sort_at"}), r["sort_at"])
            for r in rows
        ]

    def buckets(self, *, organization_id: str, query: AnalyticsSummaryQuery) -> list[Bucket]:
        """Every bucket of the range (weeks from Monday, months from the 1st, clipped to the
        range), each the sum of the daily rollups in it: integrations x days rows read."""
        step = sql.Literal(f"1 {query.granularity}")
        only = (
            sql.SQL(" AND r.integration_id = %(integration)s")
            if query.integration_id
            else sql.SQL("")
        )
        select = sql.SQL(
            "WITH b AS (SELECT greatest(g::date, %(start)s) AS start,"
            " least((g + {step}::interval - interval '1 day')::date, %(end)s) AS end"
            " FROM generate_series(date_trunc(%(unit)s, %(start)s::timestamp), %(end)s::timestamp,"
            " {step}::interval) AS g)"
            " SELECT b.start, b.end, COALESCE(sum(r.views), 0) AS views,"
            " COALESCE(sum(r.reactions), 0) AS reactions, COALESCE(sum(r.comments), 0) AS comments,"
            " COALESCE(sum(r.shares), 0) AS shares, COALESCE(sum(r.saves), 0) AS saves,"
            " COALESCE(sum(r.clicks), 0) AS clicks"
            " FROM b LEFT JOIN analytics_rollup_daily r ON r.organization_id = %(org)s"
            " AND r.date BETWEEN b.start AND b.end{only}"
            " GROUP BY b.start, b.end ORDER BY b.start"
        ).format(step=step, only=only)
        params = {
            "org": organization_id,
            "start": query.start,
            "end": query.end,
            "unit": query.granularity,
            "integration": query.integration_id,
        }
        return db.fetch_all(Bucket, select, params)

    def top_content(
        self, *, organization_id: str, query: AnalyticsSummaryQuery, window_days: int, limit: int
    ) -> list[TopContent]:
        """The content with the largest views increase in the range: per content that can
        have been observed in it (created within the post window before the range's end),
        its latest row in the range (its metrics), its latest views in the range and its
        latest views before it (the increase), by index probes."""
        only = (
            sql.SQL(" AND c.integration_id = %(integration)s")
            if query.integration_id
            else sql.SQL("")
        )
        probe = (
            "x.organization_id = c.organization_id AND x.integration_id = c.integration_id"
            " AND x.content_id = c.content_id AND x.deleted_at IS NULL"
        )
        select = sql.SQL(
            "SELECT c.integration_id::text, i.provider, c.content_id,"
            " c.created_time AS created_at, c.message, c.permalink_url, c.media_type,"
            " v.impressions - COALESCE(b.impressions, 0) AS views_increase,"
            " l.date AS m_date, l.impressions AS m_impressions, l.reach AS m_reach,"
            " l.reactions AS m_reactions, l.video_views AS m_video_views, l.clicks AS m_clicks,"
            " l.comments AS m_comments, l.shares AS m_shares, l.saves AS m_saves,"
            " l.profile_visits AS m_profile_visits, l.follows AS m_follows"
            " FROM analytics_content c JOIN integrations i ON i.id = c.integration_id"
            " AND i.organization_id = %(org)s"
            " CROSS JOIN LATERAL (SELECT * FROM analytics_daily_metrics x WHERE {probe}"
            " AND x.date BETWEEN %(start)s AND %(end)s ORDER BY x.date DESC LIMIT 1) l"
            " CROSS JOIN LATERAL (SELECT x.impressions FROM analytics_daily_metrics x"
            " WHERE {probe} AND x.date BETWEEN %(start)s AND %(end)s"
            " AND x.impressions IS NOT NULL ORDER BY x.date DESC LIMIT 1) v"
            " LEFT JOIN LATERAL (SELECT x.impressions FROM analytics_daily_metrics x"
            " WHERE {probe} AND x.date < %(start)s AND x.impressions IS NOT NULL"
            " ORDER BY x.date DESC LIMIT 1) b ON true"
            " WHERE c.organization_id = %(org)s{only}"
            " AND COALESCE(c.created_time, c.first_seen_at) < %(end)s::date + 1"
            " AND COALESCE(c.created_time, c.first_seen_at) >= %(start)s::date - %(window)s"
            " ORDER BY views_increase DESC, c.integration_id, c.content_id LIMIT %(limit)s"
        ).format(probe=sql.SQL(probe), only=only)
        params = {
            "org": organization_id,
            "start": query.start,
            "end": query.end,
            "integration": query.integration_id,
            "window": window_days + 1,
            "limit": limit,
        }
        rows = db.fetch_all(dict_row, select, params)
        return [_top(row) for row in rows]


def _only(alias: str, integration_id: str | None) -> sql.Composable:
    """The optional integration filter of a summary statement."""
    if integration_id is None:
        return sql.SQL("")
    return sql.SQL(" AND {}.integration_id = %(integration)s").format(sql.Identifier(alias))


def _top(row: dict[str, Any]) -> TopContent:
    metric = {k.removeprefix("m_"): v for k, v in row.items() if k.startswith("m_")}
    base = {k: v for k, v in row.items() if not k.startswith("m_")}
    metrics = MetricRow(
        integration_id=base["integration_id"],
        provider=base["provider"],
        content_id=base["content_id"],
        **metric,
    )
    return TopContent(**base, metrics=metrics)
