-- 0004: IntegrationsFunction writes a page token (create, new token) but never reads one
-- back: IntegrationRepository.update now names the columns it returns, so the role loses the
-- SELECT on the ciphertext 0002 had to give it for RETURNING *. Only the ingest consumer,
-- which calls Graph with the token, can read it.
REVOKE SELECT (access_token_ciphertext) ON integrations FROM nexus_integrations;
