-- 0008: payments through Stripe Checkout, refunds, expiry, the sellers' ledger and digital
-- delivery (issue 13, contract §8).

-- Orders: pending → paid | failed | expired; paid → refunded (nexus.payments.state).
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('pending', 'paid', 'failed', 'expired', 'refunded'));
ALTER TABLE orders
    -- When the Checkout Session (and so the order) expires; fixed when the order is made, so
    -- a retried session request sends the same parameters under the same Idempotency-Key.
    ADD COLUMN expires_at          timestamptz,
    ADD COLUMN stripe_session_id   text CHECK (char_length(stripe_session_id) <= 255),
    ADD COLUMN checkout_url        text CHECK (char_length(checkout_url) <= 2048),
    -- Stored when the order is paid: refund events name the payment intent, not the session.
    ADD COLUMN payment_intent      text CHECK (char_length(payment_intent) <= 255),
    -- The platform fee in the order's currency, fixed when it is paid (PLATFORM_FEE_BPS may
    -- change later; past entries of the ledger do not).
    ADD COLUMN fee                 bigint CHECK (fee >= 0),
    ADD COLUMN paid_at             timestamptz,
    ADD COLUMN refund_requested_at timestamptz,
    ADD COLUMN refunded_at         timestamptz;
-- v1's orders had no session: a pending one expires an hour after it was made.
UPDATE orders SET expires_at = created_at + interval '60 minutes' WHERE expires_at IS NULL;
ALTER TABLE orders ALTER COLUMN expires_at SET NOT NULL;
CREATE UNIQUE INDEX orders_stripe_session_key ON orders (stripe_session_id)
    WHERE stripe_session_id IS NOT NULL;
CREATE UNIQUE INDEX orders_payment_intent_key ON orders (payment_intent)
    WHERE payment_intent IS NOT NULL;
-- The expiry sweep reads the oldest pending orders first.
CREATE INDEX orders_pending_expiry_idx ON orders (expires_at, id) WHERE status = 'pending';
-- The ledger (GET /orders/summary): payments dated when paid, refunds when refunded.
CREATE INDEX orders_org_paid_idx ON orders (organization_id, paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX orders_org_refunded_idx ON orders (organization_id, refunded_at)
    WHERE refunded_at IS NOT NULL;

-- Stripe event types are Stripe's to name: every event id applied to an order is recorded.
ALTER TABLE payment_events DROP CONSTRAINT payment_events_type_check;
ALTER TABLE payment_events ADD CONSTRAINT payment_events_type_check
    CHECK (char_length(type) BETWEEN 1 AND 255);

-- Product files: the object the product delivers (file_*), and an upload handed out but not
-- yet seen in the bucket (upload_*). Each upload has its own key and objects are never
-- deleted, so replacing a file or deleting the product leaves past buyers' downloads working.
ALTER TABLE products
    ADD COLUMN file_key            text CHECK (char_length(file_key) <= 1024),
    ADD COLUMN file_name           text CHECK (char_length(file_name) <= 255),
    ADD COLUMN file_size           bigint CHECK (file_size BETWEEN 0 AND 2147483648),
    ADD COLUMN file_content_type   text CHECK (char_length(file_content_type) <= 255),
    ADD COLUMN upload_key          text CHECK (char_length(upload_key) <= 1024),
    ADD COLUMN upload_name         text CHECK (char_length(upload_name) <= 255),
    ADD COLUMN upload_size         bigint CHECK (upload_size BETWEEN 0 AND 2147483648),
    ADD COLUMN upload_content_type text CHECK (char_length(upload_content_type) <= 255),
    ADD COLUMN upload_started_at   timestamptz;

GRANT UPDATE (file_key, file_name, file_size, file_content_type, upload_key, upload_name,
              upload_size, upload_content_type, upload_started_at)
    ON products TO nexus_products;

GRANT INSERT (expires_at),
      UPDATE (stripe_session_id, checkout_url, payment_intent, fee, paid_at,
              refund_requested_at, refunded_at)
    ON orders TO nexus_checkout;

-- nexus_maintenance: the expiry sweep asks Stripe about pending orders past their expiry and
-- moves them as Stripe says; a paid one writes the order's emails, as the webhook does.
GRANT SELECT ON orders TO nexus_maintenance;
GRANT UPDATE (status, updated_at, stripe_session_id, payment_intent, fee, paid_at)
    ON orders TO nexus_maintenance;
GRANT SELECT, INSERT (event_id, order_id, type) ON payment_events TO nexus_maintenance;
GRANT SELECT (id, organization_id, email, name) ON users TO nexus_maintenance;
-- As a writer: add a row, mark it relayed once NotifyQueue took its id (it can read id,
-- status, created_at, relayed_at and attempts already, for the sweep).
GRANT INSERT (id, kind, recipient, payload, secret_ciphertext) ON outbox TO nexus_maintenance;
