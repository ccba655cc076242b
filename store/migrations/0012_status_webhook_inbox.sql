-- Account-status webhooks taken in by the web tier and not yet handed to Temporal
-- (issue 14: a webhook storm is answered at the cost of one insert, and the hand-off
-- to each account's sync runs behind it). One row per Unipile account: a duplicate
-- that arrives before the hand-off folds into it (the sync trusts only its own re-read
-- of the account; the message is a hint). A web tier that stops mid-hand-off leaves
-- its rows here for the next one.
CREATE TABLE status_webhook_inbox (
    unipile_account_id  text PRIMARY KEY,
    message             text NOT NULL,
    received_at         timestamptz NOT NULL DEFAULT now(),
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX status_webhook_inbox_due ON status_webhook_inbox (next_attempt_at);
