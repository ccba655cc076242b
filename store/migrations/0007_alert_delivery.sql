-- Admin alerts reach a person (issue 12): the alert notifier posts each alert to the
-- operator channel, at most once per notification key and hour, recording the attempt.
ALTER TABLE linkedin_admin_alerts
    ADD COLUMN notify_outcome  text CHECK (notify_outcome IN ('sent', 'suppressed', 'healed', 'failed')),
    ADD COLUMN notified_at     timestamptz,
    ADD COLUMN notify_key      text,
    ADD COLUMN notify_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN notify_next_at  timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN notify_error    text;

-- Alerts raised before this release were read in the database; they are not sent now.
UPDATE linkedin_admin_alerts SET notify_outcome = 'suppressed', notified_at = now(),
    notify_error = 'raised before alert delivery existed';

CREATE INDEX linkedin_admin_alerts_to_notify ON linkedin_admin_alerts (notify_next_at)
    WHERE notify_outcome IS NULL;
CREATE INDEX linkedin_admin_alerts_notified ON linkedin_admin_alerts (notify_key, notified_at)
    WHERE notify_outcome = 'sent';
