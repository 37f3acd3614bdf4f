-- 0003: login throttling that is atomic, per account and per client IP (contract §6).
--
-- One counter row per key ('account:<lower-cased e-mail>' or 'ip:<address>') and window.
-- A login attempt counts itself with one INSERT … ON CONFLICT DO UPDATE: concurrent attempts
-- on one key queue on its row lock and each sees the count the previous one left, so the
-- statement that counts also decides (50 parallel attempts get 1..50; only the first
-- LOGIN_MAX_FAILURES are checked). The row-per-failure table it replaces was read and then
-- written in two statements, which let parallel attempts all read "below the limit".
CREATE TABLE login_throttle (
    key          text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    attempts     integer NOT NULL CHECK (attempts >= 0)
);

DROP TABLE login_attempts;

-- The counting upsert reads the row it updates (window_start, attempts) and a successful
-- login clears the account's row and takes its own attempt off the client's.
GRANT SELECT, INSERT (key, window_start, attempts), UPDATE (window_start, attempts), DELETE
    ON login_throttle TO nexus_auth;
