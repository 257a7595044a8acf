-- 010: a notification sent at its first attempt keeps that attempt in its own row
-- (first_started_at, first_duration_ms, first_status_code) instead of a row of
-- delivery_attempts. Most notifications are sent at their first attempt, so most need no
-- attempt row at all: one INSERT, one heap tuple and one primary-key entry less per
-- notification, in the same statement that records the outcome.
--
-- notification_attempts is every attempt of every notification, wherever it is kept:
-- the rows of delivery_attempts, and the first attempt held in the notification's row.
-- GET /v1/notifications/{id}/attempts and everything else that reads attempts reads it.
-- A row of delivery_attempts numbered 1 that an uncounted attempt left (a refused
-- credential, say) is replaced by the success held in the row, as the outcome statement
-- used to overwrite it.
--
-- Adding columns without a default rewrites nothing: instant, on a table of any size.

ALTER TABLE notifications
    ADD COLUMN first_started_at timestamptz,
    ADD COLUMN first_duration_ms integer,
    ADD COLUMN first_status_code integer;

CREATE VIEW notification_attempts AS
SELECT a.notification_id, a.attempt, a.started_at, a.duration_ms, a.outcome, a.status_code,
       a.error
  FROM delivery_attempts a
 WHERE a.attempt <> 1
    OR NOT EXISTS (SELECT 1 FROM notifications n
                    WHERE n.id = a.notification_id AND n.first_started_at IS NOT NULL)
UNION ALL
SELECT n.id, 1, n.first_started_at, n.first_duration_ms, 'success', n.first_status_code,
       NULL::text
  FROM notifications n
 WHERE n.first_started_at IS NOT NULL;
