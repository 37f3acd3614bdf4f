-- 0007: the abuse limits of contract §7 are counted in login_throttle (atomically, as logins
-- are: see nexus.auth.repository.send_link), not by counting outbox rows, so 0005's index for
-- that count serves no query and only costs each outbox write.
DROP INDEX outbox_recipient_idx;
