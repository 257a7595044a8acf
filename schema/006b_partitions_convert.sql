-- 006b: the last step of 006's conversion, in one transaction that holds its locks for a
-- catalog change only (well under a second whatever the tables' size; statements on the
-- two tables wait for it). If the locks cannot be had within 10 s (a long transaction
-- on the tables) nothing changes and heraldctl migrate fails; run it again.
--
-- Indexes that went in 006a (every query in the tree was checked against them):
--   notifications_list, notifications_list_recipient: replaced by 006a's.
--   notifications_due (channel, due_at) WHERE pending: no query needs it; the claim and
--     the outcome find rows by id, the sweeper and the queue counts read
--     notifications_unqueued and notifications_orphan, which between them hold every
--     pending row.
--   notifications_final (updated_at) WHERE final: only the row-by-row retention read it.
-- Left: the primary key, notifications_by_tenant, notifications_by_recipient,
-- notifications_unqueued and notifications_orphan (the sweeper), notifications_dlq (dead
-- letters) and notifications_provider_ref (SMS receipts). An outcome that ends a
-- notification (status leaves 'pending') writes three index entries: the primary key,
-- by_tenant and by_recipient (plus dlq when it failed); before, it wrote five, with
-- larger keys.
SET LOCAL lock_timeout = '10s';
LOCK TABLE notifications, delivery_attempts IN ACCESS EXCLUSIVE MODE;
SELECT herald_partition_convert('notifications');
SELECT herald_partition_convert('delivery_attempts');
-- the partitions from the cutoff on (heraldctl migrate and herald-api keep them ahead)
SELECT herald_partitions_ensure(NULL,
    coalesce(nullif(current_setting('herald.partition_ms', true), '')::bigint, 86400000),
    2 * coalesce(nullif(current_setting('herald.partition_ms', true), '')::bigint, 86400000));
