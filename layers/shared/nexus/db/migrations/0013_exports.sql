-- 0013: analytics exports of any size (issue 15, contract §10; docs/architecture.md,
-- "Analytics exports"). POST /analytics/exports stores a pending row and queues its id;
-- ExportFunction streams the metric rows into ExportsBucket and marks the row ready (with its
-- row count) or failed; GET /analytics/exports/{id} reads it and presigns the object.

CREATE TABLE analytics_exports (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- Who asked (the export is the organization's: any of its users may read it).
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    from_date       date NOT NULL,
    to_date         date NOT NULL,
    -- A filter, as in the analytics reads (an id of another organization finds no rows), so
    -- no foreign key: erasing an integration (Meta's data deletion) never waits on an export.
    integration_id  uuid,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'ready', 'failed')),
    row_count       bigint CHECK (row_count >= 0),
    -- Fixed when the export is requested (exports/<organization>/<id>.csv).
    object_key      text NOT NULL CHECK (char_length(object_key) BETWEEN 1 AND 1024),
    -- Why it failed, briefly: an S3 error code or an exception's class, never data.
    error           text CHECK (char_length(error) <= 200),
    -- An ExportFunction invocation is writing it (a lease: a duplicate delivery waits).
    claimed_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    -- After this the export is "expired" and has no link; ExportsBucket's lifecycle rule
    -- deletes its object later (ExportRetentionDays).
    expires_at      timestamptz NOT NULL,
    CHECK (from_date <= to_date),
    CHECK ((status = 'ready') = (row_count IS NOT NULL)),
    CHECK ((status = 'pending') = (finished_at IS NULL)),
    CHECK (status = 'failed' OR error IS NULL)
);
-- The organization's exports, newest first (reads by id use the primary key and check the
-- organization).
CREATE INDEX analytics_exports_org_idx ON analytics_exports (organization_id, created_at DESC);

-- ExportFunction's role, in 0005's idempotent style (roles are cluster-wide). A long
-- statement budget: each FETCH of the export's cursor is a statement, and the first one sorts
-- the whole range. Idle in transaction between FETCHes while a part goes to S3 (three attempts
-- of 30 s at most). All below ExportFunction's Timeout (900 s).
DO $$
DECLARE
    budget record;
BEGIN
    FOR budget IN
        SELECT * FROM (VALUES
            -- role,          statement, lock, idle in transaction
            ('nexus_export',  '10min',   '5s', '3min')
        ) AS b (role, statement_timeout, lock_timeout, idle_timeout)
    LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I LOGIN', budget.role);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created before, or just now by another database's migration
        END;

        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam')
           AND NOT pg_has_role(budget.role, 'rds_iam', 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT rds_iam TO %I', budget.role);
            EXCEPTION WHEN unique_violation THEN
                NULL;  -- granted concurrently
            END;
        END IF;

        IF NOT EXISTS (
            SELECT 1 FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
            WHERE r.rolname = budget.role AND s.setdatabase = 0
              AND s.setconfig @> ARRAY[
                  'statement_timeout=' || budget.statement_timeout,
                  'lock_timeout=' || budget.lock_timeout,
                  'idle_in_transaction_session_timeout=' || budget.idle_timeout]
        ) THEN
            EXECUTE format('ALTER ROLE %I SET statement_timeout = %L',
                           budget.role, budget.statement_timeout);
            EXECUTE format('ALTER ROLE %I SET lock_timeout = %L',
                           budget.role, budget.lock_timeout);
            EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L',
                           budget.role, budget.idle_timeout);
        END IF;

        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), budget.role);
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA public TO nexus_export;

-- nexus_integrations (IntegrationsFunction): requests an export, reads its status, fails it
-- when it could not be queued. Never the worker's claim.
GRANT SELECT (id, organization_id, from_date, to_date, status, row_count, object_key,
              expires_at),
      INSERT (id, organization_id, user_id, from_date, to_date, integration_id, object_key,
              expires_at),
      UPDATE (status, error, finished_at)
    ON analytics_exports TO nexus_integrations;

-- nexus_export (ExportFunction): reads the metric rows (and each row's provider), claims an
-- export and records its outcome. Nothing else: no tokens, no names, no users.
GRANT SELECT ON analytics_daily_metrics TO nexus_export;
GRANT SELECT (id, provider) ON integrations TO nexus_export;
GRANT SELECT (id, organization_id, from_date, to_date, integration_id, status, object_key,
              claimed_at, expires_at),
      UPDATE (status, row_count, error, claimed_at, finished_at)
    ON analytics_exports TO nexus_export;
