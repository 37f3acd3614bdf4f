-- 0010: the ids of integrations Meta's data deletion erased (nothing else of them: no name,
-- no token, no Meta user). A job queued before the erase still names one; the consumer
-- finds it here and skips it, where a job for an id never seen is dead-lettered as invalid.
CREATE TABLE erased_integrations (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    erased_at       timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT (id, organization_id) ON erased_integrations TO nexus_integrations;
GRANT SELECT ON erased_integrations TO nexus_ingest;
