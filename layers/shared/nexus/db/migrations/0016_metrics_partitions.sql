-- 0016: analytics_daily_metrics partitioned by month (issue 15, "Growth"). A read of one
-- integration-month touches one partition; retention drops whole months (a DROP TABLE, no
-- DELETE scan or vacuum debt); a month's indexes stay the size of a month. Partitions are
-- named analytics_daily_metrics_yYYYYmMM and made ahead by MaintenanceFunction
-- (create_metric_partitions); there is no default partition, so a row for a month nobody
-- made is refused loudly rather than parked where retention never finds it.

-- Make (if missing) the partitions of p_months months from p_from's month on. SECURITY
-- DEFINER: MaintenanceFunction's role runs it with the owner's right to create tables, and
-- nothing else (a fixed search_path; it only ever creates these partitions).
CREATE FUNCTION create_metric_partitions(p_from date, p_months integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog AS $$
DECLARE
    first date := date_trunc('month', p_from)::date;
    made integer := 0;
    name text;
BEGIN
    FOR n IN 0 .. p_months - 1 LOOP
        name := format('analytics_daily_metrics_y%sm%s', to_char(first, 'YYYY'),
                       to_char(first, 'MM'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE public.%I PARTITION OF public.analytics_daily_metrics FOR VALUES FROM (%L) TO (%L)',
                name, first, (first + interval '1 month')::date);
            made := made + 1;
        END IF;
        first := (first + interval '1 month')::date;
    END LOOP;
    RETURN made;
END
$$;

-- Drop the partitions wholly older than p_keep_months months before the current month (25:
-- this month and the 24 before it stay). Returns the names dropped.
CREATE FUNCTION drop_metric_partitions(p_keep_months integer) RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog AS $$
DECLARE
    keep_from date := (date_trunc('month', now()) - make_interval(months => p_keep_months - 1))::date;
    part record;
BEGIN
    IF p_keep_months < 2 THEN
        RAISE EXCEPTION 'keep at least 2 months, not %', p_keep_months;
    END IF;
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'analytics_daily_metrics'::regclass
          AND c.relname ~ '^analytics_daily_metrics_y[0-9]{4}m[0-9]{2}$'
          AND to_date(substr(c.relname, 26, 4) || substr(c.relname, 31, 2), 'YYYYMM') < keep_from
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE public.%I', part.relname);
        RETURN NEXT part.relname;
    END LOOP;
END
$$;

ALTER TABLE analytics_daily_metrics RENAME TO analytics_daily_metrics_unpartitioned;
CREATE TABLE analytics_daily_metrics (
    LIKE analytics_daily_metrics_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS
) PARTITION BY RANGE (date);
ALTER TABLE analytics_daily_metrics
    ADD FOREIGN KEY (organization_id, integration_id) REFERENCES integrations (organization_id, id);

-- Every month the stored rows span, the 24 before this one (what the default retention
-- keeps: rows written with an earlier date by a tool, a test or an import land in place),
-- this one and the next three.
DO $$
DECLARE
    first date := date_trunc('month', least((now() - interval '24 months')::date, COALESCE(
        (SELECT min(date) FROM analytics_daily_metrics_unpartitioned), now()::date)))::date;
    span interval := age(date_trunc('month', now())::date, first);
BEGIN
    PERFORM create_metric_partitions(
        first, (extract(year FROM span) * 12 + extract(month FROM span))::integer + 4);
END
$$;

INSERT INTO analytics_daily_metrics SELECT * FROM analytics_daily_metrics_unpartitioned;

-- The same grants as before, role by role and column by column (earlier migrations gave
-- them to the table under its old name).
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN
        SELECT grantee, privilege_type FROM information_schema.role_table_grants
        WHERE table_name = 'analytics_daily_metrics_unpartitioned' AND grantee <> current_user
          AND privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
    LOOP
        EXECUTE format('GRANT %s ON analytics_daily_metrics TO %I', g.privilege_type, g.grantee);
    END LOOP;
    FOR g IN
        SELECT grantee, privilege_type, column_name FROM information_schema.column_privileges
        WHERE table_name = 'analytics_daily_metrics_unpartitioned' AND grantee <> current_user
          AND privilege_type IN ('SELECT', 'INSERT', 'UPDATE')
    LOOP
        EXECUTE format('GRANT %s (%I) ON analytics_daily_metrics TO %I',
                       g.privilege_type, g.column_name, g.grantee);
    END LOOP;
END
$$;

DROP TABLE analytics_daily_metrics_unpartitioned;

-- The natural key (the upsert's ON CONFLICT target; it includes the partition key, as a
-- partitioned table's unique index must) and the integration-date reads.
CREATE UNIQUE INDEX analytics_daily_metrics_natural_key
    ON analytics_daily_metrics (organization_id, integration_id, content_id, date)
    WHERE deleted_at IS NULL;
CREATE INDEX analytics_daily_metrics_integration_date_idx
    ON analytics_daily_metrics (integration_id, date);

REVOKE EXECUTE ON FUNCTION create_metric_partitions(date, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION drop_metric_partitions(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION create_metric_partitions(date, integer) TO nexus_maintenance;
GRANT EXECUTE ON FUNCTION drop_metric_partitions(integer) TO nexus_maintenance;

-- MaintenanceFunction's watch over the day's run: the active integrations without a
-- finished run for today.
GRANT SELECT (id, status, deleted_at, created_at) ON integrations TO nexus_maintenance;
GRANT SELECT ON ingestion_runs TO nexus_maintenance;
