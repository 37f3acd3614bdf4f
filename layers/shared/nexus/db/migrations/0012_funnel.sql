-- 0012: the seller's sales funnel (issue 15, contract §10): store page views, counted once
-- per visitor per product per UTC day, beside the orders each day started and paid.
--
-- Insert-only: a view is a row (product, day, visitor) written with ON CONFLICT DO NOTHING,
-- so a repeat visitor writes nothing and concurrent views of one product never wait on one
-- another (no counter row to lock). The funnel counts rows at read time over the primary
-- key, whose leading (product_id, day) columns serve the range scan.
--
-- visitor is HMAC-SHA256(VISITOR_KEY, day || IP || User-Agent) (nexus.products.visitors):
-- neither the IP nor the User-Agent is stored, and with the day in the MAC one visitor's
-- rows of two days cannot be linked.
--
-- No foreign key to products: its check takes FOR KEY SHARE on the product's row on every
-- insert, which under many concurrent views of one product is the hot-row contention this
-- table avoids. Products are never hard-deleted (deleted_at), so no row is orphaned.
CREATE TABLE store_views (
    product_id uuid  NOT NULL,
    day        date  NOT NULL,
    visitor    bytea NOT NULL CHECK (octet_length(visitor) = 32),
    PRIMARY KEY (product_id, day, visitor)
);

-- Checkouts started and orders paid, per product per day (the ledger's indexes are per
-- organization: a seller with many products would scan all of theirs).
CREATE INDEX orders_product_created_idx ON orders (product_id, created_at);
CREATE INDEX orders_product_paid_idx ON orders (product_id, paid_at) WHERE paid_at IS NOT NULL;

-- nexus_checkout (CheckoutFunction): the store page counts its views; GET /analytics/funnel
-- reads them (and the products and orders it can read already). SELECT is also what
-- ON CONFLICT's arbiter reads.
GRANT SELECT, INSERT (product_id, day, visitor) ON store_views TO nexus_checkout;
