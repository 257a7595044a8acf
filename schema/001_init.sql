-- 001: tenants, API keys, notifications, delivery attempts, idempotency keys.
--
-- How to change the schema:
--   1. Never edit a migration that has been released; add NNN_<what>.sql with the next number.
--   2. A migration runs once, inside one transaction, under heraldctl's advisory lock.
--   3. Keep each migration safe on a live table (add columns nullable or with a constant
--      default). heraldctl runs every file inside a transaction, so CREATE INDEX
--      CONCURRENTLY cannot be used: on a large table, build the index by hand first
--      (CONCURRENTLY) and let the migration's CREATE INDEX IF NOT EXISTS find it.
--   4. Update ARCHITECTURE.md when a column changes meaning.

CREATE TABLE tenants (
    id                 bigserial PRIMARY KEY,
    name               text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    webhook_secret     text NOT NULL,          -- whsec_<base64 of 32 bytes>
    prev_webhook_secret text,                  -- the secret before the last rotation
    secret_rotated_at  timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id           text PRIMARY KEY,             -- the <key id> of hk_<key id>_<secret>
    tenant_id    bigint NOT NULL REFERENCES tenants(id),
    secret_hash  bytea NOT NULL,               -- SHA-256 of the secret; the secret is never stored
    admin        boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE notifications (
    id            uuid PRIMARY KEY,            -- UUIDv7 made by the API
    tenant_id     bigint NOT NULL REFERENCES tenants(id),
    channel       text NOT NULL CHECK (channel IN ('email', 'sms', 'push', 'webhook')),
    recipient     text NOT NULL,
    subject       text,                        -- template source, as submitted
    body          text NOT NULL,               -- template source, as submitted
    metadata      text,                        -- compact JSON object, as validated
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'sent', 'delivered', 'failed', 'cancelled')),
    attempts      integer NOT NULL DEFAULT 0,
    budget_base   integer NOT NULL DEFAULT 0,  -- attempts at the last replay: a fresh budget
    last_error    text,
    send_at       timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    sent_at       timestamptz,
    delivered_at  timestamptz,
    failed_at     timestamptz,
    -- delivery scheduling (PostgreSQL is the source of truth; Redis only transports ids)
    due_at        timestamptz NOT NULL,        -- earliest time of the next attempt
    in_stream     boolean NOT NULL,            -- believed to be in the channel's stream
    enqueued_at   timestamptz,                 -- last time it was added to the stream
    lease_owner   text,                        -- consumer delivering it now
    lease_until   timestamptz,                 -- the lease ends here; reclaimable after
    provider_ref  text                         -- provider's message id (SMS sid)
);
CREATE INDEX notifications_list ON notifications (tenant_id, created_at DESC, id DESC);
CREATE INDEX notifications_list_recipient
    ON notifications (tenant_id, recipient, created_at DESC, id DESC);
CREATE INDEX notifications_due ON notifications (channel, due_at) WHERE status = 'pending';
CREATE INDEX notifications_dlq
    ON notifications (channel, failed_at DESC, id DESC) WHERE status = 'failed';
CREATE INDEX notifications_provider_ref
    ON notifications (provider_ref) WHERE provider_ref IS NOT NULL;
CREATE INDEX notifications_final ON notifications (updated_at)
    WHERE status IN ('sent', 'delivered', 'failed', 'cancelled');

-- One row per delivery attempt. No foreign key: rows are purged with their
-- notification by the retention job, and the check would cost every insert.
CREATE TABLE delivery_attempts (
    notification_id uuid NOT NULL,
    attempt         integer NOT NULL,
    started_at      timestamptz NOT NULL,
    duration_ms     integer NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('success', 'retry', 'failed')),
    status_code     integer,
    error           text,
    PRIMARY KEY (notification_id, attempt)
);

CREATE TABLE idempotency_keys (
    tenant_id  bigint NOT NULL,
    route      text NOT NULL,
    key        text NOT NULL,
    body_hash  bytea NOT NULL,                 -- SHA-256 of the request body
    response   text NOT NULL,                  -- the 201 body, byte for byte
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, route, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- SMS receipts that arrived before the provider's sid was stored.
CREATE TABLE sms_receipts (
    provider_ref text PRIMARY KEY,
    status       text NOT NULL,
    error        text,
    received_at  timestamptz NOT NULL DEFAULT now()
);
