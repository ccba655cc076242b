-- Account-status webhooks taken in by the web tier and not yet handed to Temporal
-- (issue 14: a webhook storm is answered at the cost of one insert, and the hand-off
-- to each account's sync runs behind it). One row per Unipile account: a duplicate
-- that arrives before the hand-off folds into it (the sync trusts only its own re-read
-- of the account; the message is a hint) and bumps `generation`, so that a hand-off
-- of the older webhook does not delete it. A claim is a short lease on
-- `next_attempt_at`, committed at once: a web tier that stops mid-hand-off leaves its
-- rows to the next one when the lease ends.
CREATE TABLE status_webhook_inbox (
    unipile_account_id  text PRIMARY KEY,
    message             text NOT NULL,
    -- The first webhook not yet handed off (what the oldest-age gauge reads).
    received_at         timestamptz NOT NULL DEFAULT now(),
    generation          bigint NOT NULL DEFAULT 0,
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX status_webhook_inbox_due ON status_webhook_inbox (next_attempt_at);

-- The reconciler stages its pass in temporary tables (relink_store::ReconcileStage):
-- granted outright, not left to PUBLIC's default (which a hardened database revokes).
DO $$
BEGIN
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO relink_app', current_database());
END $$;
