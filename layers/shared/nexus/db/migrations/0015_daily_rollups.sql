-- 0015: daily rollups for GET /analytics/summary (contract §10). Post insights are lifetime
-- totals; a day's figure is, summed over the integration's content, each metric's increase
-- since that content's previous observation (its latest non-null value before the day; a
-- first observation counts whole; a decrease counts negative). The ingest write maintains one
-- row per (integration, observed day) in the snapshot's transaction, so the summary reads
-- integrations x days rows, never every raw row. Reach is not summed: unique counts do not add.
CREATE TABLE analytics_rollup_daily (
    organization_id uuid NOT NULL,
    integration_id  uuid NOT NULL,
    date            date NOT NULL,
    views           bigint NOT NULL DEFAULT 0,
    reactions       bigint NOT NULL DEFAULT 0,
    comments        bigint NOT NULL DEFAULT 0,
    shares          bigint NOT NULL DEFAULT 0,
    saves           bigint NOT NULL DEFAULT 0,
    clicks          bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (integration_id, date),
    FOREIGN KEY (organization_id, integration_id) REFERENCES integrations (organization_id, id)
);
CREATE INDEX analytics_rollup_daily_org_date_idx
    ON analytics_rollup_daily (organization_id, date, integration_id);

-- One (integration, day) rolled up from that day's metric rows: each content's increase since
-- its previous non-null value, by index probes on the natural key (6 per content). Called by
-- the ingest write in the snapshot's transaction (nexus.ingest.repository), and below once for
-- what was stored before. SECURITY INVOKER: the caller's grants apply.
CREATE FUNCTION rollup_day(p_org uuid, p_integration uuid, p_date date) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO analytics_rollup_daily AS r
        (organization_id, integration_id, date, views, reactions, comments, shares, saves,
         clicks)
    SELECT p_org, p_integration, p_date,
        COALESCE(sum(m.impressions - COALESCE(p.impressions, 0)), 0),
        COALESCE(sum(m.reactions - COALESCE(p.reactions, 0)), 0),
        COALESCE(sum(m.comments - COALESCE(p.comments, 0)), 0),
        COALESCE(sum(m.shares - COALESCE(p.shares, 0)), 0),
        COALESCE(sum(m.saves - COALESCE(p.saves, 0)), 0),
        COALESCE(sum(m.clicks - COALESCE(p.clicks, 0)), 0)
    FROM analytics_daily_metrics m
    CROSS JOIN LATERAL (
        SELECT
            (SELECT x.impressions FROM analytics_daily_metrics x
             WHERE x.organization_id = m.organization_id AND x.integration_id = m.integration_id
               AND x.content_id = m.content_id AND x.date < m.date AND x.deleted_at IS NULL
               AND x.impressions IS NOT NULL ORDER BY x.date DESC LIMIT 1) AS impressions,
            (SELECT x.reactions FROM analytics_daily_metrics x
             WHERE x.organization_id = m.organization_id AND x.integration_id = m.integration_id
               AND x.content_id = m.content_id AND x.date < m.date AND x.deleted_at IS NULL
               AND x.reactions IS NOT NULL ORDER BY x.date DESC LIMIT 1) AS reactions,
            (SELECT x.comments FROM analytics_daily_metrics x
             WHERE x.organization_id = m.organization_id AND x.integration_id = m.integration_id
               AND x.content_id = m.content_id AND x.date < m.date AND x.deleted_at IS NULL
               AND x.comments IS NOT NULL ORDER BY x.date DESC LIMIT 1) AS comments,
            (SELECT x.shares FROM analytics_daily_metrics x
             WHERE x.organization_id = m.organization_id AND x.integration_id = m.integration_id
               AND x.content_id = m.content_id AND x.date < m.date AND x.deleted_at IS NULL
               AND x.shares IS NOT NULL ORDER BY x.date DESC LIMIT 1) AS shares,
            (SELECT x.saves FROM analytics_daily_metrics x
             WHERE x.organization_id = m.organization_id AND x.integration_id = m.integration_id
               AND x.content_id = m.content_id AND x.date < m.date AND x.deleted_at IS NULL
               AND x.saves IS NOT NULL ORDER BY x.date DESC LIMIT 1) AS saves,
            (SELECT x.clicks FROM analytics_daily_metrics x
             WHERE x.organization_id = m.organization_id AND x.integration_id = m.integration_id
               AND x.content_id = m.content_id AND x.date < m.date AND x.deleted_at IS NULL
               AND x.clicks IS NOT NULL ORDER BY x.date DESC LIMIT 1) AS clicks
    ) p
    WHERE m.organization_id = p_org AND m.integration_id = p_integration AND m.date = p_date
      AND m.deleted_at IS NULL
    ON CONFLICT (integration_id, date) DO UPDATE SET views = EXCLUDED.views,
        reactions = EXCLUDED.reactions, comments = EXCLUDED.comments,
        shares = EXCLUDED.shares, saves = EXCLUDED.saves, clicks = EXCLUDED.clicks,
        updated_at = now()
$$;
REVOKE EXECUTE ON FUNCTION rollup_day(uuid, uuid, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollup_day(uuid, uuid, date) TO nexus_ingest;

-- What was stored before, rolled up once by the same rule.
SELECT rollup_day(organization_id, integration_id, date)
FROM (SELECT DISTINCT organization_id, integration_id, date FROM analytics_daily_metrics
      WHERE deleted_at IS NULL) AS days;

GRANT SELECT,
      INSERT (organization_id, integration_id, date, views, reactions, comments, shares, saves,
              clicks),
      UPDATE (views, reactions, comments, shares, saves, clicks, updated_at)
    ON analytics_rollup_daily TO nexus_ingest;
GRANT SELECT, DELETE ON analytics_rollup_daily TO nexus_integrations;
