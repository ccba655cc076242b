//! Outbound events and the webhook endpoints they go to (issue 12, migration 0006). The
//! database writes the events itself, in the transaction of the change they describe
//! (triggers on `linkedin_accounts` and `campaigns`, `relink_emit_event`); this module
//! manages endpoints, claims due deliveries in per-account order and records outcomes.

use base64::Engine;
use chrono::{DateTime, Utc};
use relink_domain::{
    AccountId, WorkspaceId,
    events::{DELIVERY_WINDOW_SECS, EventType, SECRET_PREFIX},
};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::{Store, StoreError};

/// A webhook endpoint as listed (its secrets are never listed).
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct WebhookEndpoint {
    /// Endpoint id.
    pub id: Uuid,
    /// Its workspace.
    pub workspace_id: Uuid,
    /// Where events are posted.
    pub url: String,
    /// The event types it gets; `None`: every type.
    pub event_types: Option<Vec<String>>,
    /// Until when the previous secret still signs beside the current one (UTC).
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// When it was added (UTC).
    pub created_at: DateTime<Utc>,
}

/// One claimed delivery: the event, where it goes and the secrets that sign it.
#[derive(Clone, FromRow)]
pub struct DueDelivery {
    /// `outbound_events.id`: the event's sequence number.
    pub sequence: i64,
    /// The event's public uuid.
    pub event_id: Uuid,
    /// The event type (`EventType` spelling).
    pub kind: String,
    /// When the change committed (UTC).
    pub occurred_at: DateTime<Utc>,
    /// The event's workspace.
    pub workspace_id: Uuid,
    /// The event's fields.
    pub data: serde_json::Value,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// Its URL.
    pub url: String,
    /// Its current secret (`whsec_…`).
    pub secret: String,
    /// Its previous secret, while the rotation's grace period lasts.
    pub previous_secret: Option<String>,
    /// Failed attempts so far.
    pub attempts: i32,
    /// True when the endpoint was removed, or the event is past its delivery window.
    pub expired: bool,
}

impl std::fmt::Debug for DueDelivery {
    /// Without the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueDelivery")
            .field("sequence", &self.sequence)
            .field("kind", &self.kind)
            .field("endpoint_id", &self.endpoint_id)
            .field("url", &self.url)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// One stored event with its delivery to one endpoint (for `starter webhooks` and tests).
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct DeliveryState {
    /// The event's sequence number.
    pub sequence: i64,
    /// The event type.
    pub kind: String,
    /// Failed attempts.
    pub attempts: i32,
    /// When it was delivered (UTC).
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it was given up (UTC).
    pub given_up_at: Option<DateTime<Utc>>,
    /// The last HTTP status received.
    pub last_status: Option<i32>,
    /// The last error.
    pub last_error: Option<String>,
}

/// A fresh signing secret: `whsec_` + base64 of 32 random bytes.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Checks an endpoint URL: absolute `http` or `https`, no credentials in it.
fn check_url(url: &str) -> Result<(), StoreError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| StoreError::Conflict(format!("the endpoint URL is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(StoreError::Conflict(
            "the endpoint URL must be http or https".into(),
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(StoreError::Conflict(
            "the endpoint URL must not carry credentials".into(),
        ));
    }
    Ok(())
}

impl Store {
    /// Adds an endpoint of workspace `ws` at `url` for `types` (`None`: every type).
    /// Returns it and its secret (shown once; only the database keeps it). Errors:
    /// [`StoreError::Conflict`] for a URL that is not absolute http(s) or carries
    /// credentials, [`StoreError::NotFound`] for an unknown workspace.
    pub async fn add_webhook_endpoint(
        &self,
        ws: WorkspaceId,
        url: &str,
        types: Option<&[EventType]>,
    ) -> Result<(WebhookEndpoint, String), StoreError> {
        check_url(url)?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM workspaces WHERE id = $1)")
                .bind(ws.0)
                .fetch_one(&self.pool)
                .await?;
        if !exists {
            return Err(StoreError::NotFound(format!("workspace {ws}")));
        }
        let secret = new_secret();
        let types: Option<Vec<&str>> = types.map(|t| t.iter().map(|t| t.as_str()).collect());
        let endpoint = sqlx::query_as(
            "INSERT INTO webhook_endpoints (id, workspace_id, url, event_types, secret) \
             VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, workspace_id, url, event_types, previous_secret_until, created_at",
        )
        .bind(Uuid::new_v4())
        .bind(ws.0)
        .bind(url)
        .bind(types)
        .bind(&secret)
        .fetch_one(&self.pool)
        .await?;
        Ok((endpoint, secret))
    }

    /// The endpoints not removed, of workspace `ws` or of every workspace, oldest first.
    pub async fn webhook_endpoints(
        &self,
        ws: Option<WorkspaceId>,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, workspace_id, url, event_types, previous_secret_until, created_at \
             FROM webhook_endpoints WHERE removed_at IS NULL AND ($1::uuid IS NULL OR workspace_id = $1) \
             ORDER BY created_at, id",
        )
        .bind(ws.map(|w| w.0))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Gives endpoint `id` a new secret (returned, shown once); the old one keeps
    /// signing beside it for `grace_secs`. Errors: [`StoreError::NotFound`].
    pub async fn rotate_webhook_secret(
        &self,
        id: Uuid,
        grace_secs: i64,
    ) -> Result<String, StoreError> {
        let secret = new_secret();
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET previous_secret = secret, secret = $2, \
             previous_secret_until = now() + make_interval(secs => $3) \
             WHERE id = $1 AND removed_at IS NULL",
        )
        .bind(id)
        .bind(&secret)
        .bind(grace_secs.max(0) as f64)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("webhook endpoint {id}")));
        }
        Ok(secret)
    }

    /// Removes endpoint `id`: it gets no new event, and what it had not received yet is
    /// given up at the next pass. Errors: [`StoreError::NotFound`].
    pub async fn remove_webhook_endpoint(&self, id: Uuid) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET removed_at = now() WHERE id = $1 AND removed_at IS NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("webhook endpoint {id}")));
        }
        Ok(())
    }

    /// Claims at most `limit` due deliveries and moves their next attempt `lease_secs`
    /// ahead (a second pass meanwhile skips them; a crash leaves them due after the
    /// lease). Per endpoint and account only the oldest pending delivery is eligible, and
    /// only while no transaction that could still commit a lower sequence number for that
    /// account is running (`relink_event_lock_key`), so one account's events reach an endpoint in
    /// sequence order, each after the one before it was delivered or given up. The
    /// delivery window (`DELIVERY_WINDOW_SECS`) runs from a delivery's first claim.
    pub async fn claim_due_deliveries(
        &self,
        limit: i64,
        lease_secs: i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // First the accounts whose event stream no running transaction is writing to
        // (`relink_event_lock_key`, taken without waiting and held to our commit); then,
        // in a later snapshot that sees every event those transactions committed, the
        // oldest pending delivery per endpoint and account among them.
        let free: Vec<Uuid> = sqlx::query_scalar(
            "SELECT COALESCE(a, '00000000-0000-0000-0000-000000000000'::uuid) FROM ( \
                 SELECT DISTINCT account_id AS a FROM webhook_deliveries \
                 WHERE delivered_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= now()) s \
             WHERE pg_try_advisory_xact_lock(relink_event_lock_key(a))",
        )
        .fetch_all(&mut *tx)
        .await?;
        if free.is_empty() {
            tx.commit().await?;
            return Ok(vec![]);
        }
        let claimed = sqlx::query_as(
            "WITH heads AS ( \
                 SELECT DISTINCT ON (d.endpoint_id, d.account_id) d.event_id, d.endpoint_id \
                 FROM webhook_deliveries d \
                 WHERE d.delivered_at IS NULL AND d.given_up_at IS NULL \
                   AND COALESCE(d.account_id, '00000000-0000-0000-0000-000000000000'::uuid) = ANY ($4) \
                 ORDER BY d.endpoint_id, d.account_id, d.event_id), \
             due AS ( \
                 SELECT d.event_id, d.endpoint_id FROM webhook_deliveries d \
                 JOIN heads h ON h.event_id = d.event_id AND h.endpoint_id = d.endpoint_id \
                 WHERE d.next_attempt_at <= now() \
                 ORDER BY d.event_id LIMIT $1 FOR UPDATE OF d SKIP LOCKED) \
             UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => $2), \
               first_attempt_at = COALESCE(d.first_attempt_at, now()) \
             FROM due, outbound_events ev, webhook_endpoints ep \
             WHERE d.event_id = due.event_id AND d.endpoint_id = due.endpoint_id \
               AND ev.id = d.event_id AND ep.id = d.endpoint_id \
             RETURNING ev.id AS sequence, ev.event_id, ev.type AS kind, ev.occurred_at, \
               ev.workspace_id, ev.data, ep.id AS endpoint_id, ep.url, ep.secret, \
               CASE WHEN ep.previous_secret_until > now() THEN ep.previous_secret END AS previous_secret, \
               d.attempts, \
               (ep.removed_at IS NOT NULL \
                OR COALESCE(d.first_attempt_at, now()) < now() - make_interval(secs => $3)) AS expired",
        )
        .bind(limit)
        .bind(lease_secs as f64)
        .bind(DELIVERY_WINDOW_SECS as f64)
        .bind(&free)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records a 2xx answer (`status`) for a delivery.
    pub async fn record_delivered(
        &self,
        sequence: i64,
        endpoint: Uuid,
        status: u16,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_deliveries SET delivered_at = now(), last_attempt_at = now(), \
             last_status = $3, last_error = NULL WHERE event_id = $1 AND endpoint_id = $2",
        )
        .bind(sequence)
        .bind(endpoint)
        .bind(i32::from(status))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed attempt (`status` when the endpoint answered): tried again in
    /// `retry_secs`.
    pub async fn record_delivery_failed(
        &self,
        sequence: i64,
        endpoint: Uuid,
        status: Option<u16>,
        error: &str,
        retry_secs: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = now(), \
             last_status = $3, last_error = $4, next_attempt_at = now() + make_interval(secs => $5) \
             WHERE event_id = $1 AND endpoint_id = $2",
        )
        .bind(sequence)
        .bind(endpoint)
        .bind(status.map(i32::from))
        .bind(error.chars().take(500).collect::<String>())
        .bind(retry_secs as f64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives a delivery up (its endpoint was removed, or its window ran out).
    pub async fn give_up_delivery(&self, sequence: i64, endpoint: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_deliveries SET given_up_at = now() WHERE event_id = $1 AND endpoint_id = $2",
        )
        .bind(sequence)
        .bind(endpoint)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes the events older than `RETENTION_SECS` that no delivery is pending for
    /// (their delivery rows go with them). Returns how many.
    pub async fn prune_events(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM outbound_events e WHERE e.occurred_at < now() - make_interval(secs => $1) \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id \
                             AND d.delivered_at IS NULL AND d.given_up_at IS NULL)",
        )
        .bind(relink_domain::events::RETENTION_SECS as f64)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Records `account.linking_stuck` for `account` once per linking attempt: only
    /// while it is `connecting`, and not again for the same `connecting_since`.
    pub async fn record_linking_stuck(&self, account: AccountId) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The row lock orders this event after a flip that is committing meanwhile (the
        // status is read again once the flip is done), and after a concurrent pass's.
        sqlx::query("SELECT 1 FROM linkedin_accounts WHERE id = $1 FOR UPDATE")
            .bind(account.0)
            .fetch_optional(&mut *tx)
            .await?;
        let emitted: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM (SELECT relink_emit_event(a.workspace_id, a.id, 'account.linking_stuck', \
                 jsonb_build_object('account_id', a.id, 'display_name', a.display_name, \
                   'status', a.status, 'connecting_since', a.connecting_since)) \
               FROM linkedin_accounts a WHERE a.id = $1 AND a.status = 'connecting' \
                 AND a.connecting_since IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM outbound_events e WHERE e.account_id = a.id \
                   AND e.type = 'account.linking_stuck' \
                   AND (e.data ->> 'connecting_since')::timestamptz = a.connecting_since)) s",
        )
        .bind(account.0)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(emitted.is_some())
    }

    /// Records `safe_delete.requested` for Unipile session `uid` (with `requester`, the
    /// `DeleteRequester` as JSON) for the workspace of the account that holds or held it;
    /// a session no row ever held belongs to no workspace and emits nothing.
    pub async fn record_safe_delete_requested(
        &self,
        uid: &str,
        requester: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "SELECT relink_emit_safe_delete_event($1, 'safe_delete.requested', \
             jsonb_build_object('requester', $2::jsonb))",
        )
        .bind(uid)
        .bind(requester)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every delivery to endpoint `endpoint`, in sequence order.
    pub async fn deliveries_to(&self, endpoint: Uuid) -> Result<Vec<DeliveryState>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT ev.id AS sequence, ev.type AS kind, d.attempts, d.delivered_at, d.given_up_at, \
               d.last_status, d.last_error \
             FROM webhook_deliveries d JOIN outbound_events ev ON ev.id = d.event_id \
             WHERE d.endpoint_id = $1 ORDER BY ev.id",
        )
        .bind(endpoint)
        .fetch_all(&self.pool)
        .await?)
    }
}
