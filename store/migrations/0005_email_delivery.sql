-- The reconnect email is delivered by the email sender (issue 11): at least once, with a
-- Message-ID fixed per row (a retry is the same email to the receiver), each attempt and
-- its outcome recorded, a failed attempt retried after a growing delay.
ALTER TABLE email_outbox
    ADD COLUMN message_id      text,
    ADD COLUMN attempts        integer NOT NULL DEFAULT 0,
    ADD COLUMN last_attempt_at timestamptz,
    ADD COLUMN last_error      text,
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now();

CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND withdrawn_at IS NULL;
