-- Outbound events to the platform (issue 12): per workspace, signed by the Standard
-- Webhooks scheme and delivered by the event-delivery workflow. An event is written by
-- the same transaction as the change it describes (the triggers below), with one
-- delivery row per endpoint subscribed at that moment.

CREATE TABLE webhook_endpoints (
    id                     uuid PRIMARY KEY,
    workspace_id           uuid NOT NULL REFERENCES workspaces(id),
    url                    text NOT NULL,
    -- NULL: every event type.
    event_types            text[],
    -- `whsec_<base64>`; the previous secret keeps signing beside it until its expiry.
    secret                 text NOT NULL,
    previous_secret        text,
    previous_secret_until  timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    removed_at             timestamptz
);
CREATE INDEX webhook_endpoints_workspace ON webhook_endpoints (workspace_id) WHERE removed_at IS NULL;

CREATE TABLE outbound_events (
    -- Also the event's sequence number: increasing in the order the changes to one
    -- account (its row, each of its campaigns) committed; gaps allowed.
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces(id),
    account_id   uuid,
    type         text NOT NULL CHECK (type IN (
        'account.disconnected', 'account.reconnected', 'account.linking_stuck',
        'campaign.paused', 'campaign.resumed',
        'safe_delete.requested', 'safe_delete.blocked', 'safe_delete.executed')),
    data         jsonb NOT NULL,
    occurred_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbound_events_account ON outbound_events (account_id, id);
CREATE INDEX outbound_events_occurred ON outbound_events (occurred_at);
-- relink_account_of_session looks a session up in the audit trail.
CREATE INDEX audit_unipile_account ON linkedin_account_audit_log (unipile_account_id, id)
    WHERE unipile_account_id IS NOT NULL;

CREATE TABLE webhook_deliveries (
    event_id        bigint NOT NULL REFERENCES outbound_events(id) ON DELETE CASCADE,
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints(id),
    account_id      uuid,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    -- The delivery window runs from here (set when first claimed).
    first_attempt_at timestamptz,
    delivered_at    timestamptz,
    -- Set when the delivery window (from the event's occurred_at) ran out.
    given_up_at     timestamptz,
    PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, account_id, event_id)
    WHERE delivered_at IS NULL AND given_up_at IS NULL;

-- The advisory lock key of one account's event stream. A transaction that writes an
-- event of the account holds it shared until it ends (writers never wait for each
-- other); the delivery's claim takes it exclusively, without waiting, so it claims an
-- account's oldest event only while no transaction that could still commit a lower
-- sequence number for that account is running.
CREATE FUNCTION relink_event_lock_key(account uuid) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT hashtextextended(COALESCE(account::text, ''), 7001)
$$;

-- Records one event and its deliveries, in the caller's transaction.
CREATE FUNCTION relink_emit_event(ws uuid, account uuid, kind text, body jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    eid bigint;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(relink_event_lock_key(account));
    INSERT INTO outbound_events (workspace_id, account_id, type, data)
        VALUES (ws, account, kind, body)
        RETURNING id INTO eid;
    INSERT INTO webhook_deliveries (event_id, endpoint_id, account_id)
        SELECT eid, e.id, account FROM webhook_endpoints e
         WHERE e.workspace_id = ws AND e.removed_at IS NULL
           AND (e.event_types IS NULL OR kind = ANY (e.event_types));
END $$;

-- account.disconnected: the row became reconnect_needed or disconnected;
-- account.reconnected: it became connected.
CREATE FUNCTION linkedin_accounts_emit_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text;
BEGIN
    IF NEW.status IN ('reconnect_needed', 'disconnected') THEN
        kind := 'account.disconnected';
    ELSIF NEW.status = 'connected' THEN
        kind := 'account.reconnected';
    ELSE
        RETURN NULL;
    END IF;
    PERFORM relink_emit_event(NEW.workspace_id, NEW.id, kind, jsonb_build_object(
        'account_id', NEW.id, 'display_name', NEW.display_name, 'status', NEW.status,
        'previous_status', OLD.status, 'unipile_account_id', NEW.unipile_account_id,
        -- now() is the transaction's start: equal only when this transaction set it.
        'first_connection', COALESCE(NEW.first_connected_at = now(), false)));
    RETURN NULL;
END $$;
CREATE TRIGGER linkedin_accounts_events
    AFTER UPDATE OF status ON linkedin_accounts
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION linkedin_accounts_emit_event();

-- campaign.paused (with the reasons that hold) and campaign.resumed.
CREATE FUNCTION campaigns_emit_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM relink_emit_event(NEW.workspace_id, NEW.account_id,
        CASE NEW.status WHEN 'paused' THEN 'campaign.paused' ELSE 'campaign.resumed' END,
        jsonb_build_object(
            'campaign_id', NEW.id, 'account_id', NEW.account_id, 'name', NEW.name,
            'status', NEW.status,
            'pause_reasons', COALESCE((SELECT jsonb_agg(reason ORDER BY reason)
                                         FROM campaign_pauses WHERE campaign_id = NEW.id), '[]'::jsonb)));
    RETURN NULL;
END $$;
CREATE TRIGGER campaigns_events
    AFTER UPDATE OF status ON campaigns
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION campaigns_emit_event();

-- The account (and so the workspace) a Unipile session belongs to: the row that holds
-- it, else the newest row whose audit trail names it (a row that let the session go).
-- NULL for a session no row ever held (an inert duplicate): its events have no
-- workspace and are not emitted.
CREATE FUNCTION relink_account_of_session(uid text) RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT id FROM (
        SELECT a.id, 0 AS rank, 0::bigint AS audit_id FROM linkedin_accounts a
         WHERE a.unipile_account_id = uid
        UNION ALL
        SELECT l.account_id, 1, l.id FROM linkedin_account_audit_log l
         WHERE l.unipile_account_id = uid AND l.account_id IS NOT NULL
    ) s ORDER BY rank, audit_id DESC LIMIT 1
$$;

-- Records a Safe delete event about session `uid` for its account's workspace.
CREATE FUNCTION relink_emit_safe_delete_event(uid text, kind text, body jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    acc uuid := relink_account_of_session(uid);
    ws uuid;
BEGIN
    IF acc IS NULL THEN RETURN; END IF;
    SELECT workspace_id INTO ws FROM linkedin_accounts WHERE id = acc;
    IF ws IS NULL THEN RETURN; END IF;
    PERFORM relink_emit_event(ws, acc, kind,
        jsonb_build_object('account_id', acc, 'unipile_account_id', uid) || body);
END $$;

-- safe_delete.executed / safe_delete.blocked: with the Safe delete's alert row, which
-- every delete and every blocked attempt writes (a cancelled one emits nothing).
CREATE FUNCTION linkedin_admin_alerts_emit_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    outcome jsonb := NEW.payload -> 'outcome';
BEGIN
    IF outcome ->> 'outcome' = 'deleted' THEN
        PERFORM relink_emit_safe_delete_event(NEW.payload ->> 'unipile_account_id',
            'safe_delete.executed', jsonb_build_object('requester', NEW.payload -> 'requester'));
    ELSIF outcome ->> 'outcome' = 'blocked' THEN
        PERFORM relink_emit_safe_delete_event(NEW.payload ->> 'unipile_account_id',
            'safe_delete.blocked', jsonb_build_object('requester', NEW.payload -> 'requester',
                'gate', outcome -> 'gate', 'detail', outcome -> 'detail'));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER linkedin_admin_alerts_events
    AFTER INSERT ON linkedin_admin_alerts
    FOR EACH ROW WHEN (NEW.kind = 'unipile.delete')
    EXECUTE FUNCTION linkedin_admin_alerts_emit_event();
