-- Nexus Sales initial schema: every table the v1 contract needs.
-- IDs are UUIDs (opaque to clients, not enumerable). Money is integer cents.

CREATE TABLE organizations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id),
    email           text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    name            text CHECK (char_length(name) <= 200),
    password_hash   text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- E-mail addresses are unique regardless of case.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE INDEX users_organization_idx ON users (organization_id);

-- Failed logins, for throttling per (lower-cased) e-mail address; a success clears them.
CREATE TABLE login_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email_key    text NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_email_time_idx ON login_attempts (email_key, attempted_at DESC);

CREATE TABLE products (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id),
    created_by      uuid NOT NULL REFERENCES users (id),
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description     text CHECK (char_length(description) <= 5000),
    price           bigint NOT NULL CHECK (price BETWEEN 1 AND 100000000),
    currency        char(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);
-- Keyset pagination, newest first, live products only.
CREATE INDEX products_org_page_idx ON products (organization_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

CREATE TABLE orders (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id  uuid NOT NULL REFERENCES organizations (id),
    product_id       uuid NOT NULL REFERENCES products (id),
    -- Copied at checkout so past orders keep their data after a product changes or goes.
    product_name     text NOT NULL,
    email            text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    name             text CHECK (char_length(name) <= 200),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'failed')),
    amount           bigint NOT NULL CHECK (amount > 0),
    currency         char(3) NOT NULL,
    idempotency_key  text CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    request_hash     text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX orders_idempotency_key ON orders (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX orders_org_page_idx ON orders (organization_id, created_at DESC, id DESC);

-- Each payment provider event is applied once.
CREATE TABLE payment_events (
    event_id    text PRIMARY KEY CHECK (char_length(event_id) BETWEEN 1 AND 255),
    order_id    uuid NOT NULL REFERENCES orders (id),
    type        text NOT NULL CHECK (type IN ('payment.succeeded', 'payment.failed')),
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE integrations (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id         uuid NOT NULL REFERENCES organizations (id),
    provider                text NOT NULL CHECK (provider IN ('facebook')),
    external_id             text NOT NULL CHECK (char_length(external_id) BETWEEN 1 AND 255),
    name                    text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    -- AES-GCM ciphertext (nonce || ciphertext || tag); the token is never stored in clear.
    access_token_ciphertext bytea NOT NULL,
    status                  text NOT NULL DEFAULT 'active'
                            CHECK (status IN ('active', 'needs_reauth', 'disabled')),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    deleted_at              timestamptz
);
-- One live integration per (organization, provider, external id); soft-deleted rows don't count.
CREATE UNIQUE INDEX integrations_org_provider_external_key
    ON integrations (organization_id, provider, external_id) WHERE deleted_at IS NULL;
-- Target of the analytics tables' composite foreign keys (one check enforces both the
-- integration and that it belongs to the row's organization).
CREATE UNIQUE INDEX integrations_org_id_key ON integrations (organization_id, id);
-- Fan-out reads active integrations by keyset.
CREATE INDEX integrations_active_idx ON integrations (id)
    WHERE deleted_at IS NULL AND status = 'active';

-- Posts (or other content) discovered on a provider, by the provider's own id.
CREATE TABLE analytics_content (
    organization_id uuid NOT NULL,
    integration_id  uuid NOT NULL,
    content_id      text NOT NULL CHECK (char_length(content_id) BETWEEN 1 AND 255),
    created_time    timestamptz,
    message         text,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, integration_id, content_id),
    FOREIGN KEY (organization_id, integration_id) REFERENCES integrations (organization_id, id)
);

-- One row per (organization, integration, content, date). Metrics are NULL when the
-- provider did not return them (never 0).
CREATE TABLE analytics_daily_metrics (
    organization_id uuid NOT NULL,
    integration_id  uuid NOT NULL,
    content_id      text NOT NULL,
    date            date NOT NULL,
    impressions     bigint,
    reach           bigint,
    reactions       bigint,
    video_views     bigint,
    clicks          bigint,
    comments        bigint,
    shares          bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    FOREIGN KEY (organization_id, integration_id) REFERENCES integrations (organization_id, id)
);
-- The seed design put the nullable deletedAt inside the unique key; NULLs are distinct in
-- PostgreSQL, so that let duplicates through. A partial unique index keeps the natural key
-- unique among live rows and is the ON CONFLICT target for the upsert.
CREATE UNIQUE INDEX analytics_daily_metrics_natural_key
    ON analytics_daily_metrics (organization_id, integration_id, content_id, date)
    WHERE deleted_at IS NULL;
CREATE INDEX analytics_daily_metrics_integration_date_idx
    ON analytics_daily_metrics (integration_id, date);

-- One run per (integration, snapshot date), updated in place as attempts go on.
CREATE TABLE ingestion_runs (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    integration_id  uuid NOT NULL REFERENCES integrations (id),
    date            date NOT NULL,
    status          text NOT NULL
                    CHECK (status IN ('ok', 'partial', 'deferred', 'needs_reauth', 'failed')),
    content_total   integer NOT NULL DEFAULT 0 CHECK (content_total >= 0),
    content_failed  integer NOT NULL DEFAULT 0 CHECK (content_failed >= 0),
    attempts        integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    error_code      text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    PRIMARY KEY (integration_id, date)
);
CREATE INDEX ingestion_runs_org_idx ON ingestion_runs (organization_id, date DESC);
