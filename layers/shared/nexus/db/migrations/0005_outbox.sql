-- 0005: the transactional outbox for email (docs/architecture.md, "Email: the outbox").
-- A row is written in the same transaction as the change that causes the email; the writer
-- hands its id to NotifyQueue after the commit (best effort), MaintenanceFunction's sweep
-- relays whatever that missed, and NotifyFunction sends each row at most once per claim.

CREATE TABLE outbox (
    -- Made by the writer (nexus.outbox.add): the id is the secret's associated data.
    id                uuid PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('verify_email', 'password_reset',
                          'order_confirmation', 'new_sale', 'reconnect')),
    recipient         text NOT NULL CHECK (char_length(recipient) BETWEEN 3 AND 254),
    payload           jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(payload) = 'object'),
    -- A single-use link token (verify, reset), AES-GCM encrypted (nexus.crypto) with the
    -- row id as associated data; erased once the email is sent, suppressed or given up.
    secret_ciphertext bytea,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'sent', 'suppressed', 'failed')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- Handed to NotifyQueue (by the writer after commit, or by the sweep); the sweep relays
    -- a row again when this is long ago and the row is still pending (a lost message).
    relayed_at        timestamptz,
    -- A NotifyFunction invocation is sending it (a lease: another delivery of the same id
    -- waits until it is sent or the lease has run out).
    claimed_at        timestamptz,
    sent_at           timestamptz,
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error        text CHECK (char_length(last_error) <= 500),
    -- SES's MessageId: how a bounce or complaint finds its row.
    message_id        text,
    CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    CHECK (status = 'pending' OR secret_ciphertext IS NULL)
);
-- The sweep: rows never relayed, oldest first; rows relayed long ago and still pending.
CREATE INDEX outbox_unrelayed_idx ON outbox (created_at)
    WHERE status = 'pending' AND relayed_at IS NULL;
CREATE INDEX outbox_unsent_idx ON outbox (relayed_at)
    WHERE status = 'pending' AND relayed_at IS NOT NULL;
-- Emails per address and kind in a time window (the abuse limits of contract §7).
CREATE INDEX outbox_recipient_idx ON outbox (lower(recipient), kind, created_at DESC);
CREATE INDEX outbox_message_idx ON outbox (message_id) WHERE message_id IS NOT NULL;

-- Addresses SES reported as bounced (permanently) or complained about: never mailed again.
CREATE TABLE email_suppressions (
    address_key text PRIMARY KEY CHECK (address_key = lower(address_key)
                                        AND char_length(address_key) BETWEEN 3 AND 254),
    reason      text NOT NULL CHECK (reason IN ('bounce', 'complaint')),
    -- SES's feedback id and bounce subtype: enough to answer "why was I not mailed".
    feedback_id text CHECK (char_length(feedback_id) <= 255),
    detail      text CHECK (char_length(detail) <= 500),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The two new functions' roles, in 0002's idempotent style (roles are cluster-wide).
DO $$
DECLARE
    budget record;
BEGIN
    -- Time budgets below each function's Timeout in template.yaml (NotifyFunction 30 s,
    -- MaintenanceFunction 120 s).
    FOR budget IN
        SELECT * FROM (VALUES
            -- role,               statement, lock, idle in transaction
            ('nexus_notify',       '5s',      '2s', '5s'),
            ('nexus_maintenance',  '30s',     '5s', '10s')
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

GRANT USAGE ON SCHEMA public TO nexus_notify, nexus_maintenance;

-- Writers (AuthFunction, CheckoutFunction, the ingest consumer): add a row in their own
-- transaction, then mark it relayed once NotifyQueue took its id. Never the secret back.
GRANT SELECT (id, relayed_at),
      INSERT (id, kind, recipient, payload, secret_ciphertext),
      UPDATE (relayed_at)
    ON outbox TO nexus_auth, nexus_checkout, nexus_ingest;

-- The new-sale note and the reconnect email go to the organization's users: their address
-- and name only (never the password hash).
GRANT SELECT (id, organization_id, email, name) ON users TO nexus_checkout, nexus_ingest;
-- The reconnect email names the page by its provider and external id, which nexus_ingest
-- reads already (its RETURNING needs provider too); never the integration's name.
GRANT SELECT (provider) ON integrations TO nexus_ingest;

-- nexus_notify (NotifyFunction): claims a row, reads what it renders (the secret included),
-- marks the outcome; checks and writes the suppression list (bounces, complaints).
GRANT SELECT (id, kind, recipient, payload, secret_ciphertext, status, claimed_at, attempts,
              sent_at, message_id),
      UPDATE (status, claimed_at, attempts, sent_at, secret_ciphertext, last_error, message_id)
    ON outbox TO nexus_notify;
GRANT SELECT,
      INSERT (address_key, reason, feedback_id, detail),
      UPDATE (reason, feedback_id, detail, updated_at)
    ON email_suppressions TO nexus_notify;

-- nexus_maintenance (MaintenanceFunction): the outbox sweep sees which rows are due and
-- marks them relayed; never a recipient, a payload or a secret.
GRANT SELECT (id, status, created_at, relayed_at, attempts), UPDATE (relayed_at)
    ON outbox TO nexus_maintenance;
