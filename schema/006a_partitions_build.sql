-- heraldctl: no transaction
-- 006a: the second step of 006's conversion, run statement by statement outside a
-- transaction so that reads and writes go on meanwhile (each step is safe to run again):
--
-- The list of a tenant's notifications is now read newest first by id alone: created_at
-- is the id's own time (api/notifications.c), so (created_at, id) order is id order, and
-- a key of (tenant_id, id) replaces (tenant_id, created_at, id). The recipient filter
-- reads an index on a 64-bit hash of the recipient seeded by the tenant (the query checks
-- the recipient itself): a fixed 24-byte key instead of a URL or a device token of up to
-- 4096 bytes, which could not even be indexed (a btree entry holds at most ~2,700 bytes).
SELECT herald_index_drop_invalid('notifications_by_tenant');
CREATE INDEX CONCURRENTLY IF NOT EXISTS notifications_by_tenant ON notifications (tenant_id, id);
SELECT herald_index_drop_invalid('notifications_by_recipient');
CREATE INDEX CONCURRENTLY IF NOT EXISTS notifications_by_recipient
    ON notifications (hashtextextended(recipient, tenant_id), id);
-- The indexes these replace, and those nothing needs any more (see 006b), go now, under a
-- lock writers do not wait for, rather than under 006b's exclusive locks (unlinking a large
-- index's files takes time). Herald before 006 lists more slowly without them: deploy the
-- new binaries with the migration.
DROP INDEX CONCURRENTLY IF EXISTS notifications_list;
DROP INDEX CONCURRENTLY IF EXISTS notifications_list_recipient;
DROP INDEX CONCURRENTLY IF EXISTS notifications_due;
DROP INDEX CONCURRENTLY IF EXISTS notifications_final;
-- reads every row once, under SHARE UPDATE EXCLUSIVE (writes go on)
ALTER TABLE notifications VALIDATE CONSTRAINT notifications_partition_cutoff;
ALTER TABLE delivery_attempts VALIDATE CONSTRAINT delivery_attempts_partition_cutoff;
