-- 003: indexes for the sweeper's two queries, which run every
-- HERALD_SWEEP_INTERVAL_MS in every process and otherwise scan the table:
-- rows waiting to be enqueued (scheduled, retried, or whose XADD failed), and
-- rows believed to be in a stream (orphan search). Neither holds the lease
-- columns, so a claim's UPDATE stays a heap-only update.
--
-- The tenant foreign key on notifications goes: the tenant comes from the
-- authenticated key, tenants are never deleted, and its per-row trigger was
-- a tenth of PostgreSQL's work per inserted notification (bench/RESULTS.md).
CREATE INDEX IF NOT EXISTS notifications_unqueued ON notifications (due_at)
    WHERE status = 'pending' AND NOT in_stream;
CREATE INDEX IF NOT EXISTS notifications_orphan ON notifications (channel, enqueued_at)
    WHERE status = 'pending' AND in_stream;
ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_tenant_id_fkey;
