-- 0002: one PostgreSQL role per function (or access pattern), each with only the grants its
-- repository's SQL needs and its own time budgets. Only the schema owner (the user that runs
-- the migrations, Aurora's master user) creates, alters or drops anything.
--
-- How to read and extend the grants:
--   * one block per role below, one GRANT per table;
--   * INSERT and UPDATE always name their columns;
--   * SELECT is table-wide unless a column is withheld from that role, then it names the
--     columns it may read (users.password_hash, integrations.access_token_ciphertext);
--   * a WHERE, RETURNING or ON CONFLICT clause reads columns too: they need SELECT;
--   * foreign-key checks run as the table owner: a role needs no grant on the table that a
--     foreign key points to.
-- A later migration that adds a table or a query adds its GRANT lines for the roles that
-- use it (and a test in tests/integration/test_roles.py).
--
-- Roles are cluster-wide while grants are per database: several databases of one server
-- (one per pytest process, the local stack) run this migration, possibly at the same time.
-- Creating a role that exists is skipped (duplicate_object; unique_violation when another
-- transaction created it concurrently), the rds_iam membership and the settings are written
-- only when missing, and nexus.db.migrate retries a migration that lost such a race.

DO $$
DECLARE
    budget record;
BEGIN
    -- Time budgets per role, in seconds, each below its function's Timeout in template.yaml
    -- (API functions 10 s, the ingest consumer 60 s, the fan-out 300 s). Set on the role,
    -- never with SET in a session: RDS Proxy refuses startup options and pins the client's
    -- connection on SET (docs/deploy.md, "Database roles").
    FOR budget IN
        SELECT * FROM (VALUES
            -- role,               statement, lock, idle in transaction
            ('nexus_auth',         '5s',      '2s', '5s'),
            ('nexus_products',     '5s',      '2s', '5s'),
            ('nexus_checkout',     '5s',      '2s', '5s'),
            ('nexus_integrations', '5s',      '2s', '5s'),
            ('nexus_ingest',       '20s',     '5s', '10s'),
            ('nexus_fanout',       '10s',     '2s', '10s')
        ) AS b (role, statement_timeout, lock_timeout, idle_timeout)
    LOOP
        BEGIN
            -- LOGIN without a password: on AWS the role signs in with an IAM token (rds_iam);
            -- locally the embedded server trusts local connections.
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

    -- No temporary tables for anyone but the owner (PUBLIC has TEMPORARY by default).
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;

-- Only the owner creates objects in the schema (already PostgreSQL 15's default; explicit
-- so that an older or differently initialised server behaves the same).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public
    TO nexus_auth, nexus_products, nexus_checkout, nexus_integrations, nexus_ingest, nexus_fanout;

-- nexus_auth (AuthFunction): register, login throttling, the current user. Nothing of
-- products, orders or integrations.
GRANT SELECT (id), INSERT (name) ON organizations TO nexus_auth;
GRANT SELECT (id, organization_id, email, name, password_hash, created_at),
      INSERT (organization_id, email, name, password_hash)
    ON users TO nexus_auth;
GRANT SELECT (email_key, attempted_at), INSERT (email_key), DELETE ON login_attempts TO nexus_auth;

-- nexus_products (ProductsFunction): the seller's products. No users (the created_by foreign
-- key is checked by the owner), so never a password hash.
GRANT SELECT,
      INSERT (organization_id, created_by, name, description, price, currency),
      UPDATE (name, description, price, currency, updated_at, deleted_at)
    ON products TO nexus_products;

-- nexus_checkout (CheckoutFunction): the store's product page and checkout read products
-- (never write them); orders and payment events.
GRANT SELECT ON products TO nexus_checkout;
GRANT SELECT,
      INSERT (organization_id, product_id, product_name, email, name, amount, currency,
              idempotency_key, request_hash),
      UPDATE (status, updated_at)  -- also what SELECT ... FOR UPDATE needs
    ON orders TO nexus_checkout;
GRANT SELECT, INSERT (event_id, order_id, type) ON payment_events TO nexus_checkout;

-- nexus_integrations (IntegrationsFunction): connected pages; the analytics reads are
-- read-only. access_token_ciphertext is readable only because update() answers with
-- RETURNING *; once that names its columns, drop it from this SELECT list.
GRANT SELECT (id, organization_id, provider, external_id, name, access_token_ciphertext,
              status, created_at, updated_at, deleted_at),
      INSERT (id, organization_id, provider, external_id, name, access_token_ciphertext),
      UPDATE (name, access_token_ciphertext, status, updated_at, deleted_at)
    ON integrations TO nexus_integrations;
GRANT SELECT ON ingestion_runs, analytics_daily_metrics TO nexus_integrations;

-- nexus_ingest (IngestMetricsFunction, the consumer): reads a job's integration (its token
-- included), marks it needs_reauth, writes the snapshot tables.
GRANT SELECT (id, organization_id, external_id, status, deleted_at, access_token_ciphertext),
      UPDATE (status, updated_at)
    ON integrations TO nexus_ingest;
GRANT SELECT,
      INSERT (organization_id, integration_id, content_id, created_time, message),
      UPDATE (created_time, message, updated_at)
    ON analytics_content TO nexus_ingest;
GRANT SELECT,
      INSERT (organization_id, integration_id, content_id, date,
              impressions, reach, reactions, video_views, clicks, comments, shares),
      UPDATE (impressions, reach, reactions, video_views, clicks, comments, shares, updated_at)
    ON analytics_daily_metrics TO nexus_ingest;
GRANT SELECT,
      INSERT (organization_id, integration_id, date, status, content_total, content_failed,
              error_code, finished_at),
      UPDATE (status, content_total, content_failed, error_code, finished_at, attempts)
    ON ingestion_runs TO nexus_ingest;

-- nexus_fanout (IngestFanoutFunction): which integrations to schedule; never their tokens.
GRANT SELECT (id, organization_id, status, deleted_at) ON integrations TO nexus_fanout;
