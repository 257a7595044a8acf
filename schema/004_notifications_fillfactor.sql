-- 004: room on every page of notifications for the claim's new row version.
-- A claim changes only the lease columns, which no index holds, so when the
-- page has room PostgreSQL keeps the new version on it as a heap-only tuple
-- and touches none of the table's indexes. Pages filled to 100 % (the
-- default) leave no room, and every claim then adds an entry to each index.
-- Applies to pages written from now on; nothing is rewritten.
ALTER TABLE notifications SET (fillfactor = 80);
