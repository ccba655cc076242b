-- A row version for every write that a read of Unipile justifies (issue 9, "the truth
-- under concurrency"): a healing loop, the account-status sync or a relink reads the
-- row's version *before* it asks Unipile, and writes only while the version is still
-- the one it read. Any change of status, link, session or provider status bumps it, so
-- a user, a webhook or another loop acting between the read and the write makes the
-- write a no-op instead of undoing them.
ALTER TABLE linkedin_accounts ADD COLUMN version bigint NOT NULL DEFAULT 0;

CREATE FUNCTION linkedin_accounts_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status
       OR NEW.link_token IS DISTINCT FROM OLD.link_token
       OR NEW.unipile_account_id IS DISTINCT FROM OLD.unipile_account_id
       OR NEW.provider_status IS DISTINCT FROM OLD.provider_status THEN
        NEW.version := OLD.version + 1;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER linkedin_accounts_version
    BEFORE UPDATE ON linkedin_accounts
    FOR EACH ROW EXECUTE FUNCTION linkedin_accounts_bump_version();

-- Linking intervals that closed recently are read from the audit log by time.
CREATE INDEX audit_left_connecting ON linkedin_account_audit_log (created_at)
    WHERE from_status = 'connecting';

-- Send outcomes the platform's sender reports (POST /api/accounts/{id}/send-outcomes):
-- the failure-rate window counts the failures among a campaign's recent outcomes. It
-- replaces `campaign_send_failures`, which held failures only (a rate needs the sends
-- too) and which no code ever wrote.
DROP TABLE campaign_send_failures;
CREATE TABLE campaign_send_outcomes (
    id             bigserial PRIMARY KEY,
    campaign_id    uuid NOT NULL REFERENCES campaigns(id),
    action         text NOT NULL CHECK (action IN ('invite', 'message', 'inmail', 'profile_view')),
    outcome        text NOT NULL CHECK (outcome IN ('sent', 'failed')),
    provider_error text,
    occurred_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaign_send_outcomes_campaign ON campaign_send_outcomes (campaign_id, occurred_at);
