-- 0014: GET /analytics/content (contract §10), newest first, by keyset over an index range
-- scan: the content's time (its provider's created_time, else when it was first seen: a few
-- providers omit it), then the integration and content ids, per organization.
CREATE INDEX analytics_content_org_newest_idx ON analytics_content
    (organization_id, (COALESCE(created_time, first_seen_at)) DESC, integration_id DESC,
     content_id DESC);
