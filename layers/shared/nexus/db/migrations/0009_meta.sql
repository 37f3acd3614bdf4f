-- 0009: connecting Meta accounts through Facebook Login, Instagram professional accounts,
-- account-level daily insights and Meta's compliance callbacks (issue 14, contract §9, §10).

-- Instagram professional accounts are integrations too. A connected account remembers the
-- Meta user who granted it (deauthorize and data deletion name that user) and whether its
-- token came from the connect flow: only those tokens are ours, so only their Graph calls
-- carry appsecret_proof (a pasted v1 token may belong to another app). Deauthorize forgets
-- the token: the column becomes nullable, and a NULL token is never used.
ALTER TABLE integrations DROP CONSTRAINT integrations_provider_check;
ALTER TABLE integrations ADD CONSTRAINT integrations_provider_check
    CHECK (provider IN ('facebook', 'instagram'));
ALTER TABLE integrations
    ADD COLUMN meta_user_id text CHECK (char_length(meta_user_id) BETWEEN 1 AND 64),
    ADD COLUMN token_source text NOT NULL DEFAULT 'manual'
        CHECK (token_source IN ('manual', 'connect')),
    ALTER COLUMN access_token_ciphertext DROP NOT NULL;
CREATE INDEX integrations_meta_user_idx ON integrations (meta_user_id)
    WHERE meta_user_id IS NOT NULL;

-- Metric row v2: Instagram's saves, profile visits and follows; what a content is.
ALTER TABLE analytics_daily_metrics
    ADD COLUMN saves          bigint,
    ADD COLUMN profile_visits bigint,
    ADD COLUMN follows        bigint;
ALTER TABLE analytics_content
    ADD COLUMN permalink_url text CHECK (char_length(permalink_url) <= 2048),
    ADD COLUMN media_type    text CHECK (char_length(media_type) <= 64);

-- Account-level insights, one row per integration and day, NULL where the provider or the
-- API version has no value (never 0). Upserted like post metrics: a NULL never erases.
CREATE TABLE analytics_account_daily (
    organization_id uuid NOT NULL,
    integration_id  uuid NOT NULL,
    date            date NOT NULL,
    followers       bigint,
    follows         bigint,
    views           bigint,
    reach           bigint,
    engagements     bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (integration_id, date),
    FOREIGN KEY (organization_id, integration_id) REFERENCES integrations (organization_id, id)
);
CREATE INDEX analytics_account_daily_org_date_idx
    ON analytics_account_daily (organization_id, date, integration_id);

-- The connect flow's state: single use (deleted when redeemed), bound to the user who asked
-- for it, 10 minutes. Only its SHA-256 is stored.
CREATE TABLE meta_oauth_states (
    state_hash      bytea PRIMARY KEY CHECK (octet_length(state_hash) = 32),
    organization_id uuid NOT NULL REFERENCES organizations (id),
    user_id         uuid NOT NULL REFERENCES users (id),
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meta_oauth_states_expiry_idx ON meta_oauth_states (expires_at);

-- What a callback found: the Meta user, the permissions granted, the accounts (public
-- fields) and, sealed with the connection's id as associated data, the long-lived user
-- token and each account's page token. Deleted an hour after its last use.
CREATE TABLE meta_connections (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations (id),
    user_id           uuid NOT NULL REFERENCES users (id),
    meta_user_id      text NOT NULL CHECK (char_length(meta_user_id) BETWEEN 1 AND 64),
    granted_scopes    text[] NOT NULL,
    accounts          jsonb NOT NULL,
    tokens_ciphertext bytea NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_used_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meta_connections_last_used_idx ON meta_connections (last_used_at);
CREATE INDEX meta_connections_meta_user_idx ON meta_connections (meta_user_id);

-- Meta's data-deletion requests, reported by GET /meta/data-deletion/{confirmation_code}.
CREATE TABLE meta_data_deletions (
    confirmation_code text PRIMARY KEY CHECK (char_length(confirmation_code) BETWEEN 1 AND 64),
    meta_user_id      text NOT NULL CHECK (char_length(meta_user_id) BETWEEN 1 AND 64),
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'complete')),
    integrations      integer NOT NULL DEFAULT 0,
    requested_at      timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz
);
CREATE INDEX meta_data_deletions_pending_idx ON meta_data_deletions (requested_at)
    WHERE status = 'pending';

-- nexus_integrations: the connect flow, connecting from a connection, the account reads and
-- the compliance callbacks (which erase a Meta user's integrations and everything under them).
GRANT SELECT (meta_user_id, token_source),
      INSERT (meta_user_id, token_source),
      UPDATE (meta_user_id, token_source),
      DELETE
    ON integrations TO nexus_integrations;
GRANT SELECT, INSERT, DELETE ON meta_oauth_states TO nexus_integrations;
GRANT SELECT, INSERT, UPDATE (last_used_at), DELETE ON meta_connections TO nexus_integrations;
GRANT SELECT, INSERT, UPDATE (status, integrations, completed_at)
    ON meta_data_deletions TO nexus_integrations;
GRANT SELECT ON analytics_content, analytics_account_daily TO nexus_integrations;
GRANT DELETE ON analytics_content, analytics_daily_metrics, analytics_account_daily,
                ingestion_runs
    TO nexus_integrations;

-- nexus_ingest: which provider and token kind a job has; the new metrics and content fields;
-- the account rows.
GRANT SELECT (token_source) ON integrations TO nexus_ingest;
GRANT INSERT (permalink_url, media_type), UPDATE (permalink_url, media_type)
    ON analytics_content TO nexus_ingest;
GRANT INSERT (saves, profile_visits, follows), UPDATE (saves, profile_visits, follows)
    ON analytics_daily_metrics TO nexus_ingest;
GRANT SELECT,
      INSERT (organization_id, integration_id, date, followers, follows, views, reach,
              engagements),
      UPDATE (followers, follows, views, reach, engagements, updated_at)
    ON analytics_account_daily TO nexus_ingest;

-- nexus_maintenance: connections unused for an hour and states past their expiry go.
GRANT SELECT (id, last_used_at), DELETE ON meta_connections TO nexus_maintenance;
GRANT SELECT (state_hash, expires_at), DELETE ON meta_oauth_states TO nexus_maintenance;
