-- 0006: sessions (rotating refresh tokens) and single-use e-mail tokens (issue 12, §7).
--
-- A refresh token is 256 random bits handed to the client once; only its SHA-256 is stored
-- (a high-entropy secret needs no slow hash). Every login starts a family; each refresh
-- spends its token and issues the next in the same family. A spent token presented again is
-- a stolen one (RFC 9700 §4.14): the whole family is revoked. A token unused for 30 days
-- expires (expires_at moves with each rotation, since each rotation is a new row).
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    family_id   uuid NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    spent_at    timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_live_idx ON refresh_tokens (user_id) WHERE revoked_at IS NULL;

-- Verification and reset links: single use, expiring, stored as SHA-256.
CREATE TABLE email_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose);

ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

GRANT SELECT (email_verified_at, updated_at), UPDATE (password_hash, email_verified_at, updated_at)
    ON users TO nexus_auth;
GRANT SELECT, INSERT (token_hash, family_id, user_id, expires_at), UPDATE (spent_at, revoked_at)
    ON refresh_tokens TO nexus_auth;
GRANT SELECT, INSERT (token_hash, user_id, purpose, expires_at), UPDATE (used_at)
    ON email_tokens TO nexus_auth;
