-- relink schema (DESIGN.md, "Tables"). Times are timestamptz (UTC).

CREATE TABLE workspaces (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL,
    -- sha256 (hex) of the workspace's API bearer token; the token itself is never stored.
    api_token_sha256 text NOT NULL UNIQUE,
    subscription_active boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE linkedin_accounts (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id        uuid NOT NULL REFERENCES workspaces(id),
    display_name        text NOT NULL,
    email               text,
    status              text NOT NULL
        CHECK (status IN ('connecting', 'connected', 'reconnect_needed', 'disconnected')),
    provider_status     text
        CHECK (provider_status IN ('OK', 'CONNECTING', 'CREDENTIALS', 'PERMISSIONS', 'ERROR', 'STOPPED')),
    provider_status_since timestamptz,
    unipile_account_id  text UNIQUE,
    link_token          text UNIQUE,
    linkedin_member_id  text,
    connecting_since    timestamptz,
    first_connected_at  timestamptz,
    last_activity_at    timestamptz,
    status_changed_at   timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'connecting' OR connecting_since IS NOT NULL)
);
CREATE INDEX linkedin_accounts_workspace ON linkedin_accounts (workspace_id);
CREATE INDEX linkedin_accounts_status ON linkedin_accounts (status);
CREATE INDEX linkedin_accounts_member ON linkedin_accounts (workspace_id, linkedin_member_id)
    WHERE linkedin_member_id IS NOT NULL;

CREATE TABLE linkedin_account_audit_log (
    id                  bigserial PRIMARY KEY,
    account_id          uuid NOT NULL,
    unipile_account_id  text,
    action              text NOT NULL,
    from_status         text,
    to_status           text,
    actor               text NOT NULL,
    reason              text,
    workflow_id         text,
    run_id              text,
    txid                bigint NOT NULL DEFAULT txid_current(),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_account ON linkedin_account_audit_log (account_id, txid);
CREATE INDEX audit_action_time ON linkedin_account_audit_log (action, created_at);

-- Append-only: UPDATE, DELETE and TRUNCATE on the audit log are rejected.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'linkedin_account_audit_log is append-only (% rejected)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON linkedin_account_audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON linkedin_account_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Audit pairing: at commit, every insert or status change of an account must have an
-- audit row for that account with that to_status written in the same transaction.
CREATE FUNCTION linkedin_accounts_require_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status IS NOT DISTINCT FROM NEW.status THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM linkedin_account_audit_log a
        WHERE a.account_id = NEW.id
          AND a.to_status = NEW.status
          AND a.txid = txid_current()
    ) THEN
        RAISE EXCEPTION 'status change of linkedin account % to % has no audit row in this transaction',
            NEW.id, NEW.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER linkedin_accounts_audit_pairing
    AFTER INSERT OR UPDATE OF status ON linkedin_accounts
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION linkedin_accounts_require_audit();

CREATE TABLE campaigns (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id    uuid NOT NULL REFERENCES workspaces(id),
    account_id      uuid NOT NULL REFERENCES linkedin_accounts(id),
    name            text NOT NULL,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    status_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_account ON campaigns (account_id);
CREATE INDEX campaigns_paused ON campaigns (id) WHERE status = 'paused';

CREATE TABLE campaign_pauses (
    campaign_id uuid NOT NULL REFERENCES campaigns(id),
    reason      text NOT NULL CHECK (reason IN (
        'linkedin_account_disconnected', 'linkedin_high_failure_rate', 'account_restricted',
        'subscription_inactive', 'manual', 'stuck_loop')),
    since       timestamptz NOT NULL DEFAULT now(),
    detail      text,
    PRIMARY KEY (campaign_id, reason)
);
CREATE INDEX campaign_pauses_reason ON campaign_pauses (reason, campaign_id);

-- A campaign is paused exactly while it has a pause row: checked at commit for every
-- campaign whose status or pause rows changed.
CREATE FUNCTION campaign_pause_consistent(cid uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    st text;
    has_reason boolean;
BEGIN
    SELECT status INTO st FROM campaigns WHERE id = cid;
    IF st IS NULL THEN RETURN; END IF;
    has_reason := EXISTS (SELECT 1 FROM campaign_pauses WHERE campaign_id = cid);
    IF st = 'paused' AND NOT has_reason THEN
        RAISE EXCEPTION 'campaign % is paused without a pause reason', cid
            USING ERRCODE = 'check_violation';
    ELSIF st = 'active' AND has_reason THEN
        RAISE EXCEPTION 'campaign % is active but has a pause reason', cid
            USING ERRCODE = 'check_violation';
    END IF;
END $$;
CREATE FUNCTION campaigns_check_pause() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM campaign_pause_consistent(NEW.id);
    RETURN NULL;
END $$;
CREATE FUNCTION campaign_pauses_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM campaign_pause_consistent(OLD.campaign_id);
    ELSE
        PERFORM campaign_pause_consistent(NEW.campaign_id);
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER campaigns_pause_reason_required
    AFTER INSERT OR UPDATE OF status ON campaigns
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION campaigns_check_pause();
CREATE CONSTRAINT TRIGGER campaign_pauses_consistent
    AFTER INSERT OR DELETE ON campaign_pauses
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION campaign_pauses_check();

-- The failure-rate window: recent send failures per campaign.
CREATE TABLE campaign_send_failures (
    id          bigserial PRIMARY KEY,
    campaign_id uuid NOT NULL REFERENCES campaigns(id),
    occurred_at timestamptz NOT NULL DEFAULT now(),
    detail      text
);
CREATE INDEX campaign_send_failures_campaign ON campaign_send_failures (campaign_id, occurred_at);

-- Each prospect's place in a campaign. A soft-paused enrollment keeps its step.
CREATE TABLE campaign_enrollments (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id  uuid NOT NULL REFERENCES campaigns(id),
    prospect_ref text NOT NULL,
    current_step integer NOT NULL DEFAULT 0 CHECK (current_step >= 0),
    state        text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'soft_paused', 'finished')),
    next_due_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, prospect_ref)
);
CREATE INDEX campaign_enrollments_campaign_state ON campaign_enrollments (campaign_id, state);

CREATE TABLE linkedin_admin_alerts (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    message         text NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}'::jsonb,
    dedup_key       text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    acknowledged_at timestamptz,
    acknowledged_by text
);
CREATE INDEX linkedin_admin_alerts_dedup ON linkedin_admin_alerts (dedup_key, created_at);

CREATE TABLE feature_flags (
    key        text PRIMARY KEY,
    enabled    boolean NOT NULL DEFAULT false,
    expires_at timestamptz,
    set_by     text NOT NULL,
    reason     text NOT NULL,
    set_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE email_outbox (
    id           bigserial PRIMARY KEY,
    account_id   uuid NOT NULL REFERENCES linkedin_accounts(id),
    kind         text NOT NULL,
    dedup_key    text NOT NULL UNIQUE,
    recipient    text,
    subject      text NOT NULL,
    body         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    withdrawn_at timestamptz
);

-- Send settings and counters (DESIGN.md, "Send pacing and the send gate").
CREATE TABLE account_send_settings (
    account_id   uuid PRIMARY KEY REFERENCES linkedin_accounts(id),
    time_zone    text NOT NULL DEFAULT 'UTC',
    window_start time NOT NULL DEFAULT '09:00',
    window_end   time NOT NULL DEFAULT '18:00',
    -- ISO weekdays, 1 = Monday .. 7 = Sunday.
    active_days  smallint[] NOT NULL DEFAULT '{1,2,3,4,5}',
    ramp_start   date
);

CREATE TABLE account_send_caps (
    account_id uuid NOT NULL REFERENCES linkedin_accounts(id),
    action     text NOT NULL CHECK (action IN ('invite', 'message', 'inmail', 'profile_view')),
    daily_cap  integer NOT NULL CHECK (daily_cap >= 0),
    weekly_cap integer NOT NULL CHECK (weekly_cap >= 0),
    PRIMARY KEY (account_id, action)
);

CREATE TABLE account_send_counters (
    account_id uuid NOT NULL REFERENCES linkedin_accounts(id),
    action     text NOT NULL CHECK (action IN ('invite', 'message', 'inmail', 'profile_view')),
    day        date NOT NULL,  -- UTC day
    sent       integer NOT NULL DEFAULT 0 CHECK (sent >= 0),
    PRIMARY KEY (account_id, action, day)
);
