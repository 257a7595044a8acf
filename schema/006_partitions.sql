-- 006: notifications and delivery_attempts become tables partitioned by range of the
-- UUIDv7 id (delivery_attempts by notification_id, with the same bounds), so that
-- retention drops whole partitions instead of deleting rows one by one.
--
-- The conversion takes three migrations so that the API can stay up:
--   006  (this file, one transaction, instant): the partition registry and functions,
--        and a CHECK (key < cutoff) NOT VALID on both tables; new rows are held to it
--        from now on, the rows already there are not read.
--   006a (no transaction): the new indexes built CONCURRENTLY and the CHECK validated,
--        both under locks that let reads and writes go on (SHARE UPDATE EXCLUSIVE).
--   006b (one transaction, sub-second): each table is renamed <table>_p0 and attached
--        as the first partition [MINVALUE, cutoff) of a new partitioned table of its
--        name; the validated CHECK proves its rows fit, so nothing is scanned, and its
--        indexes become the partitions of the parent's. Then the partitions from the
--        cutoff on are created.
-- The cutoff lies ahead of now by the partition length (at most 1 h, at least 1 s)
-- plus a minute per million rows, so that 006a's validation ends before it: rows of
-- the old table and those written meanwhile all fall below it.
--
-- Partition maintenance (herald_partitions_ensure, herald_partitions_detach,
-- herald_partitions_drop_detached) works for every table in herald_partitioned, so a
-- later migration adds a table by creating it PARTITION BY RANGE (a uuid column) with
-- no partitions and inserting its row here: ensure creates its partitions from then
-- on (the first one from MINVALUE).
--
-- See 001 for how to change the schema; a file whose first lines hold the line
-- "-- heraldctl: no transaction" runs statement by statement outside a transaction
-- and must therefore be safe to run again from its start.

-- One row per partitioned table.
CREATE TABLE herald_partitioned (
    name       text PRIMARY KEY,                     -- partitioned BY RANGE (key_column)
    key_column text NOT NULL,                        -- a UUIDv7, or the id of a row of follows
    follows    text REFERENCES herald_partitioned (name), -- NULL: a table with its own bounds;
                                                     -- else its partitions copy that table's
                                                     -- and are detached with them
    keep_while text[],                               -- a partition holding a row for which one
                                                     -- of these is true is kept whatever its
                                                     -- age (one EXISTS each, so that each can
                                                     -- read its own partial index)
    storage    text,                                 -- storage parameters of new partitions
    cutoff     uuid                                  -- the conversion's bound (006b)
);

-- herald_uuid7_ms: the Unix time in milliseconds in a UUIDv7's first 48 bits.
CREATE FUNCTION herald_uuid7_ms(u uuid) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ('x' || left(replace(u::text, '-', ''), 12))::bit(48)::bigint
$$;

-- herald_uuid7_floor: the smallest UUID whose first 48 bits are ms.
CREATE FUNCTION herald_uuid7_floor(ms bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (lpad(to_hex(ms), 12, '0') || '00000000000000000000')::uuid
$$;

-- herald_partitions: every attached range partition of a registered table (not the
-- default partition), with its bounds in milliseconds (NULL lower_ms: MINVALUE; NULL
-- upper_ms: MAXVALUE).
CREATE VIEW herald_partitions AS
SELECT t.name AS parent, c.relname::text AS partition,
       herald_uuid7_ms(substring(b.expr FROM $re$FROM \('([0-9a-f-]{36})'\)$re$)::uuid) AS lower_ms,
       herald_uuid7_ms(substring(b.expr FROM $re$TO \('([0-9a-f-]{36})'\)$re$)::uuid) AS upper_ms
FROM herald_partitioned t
JOIN pg_class p ON p.relname = t.name AND p.relnamespace = current_schema()::regnamespace
JOIN pg_inherits i ON i.inhparent = p.oid AND NOT i.inhdetachpending
JOIN pg_class c ON c.oid = i.inhrelid
CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS expr) b
WHERE b.expr <> 'DEFAULT';

-- herald_partition_name: <parent>_p<lower bound as UTC yyyymmddThhmmss[_mmm]>, _p0 from MINVALUE.
CREATE FUNCTION herald_partition_name(parent text, lo bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT parent || '_p' || CASE WHEN lo IS NULL THEN '0' ELSE
        to_char(to_timestamp(lo / 1000) AT TIME ZONE 'UTC', 'YYYYMMDD"t"HH24MISS')
        || CASE WHEN lo % 1000 <> 0 THEN '_' || lpad((lo % 1000)::text, 3, '0') ELSE '' END END
$$;

-- herald_partition_table: creates a table made like parent (columns, defaults, CHECK
-- constraints, storage) with the registered storage parameters, not attached.
CREATE FUNCTION herald_partition_table(parent text, part text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    opts text := (SELECT storage FROM herald_partitioned WHERE name = parent);
BEGIN
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                   'INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION '
                   'INCLUDING STATISTICS)%s', part, parent,
                   CASE WHEN opts IS NULL THEN '' ELSE ' WITH (' || opts || ')' END);
END $$;

-- herald_partition_create: creates parent's partition [lo, hi) (NULL lo: from MINVALUE)
-- and returns its name. CREATE TABLE ... PARTITION OF would lock the parent against every
-- reader and writer (ACCESS EXCLUSIVE); a table made alike and then attached needs only
-- SHARE UPDATE EXCLUSIVE on it, which inserts, updates and selects do not wait for. Rows
-- of the range that the default partition holds move into the new partition first (the
-- attach checks the default partition, under a lock on it alone, and would fail).
CREATE FUNCTION herald_partition_create(parent text, lo bigint, hi bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    part text := herald_partition_name(parent, lo);
    key text := (SELECT key_column FROM herald_partitioned WHERE name = parent);
    def text := (SELECT d.relname FROM pg_partitioned_table pt JOIN pg_class d ON d.oid = pt.partdefid
                 WHERE pt.partrelid = parent::regclass);
    cols text;
BEGIN
    PERFORM herald_partition_table(parent, part);
    IF def IS NOT NULL THEN
        EXECUTE format('LOCK TABLE %I IN SHARE ROW EXCLUSIVE MODE', def);
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
          FROM pg_attribute WHERE attrelid = parent::regclass AND attnum > 0 AND NOT attisdropped;
        EXECUTE format('WITH m AS (DELETE FROM %I WHERE %s %I < %L RETURNING %s) '
                       'INSERT INTO %I (%s) SELECT %s FROM m', def,
                       CASE WHEN lo IS NULL THEN ''
                            ELSE format('%I >= %L AND', key, herald_uuid7_floor(lo)) END,
                       key, herald_uuid7_floor(hi), cols, part, cols, cols);
    END IF;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%L)',
                   parent, part,
                   CASE WHEN lo IS NULL THEN 'MINVALUE' ELSE quote_literal(herald_uuid7_floor(lo)) END,
                   herald_uuid7_floor(hi));
    RETURN part;
END $$;

-- herald_partitions_ensure: creates the partitions missing for keys up to
-- max(client_ms, the database's clock) + ahead_ms, in lengths of period_ms aligned on
-- multiples of it; returns how many it created. Partitions are contiguous, from the last
-- upper bound on: a stretch of more than 8 lengths before the current one (nothing ran
-- for that long, or client_ms is far ahead of the database's clock) is bridged by one
-- partition instead of one per length. A table without partitions gets a first one from
-- MINVALUE. Followers get a partition of the same bounds for each partition of the table
-- they follow. Safe to call from every process at once (an advisory lock serialises the
-- callers) and as often as wanted.
CREATE FUNCTION herald_partitions_ensure(client_ms bigint, period_ms bigint, ahead_ms bigint)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    t record;
    b record;
    made integer := 0;
    db_ms bigint := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    lo_ms bigint := least(coalesce(client_ms, db_ms), db_ms);
    hi_ms bigint := greatest(coalesce(client_ms, db_ms), db_ms);
    through bigint := hi_ms + ahead_ms;
    top bigint;
    unbounded boolean;
    nxt bigint;
BEGIN
    IF period_ms IS NULL OR period_ms < 1 THEN
        RAISE EXCEPTION 'herald_partitions_ensure: period_ms must be positive';
    END IF;
    -- attaching locks the default partition against every statement that reads it (a
    -- few milliseconds); waiting longer for that lock would queue them all behind it
    PERFORM set_config('lock_timeout', '1000ms', true);
    PERFORM pg_advisory_xact_lock(hashtextextended('herald.partitions', 0));
    -- a default partition takes the keys no range partition covers (ids of a clock far
    -- off, or not UUIDv7 at all), so no insert ever fails for want of a partition
    FOR t IN SELECT r.name FROM herald_partitioned r JOIN pg_partitioned_table pt
               ON pt.partrelid = r.name::regclass WHERE pt.partdefid = 0 ORDER BY r.name LOOP
        PERFORM herald_partition_table(t.name, t.name || '_default');
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I DEFAULT', t.name, t.name || '_default');
        made := made + 1;
    END LOOP;
    FOR t IN SELECT name FROM herald_partitioned WHERE follows IS NULL ORDER BY name LOOP
        SELECT max(upper_ms), bool_or(upper_ms IS NULL)
          INTO top, unbounded
          FROM herald_partitions WHERE parent = t.name;
        IF unbounded THEN
            CONTINUE; -- a partition up to MAXVALUE takes every key
        END IF;
        IF top IS NULL THEN
            top := (lo_ms / period_ms + 1) * period_ms;
            PERFORM herald_partition_create(t.name, NULL, top);
            made := made + 1;
        END IF;
        nxt := (hi_ms / period_ms) * period_ms;
        IF nxt - top > 8 * period_ms THEN
            PERFORM herald_partition_create(t.name, top, nxt);
            made := made + 1;
            top := nxt;
        END IF;
        WHILE top < through LOOP
            nxt := (top / period_ms + 1) * period_ms;
            PERFORM herald_partition_create(t.name, top, nxt);
            made := made + 1;
            top := nxt;
        END LOOP;
    END LOOP;
    FOR t IN SELECT name, follows FROM herald_partitioned WHERE follows IS NOT NULL ORDER BY name LOOP
        FOR b IN SELECT l.lower_ms, l.upper_ms FROM herald_partitions l
                 WHERE l.parent = t.follows AND NOT EXISTS (
                     SELECT 1 FROM herald_partitions f WHERE f.parent = t.name
                        AND coalesce(f.lower_ms, -1) < coalesce(l.upper_ms, 9223372036854775807)
                        AND coalesce(l.lower_ms, -1) < coalesce(f.upper_ms, 9223372036854775807))
                 ORDER BY l.lower_ms NULLS FIRST LOOP
            PERFORM herald_partition_create(t.name, b.lower_ms, b.upper_ms);
            made := made + 1;
        END LOOP;
    END LOOP;
    RETURN made;
END $$;

-- herald_partition_busy: whether the table part holds a row matching one of preds.
CREATE FUNCTION herald_partition_busy(part text, preds text[]) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    pred text;
    busy boolean;
BEGIN
    FOREACH pred IN ARRAY coalesce(preds, '{}') LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %s)', part, pred) INTO busy;
        IF busy THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END $$;

-- herald_partitions_detach: detaches at most one partition that retention lets go, with
-- the partitions of its followers inside its bounds, and returns their names (drop them
-- with herald_partitions_drop_detached() in a later transaction). A partition may go when
-- its upper bound is older than the database's clock minus window_ms and it holds no row
-- matching its table's keep_while (checked first without a lock, then again under it);
-- a follower's partition with no partition of its leader over it goes once it is that
-- old. Detaching locks the parent against every statement (ACCESS EXCLUSIVE) for the
-- few milliseconds of a catalog change; lock_ms bounds the wait for that lock (past it
-- the call fails with lock_not_available, and the next call tries again), so a long
-- query on the table delays retention instead of queueing everyone behind it.
CREATE FUNCTION herald_partitions_detach(window_ms bigint, lock_ms integer)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    t record;
    p record;
    f record;
    horizon bigint := (extract(epoch FROM now()) * 1000)::bigint - window_ms;
BEGIN
    PERFORM set_config('lock_timeout', lock_ms || 'ms', true);
    FOR t IN SELECT name, keep_while FROM herald_partitioned WHERE follows IS NULL ORDER BY name LOOP
        FOR p IN SELECT partition, lower_ms, upper_ms FROM herald_partitions
                 WHERE parent = t.name AND upper_ms < horizon ORDER BY upper_ms LOOP
            CONTINUE WHEN herald_partition_busy(p.partition, t.keep_while);
            EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', t.name);
            FOR f IN SELECT name FROM herald_partitioned WHERE follows = t.name ORDER BY name LOOP
                EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', f.name);
            END LOOP;
            -- a replay may have made a row pending meanwhile
            CONTINUE WHEN herald_partition_busy(p.partition, t.keep_while);
            EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', t.name, p.partition);
            RETURN NEXT p.partition;
            FOR f IN SELECT s.parent, s.partition FROM herald_partitioned r
                     JOIN herald_partitions s ON s.parent = r.name
                     WHERE r.follows = t.name
                       AND coalesce(s.lower_ms, -1) >= coalesce(p.lower_ms, -1)
                       AND s.upper_ms <= p.upper_ms LOOP
                EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', f.parent, f.partition);
                RETURN NEXT f.partition;
            END LOOP;
            RETURN;
        END LOOP;
    END LOOP;
    FOR f IN SELECT s.parent, s.partition FROM herald_partitioned r
             JOIN herald_partitions s ON s.parent = r.name
             WHERE r.follows IS NOT NULL AND s.upper_ms < horizon
               AND NOT EXISTS (SELECT 1 FROM herald_partitions l WHERE l.parent = r.follows
                   AND coalesce(l.lower_ms, -1) < s.upper_ms
                   AND coalesce(s.lower_ms, -1) < coalesce(l.upper_ms, 9223372036854775807))
             ORDER BY s.upper_ms LIMIT 1 LOOP
        EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', f.parent);
        EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', f.parent, f.partition);
        RETURN NEXT f.partition;
    END LOOP;
END $$;

-- herald_partitions_drop_detached: drops the tables named like partitions of a registered
-- table that are no longer attached (detached by herald_partitions_detach, perhaps by a
-- process that stopped before dropping them); returns how many. Each DROP locks only the
-- table it drops, so the time to unlink large files holds up no statement.
CREATE FUNCTION herald_partitions_drop_detached() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    FOR r IN SELECT c.relname FROM pg_class c JOIN herald_partitioned t
               ON c.relname ~ ('^' || t.name || '_p(0|[0-9]{8}t[0-9]{6}(_[0-9]{3})?)$')
             WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
               AND NOT c.relispartition LOOP
        EXECUTE format('DROP TABLE %I', r.relname);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- herald_index_drop_invalid: drops the index called name if an interrupted CREATE INDEX
-- CONCURRENTLY left it invalid, so that running the build again makes it afresh.
CREATE FUNCTION herald_index_drop_invalid(name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE c.relname = name AND c.relnamespace = current_schema()::regnamespace
                 AND NOT i.indisvalid) THEN
        EXECUTE format('DROP INDEX %I', name);
    END IF;
END $$;

-- herald_partition_convert: turns the plain table tbl (registered, with a validated
-- CHECK constraint <tbl>_partition_cutoff) into a partitioned table of the same name whose
-- first partition [MINVALUE, cutoff) is the old table, renamed <tbl>_p0. The columns,
-- defaults, constraints, indexes and triggers are read from the old table, not listed
-- here, so migrations that add columns before or after this one need no change. Nothing
-- is copied or scanned: the parent's indexes are made from the old table's definitions
-- and the attach adopts the old indexes as their partitions. Does nothing if tbl is
-- partitioned already. Takes ACCESS EXCLUSIVE locks until the transaction ends.
CREATE FUNCTION herald_partition_convert(tbl text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t herald_partitioned%ROWTYPE;
    legacy text := tbl || '_p0';
    qtbl text;
    r record;
    def text;
BEGIN
    SELECT * INTO STRICT t FROM herald_partitioned WHERE name = tbl;
    IF (SELECT relkind FROM pg_class WHERE oid = tbl::regclass) = 'p' THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_index WHERE indrelid = tbl::regclass AND NOT indisvalid) THEN
        RAISE EXCEPTION '% has an invalid index (an interrupted build): drop it and migrate again', tbl;
    END IF;
    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', tbl);
    EXECUTE format('ALTER TABLE %I RENAME TO %I', tbl, legacy);
    -- the old indexes make way for the parent's, which take their names
    FOR r IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid = legacy::regclass LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.relname,
                       CASE WHEN left(r.relname, length(tbl) + 1) = tbl || '_'
                            THEN legacy || substr(r.relname, length(tbl) + 1)
                            ELSE legacy || '_' || r.relname END);
    END LOOP;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                   'INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STORAGE '
                   'INCLUDING COMPRESSION INCLUDING COMMENTS INCLUDING STATISTICS) '
                   'PARTITION BY RANGE (%I)', tbl, legacy, t.key_column);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', tbl, tbl || '_partition_cutoff');
    qtbl := tbl::regclass::text;
    FOR r IN SELECT c.relname, i.indexrelid, con.conname, con.oid AS conoid
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid
                  AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u')
             WHERE i.indrelid = legacy::regclass ORDER BY c.relname LOOP
        IF r.conname IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s', tbl,
                           tbl || substr(r.conname, length(legacy) + 1),
                           pg_get_constraintdef(r.conoid));
        ELSE
            def := substring(pg_get_indexdef(r.indexrelid) FROM '^CREATE (?:UNIQUE )?INDEX \S+ ON \S+( USING .*)$');
            EXECUTE format('CREATE %sINDEX %I ON %s',
                           CASE WHEN pg_get_indexdef(r.indexrelid) LIKE 'CREATE UNIQUE %' THEN 'UNIQUE ' ELSE '' END,
                           tbl || substr(r.relname, length(legacy) + 1), qtbl) || def;
        END IF;
    END LOOP;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)',
                   tbl, legacy, t.cutoff);
    -- row triggers move to the parent, which gives every partition its copy
    FOR r IN SELECT tg.tgname, pg_get_triggerdef(tg.oid) AS def FROM pg_trigger tg
             WHERE tg.tgrelid = legacy::regclass AND NOT tg.tgisinternal ORDER BY tg.tgname LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', r.tgname, legacy);
        EXECUTE regexp_replace(r.def, ' ON \S+ ', ' ON ' || qtbl || ' ');
    END LOOP;
END $$;

-- The two tables, and the bound below which their rows stay in the old tables.
INSERT INTO herald_partitioned (name, key_column, follows, keep_while, storage, cutoff)
SELECT 'notifications', 'id', NULL,
       -- pending rows, as the two partial indexes of 003 hold them, so that the test
       -- reads those indexes instead of the partition
       ARRAY['status = ''pending'' AND in_stream', 'status = ''pending'' AND NOT in_stream'],
       'fillfactor=80', herald_uuid7_floor(c.cutoff_ms)
FROM (SELECT ((extract(epoch FROM now()) * 1000)::bigint
              + greatest(least(p.ms, 3600000), 1000)
              + (greatest(s.reltuples, 0) / 1e6 * 60000)::bigint) / p.ms * p.ms + p.ms AS cutoff_ms
      FROM (SELECT coalesce(nullif(current_setting('herald.partition_ms', true), '')::bigint,
                            86400000) AS ms) p,
           (SELECT reltuples FROM pg_class WHERE oid = 'notifications'::regclass) s) c;
INSERT INTO herald_partitioned (name, key_column, follows, cutoff)
SELECT 'delivery_attempts', 'notification_id', 'notifications', cutoff
FROM herald_partitioned WHERE name = 'notifications';

-- adding a constraint locks the table for an instant; a long transaction on it makes this
-- give up (run heraldctl migrate again) rather than queue every statement behind it
SET LOCAL lock_timeout = '10s';
DO $$
DECLARE
    cut uuid := (SELECT cutoff FROM herald_partitioned WHERE name = 'notifications');
BEGIN
    EXECUTE format('ALTER TABLE notifications ADD CONSTRAINT notifications_partition_cutoff '
                   'CHECK (id < %L) NOT VALID', cut);
    EXECUTE format('ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_partition_cutoff '
                   'CHECK (notification_id < %L) NOT VALID', cut);
END $$;
