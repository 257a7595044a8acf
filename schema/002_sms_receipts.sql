-- 002: early SMS receipts are applied when the worker stores the provider's sid.
--
-- A delivery receipt (POST /v1/callbacks/sms) for a sid no notification holds
-- yet waits in sms_receipts (001). The first trigger applies it in the very
-- statement that stores the sid (the worker's outcome update), so the worker
-- needs no SMS-specific code: a 'sent' notification becomes 'delivered'
-- (delivered_at) or 'failed' (failed_at, last_error), and the receipt is
-- deleted. Only a 'sent' row moves, as with a receipt that arrives later.
--
-- The race: a receipt stored while the worker stores the sid, each
-- transaction unable to see the other's uncommitted row, would be left
-- behind. So the second trigger does the same from the receipt's side, and
-- both first take a transaction-level advisory lock on the sid: whichever
-- runs second waits for the first to commit, and its next statement (a fresh
-- snapshot under READ COMMITTED) sees the other row. Neither waits on a row
-- lock while holding the advisory lock: the notification side already holds
-- its row, and the receipt side's UPDATE cannot match a row whose sid is not
-- committed yet.
--
-- See 001 for how to change the schema.

CREATE FUNCTION herald_sms_receipt_lock(ref text) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('herald.sms_receipt:' || ref, 0))
$$;

-- herald_sms_apply: moves the 'sent' SMS notification holding sid ref by
-- the receipt (status 'delivered' or 'failed', error); true when one moved.
CREATE FUNCTION herald_sms_apply(ref text, rstatus text, rerror text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE notifications SET status = rstatus, updated_at = now(),
        delivered_at = CASE WHEN rstatus = 'delivered' THEN now() ELSE delivered_at END,
        failed_at = CASE WHEN rstatus = 'failed' THEN now() ELSE failed_at END,
        last_error = CASE WHEN rstatus = 'failed' THEN rerror ELSE last_error END
    WHERE provider_ref = ref AND channel = 'sms' AND status = 'sent';
    RETURN FOUND;
END $$;

-- The worker stored a sid: apply a receipt that came first.
CREATE FUNCTION herald_sms_sid_stored() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r sms_receipts%ROWTYPE;
BEGIN
    PERFORM herald_sms_receipt_lock(NEW.provider_ref);
    SELECT * INTO r FROM sms_receipts WHERE provider_ref = NEW.provider_ref;
    IF FOUND AND herald_sms_apply(r.provider_ref, r.status, r.error) THEN
        DELETE FROM sms_receipts WHERE provider_ref = r.provider_ref;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER notifications_sms_sid_stored
    AFTER UPDATE OF provider_ref ON notifications
    FOR EACH ROW
    WHEN (NEW.channel = 'sms' AND NEW.status = 'sent' AND NEW.provider_ref IS NOT NULL
          AND NEW.provider_ref IS DISTINCT FROM OLD.provider_ref)
    EXECUTE FUNCTION herald_sms_sid_stored();

-- A receipt was kept: apply it if the sid was stored meanwhile.
CREATE FUNCTION herald_sms_receipt_kept() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM herald_sms_receipt_lock(NEW.provider_ref);
    IF herald_sms_apply(NEW.provider_ref, NEW.status, NEW.error) THEN
        DELETE FROM sms_receipts WHERE provider_ref = NEW.provider_ref;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER sms_receipts_kept
    AFTER INSERT OR UPDATE ON sms_receipts
    FOR EACH ROW
    EXECUTE FUNCTION herald_sms_receipt_kept();
