-- 005: priority, deadlines, HTML email and reply-to on notifications; the
-- status 'expired'; a tenant's event and sender settings.
--
-- Every column is added nullable or with a constant default, so nothing is
-- rewritten. The status check is replaced NOT VALID and validated in the same
-- transaction: the scan that validates it takes no lock that blocks writers
-- for longer than the scan itself (SHARE UPDATE EXCLUSIVE).
--
-- See 001 for how to change the schema.

ALTER TABLE notifications
    ADD COLUMN IF NOT EXISTS priority   text NOT NULL DEFAULT 'normal'
        CHECK (priority IN ('high', 'normal', 'low')),
    ADD COLUMN IF NOT EXISTS expires_at timestamptz, -- the deliver-by deadline; NULL: none
    ADD COLUMN IF NOT EXISTS html       text,        -- email: the HTML alternative (template source)
    ADD COLUMN IF NOT EXISTS reply_to   text;        -- email: the Reply-To address

ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('pending', 'sent', 'delivered', 'failed', 'cancelled', 'expired')) NOT VALID;
ALTER TABLE notifications VALIDATE CONSTRAINT notifications_status_check;

ALTER TABLE tenants
    ADD COLUMN IF NOT EXISTS events_url  text,   -- status events are POSTed here; NULL: none
    ADD COLUMN IF NOT EXISTS event_types text[], -- the event types pushed; NULL: all of them
    ADD COLUMN IF NOT EXISTS email_from  text;   -- the From header of its email; NULL: HERALD_SMTP_FROM
