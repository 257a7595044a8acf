-- 009: status events. Every change of a notification's status to sent, delivered,
-- failed, cancelled or expired records one row in events, in the transaction that makes
-- the change (a row trigger on notifications, so no statement can forget it and a
-- rolled-back change leaves none). The row holds the event as it is served: the JSON
-- text of {"id", "type", "occurred_at", "data": the notification resource then}.
--
-- When the tenant has an events_url and the type is among its event_types, the trigger
-- also inserts a notification of kind 'event' (channel webhook, recipient the URL, body
-- the event's JSON, id the event's id, so webhook-id is the event id): the webhook
-- channel delivers it with its retries, timeouts, destination rules and turns. It is
-- written not in the stream (in_stream = false), so the sweeper enqueues it. Such rows
-- make no events of their own and are left out of the tenant's lists and counts.
--
-- The trigger also NOTIFYs herald_events with the tenant id (one per tenant and
-- transaction: PostgreSQL folds identical notifications of a transaction), which wakes
-- the API's long polls of GET /v1/events.
--
-- events is partitioned by range of its UUIDv7 id like notifications (schema/006) and
-- registered in herald_partitioned, so herald-api creates its partitions ahead and
-- retention drops them whole once older than the window.
--
-- The feed serves events oldest first by id, but ids are made before their
-- transaction commits, so a later commit can carry a smaller id. herald_events_page
-- serves only ids below a horizon under which nothing can still commit: the start of
-- the oldest transaction in progress of the same role (events are made only by
-- Herald's own sessions, which share HERALD_DATABASE_URL), read from pg_stat_activity
-- before the snapshot that reads the events is taken (a volatile function in READ
-- COMMITTED takes a snapshot per statement). An event below the horizon was written by
-- a transaction that had ended before the horizon was read, so the snapshot sees it.
--
-- See 001 for how to change the schema.

ALTER TABLE notifications
    ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'notification'; -- or 'event'

-- pending rows with a deadline, for the sweeper's expiry (schema/009; common/sweep.c).
-- On a large table build it by hand first: CREATE INDEX CONCURRENTLY on each partition.
CREATE INDEX IF NOT EXISTS notifications_expiring ON notifications (expires_at)
    WHERE status = 'pending' AND expires_at IS NOT NULL;

-- herald_json_time: RFC 3339 UTC with milliseconds, as JSON (null for NULL).
CREATE FUNCTION herald_json_time(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN t IS NULL THEN 'null'
           ELSE '"' || to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"' END
$$;

-- herald_json_str: a JSON string (null for NULL).
CREATE FUNCTION herald_json_str(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(to_json(s)::text, 'null')
$$;

-- herald_notification_json: the notification resource as the API renders it
-- (common/notif.c, notif_json), with the same fields in the same order.
CREATE FUNCTION herald_notification_json(n notifications) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT '{"id":' || herald_json_str(n.id::text)
        || ',"channel":' || herald_json_str(n.channel)
        || ',"recipient":' || herald_json_str(n.recipient)
        || ',"subject":' || herald_json_str(n.subject)
        || ',"body":' || herald_json_str(n.body)
        || ',"html":' || herald_json_str(n.html)
        || ',"reply_to":' || herald_json_str(n.reply_to)
        || ',"metadata":' || coalesce(n.metadata, 'null')
        || ',"priority":' || herald_json_str(n.priority)
        || ',"status":' || herald_json_str(n.status)
        || ',"attempts":' || n.attempts
        || ',"last_error":' || herald_json_str(n.last_error)
        || ',"send_at":' || herald_json_time(n.send_at)
        || ',"expires_at":' || herald_json_time(n.expires_at)
        || ',"created_at":' || herald_json_time(n.created_at)
        || ',"updated_at":' || herald_json_time(n.updated_at)
        || ',"sent_at":' || herald_json_time(n.sent_at)
        || ',"delivered_at":' || herald_json_time(n.delivered_at)
        || ',"failed_at":' || herald_json_time(n.failed_at) || '}'
$$;

-- herald_uuid7_at: a UUIDv7 of the Unix time ms with random bits (RFC 9562).
CREATE FUNCTION herald_uuid7_at(ms bigint) RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT (lpad(to_hex(ms), 12, '0') || '7' || substr(r, 2, 3)
            || to_hex(8 + (get_byte(decode(substr(r, 5, 2), 'hex'), 0) & 3))
            || substr(r, 8, 15))::uuid
    FROM (SELECT replace(gen_random_uuid()::text, '-', '') AS r) g
$$;

CREATE TABLE events (
    id          uuid NOT NULL,        -- UUIDv7, its time is occurred_at
    tenant_id   bigint NOT NULL,
    type        text NOT NULL,        -- notification.<status>
    notification_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    doc         text NOT NULL         -- the event's JSON, served as is
) PARTITION BY RANGE (id);
-- the feed: a tenant's events by id (also checks that an after cursor is its own)
CREATE UNIQUE INDEX events_by_tenant ON events (tenant_id, id);

INSERT INTO herald_partitioned (name, key_column) VALUES ('events', 'id');
SELECT herald_partitions_ensure(NULL,
    coalesce(nullif(current_setting('herald.partition_ms', true), '')::bigint, 86400000),
    2 * coalesce(nullif(current_setting('herald.partition_ms', true), '')::bigint, 86400000));

-- herald_event_record: the row trigger behind every status event.
CREATE FUNCTION herald_event_record() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ms bigint := floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    at timestamptz := to_timestamp(ms / 1000.0);
    eid uuid := herald_uuid7_at(ms);
    typ text := 'notification.' || NEW.status;
    doc text;
    url text;
BEGIN
    doc := '{"id":"' || eid || '","type":"' || typ || '","occurred_at":'
        || herald_json_time(at) || ',"data":' || herald_notification_json(NEW) || '}';
    INSERT INTO events (id, tenant_id, type, notification_id, occurred_at, doc)
    VALUES (eid, NEW.tenant_id, typ, NEW.id, at, doc);
    SELECT t.events_url INTO url FROM tenants t
     WHERE t.id = NEW.tenant_id AND t.events_url IS NOT NULL
       AND (t.event_types IS NULL OR typ = ANY (t.event_types));
    IF url IS NOT NULL THEN
        INSERT INTO notifications (id, tenant_id, channel, recipient, body, status,
                                   created_at, updated_at, due_at, in_stream, kind)
        VALUES (eid, NEW.tenant_id, 'webhook', url, doc, 'pending', at, at, at, false,
                'event');
    END IF;
    PERFORM pg_notify('herald_events', NEW.tenant_id::text);
    RETURN NULL;
END $$;

CREATE TRIGGER notifications_events AFTER UPDATE OF status ON notifications
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          AND NEW.status IN ('sent', 'delivered', 'failed', 'cancelled', 'expired')
          AND NEW.kind = 'notification')
    EXECUTE FUNCTION herald_event_record();

-- herald_events_page: up to lim of the tenant's events after the id after_id (NULL:
-- from the oldest kept), of type typ (NULL: any), below the horizon (see above), oldest
-- first. An after_id that is not one of the tenant's events gives one row of NULLs.
CREATE FUNCTION herald_events_page(tenant bigint, after_id uuid, typ text, lim integer)
RETURNS TABLE (id uuid, doc text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    clock timestamptz := clock_timestamp();
    oldest timestamptz;
    horizon uuid;
BEGIN
    IF after_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM events e WHERE e.tenant_id = tenant AND e.id = after_id) THEN
        RETURN QUERY SELECT NULL::uuid, NULL::text;
        RETURN;
    END IF;
    PERFORM pg_stat_clear_snapshot();
    SELECT min(a.xact_start) INTO oldest FROM pg_stat_activity a
     WHERE a.datname = current_database() AND a.usename = current_user
       AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL
       AND a.backend_type = 'client backend';
    horizon := herald_uuid7_floor(floor(extract(epoch FROM least(clock, oldest)) * 1000)::bigint);
    RETURN QUERY SELECT e.id, e.doc FROM events e
     WHERE e.tenant_id = tenant AND (after_id IS NULL OR e.id > after_id)
       AND e.id < horizon AND (typ IS NULL OR e.type = typ)
     ORDER BY e.id LIMIT lim;
END $$;
