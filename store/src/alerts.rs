//! Admin alerts (`linkedin_admin_alerts`): raised once per dedup key within the dedup
//! window, acknowledged when their condition heals.

use chrono::{DateTime, Utc};
use relink_domain::{AlertKind, Severity};
use serde::Serialize;

use crate::{Store, StoreError};

/// How long an identical alert (same dedup key) is not raised again.
pub const ALERT_DEDUP_WINDOW_SECS: i64 = 3600;

/// One admin alert.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// Row id.
    pub id: i64,
    /// What it is about.
    pub kind: AlertKind,
    /// How urgently a person must look.
    pub severity: Severity,
    /// Human text.
    pub message: String,
    /// Details.
    pub payload: serde_json::Value,
    /// Dedup key.
    pub dedup_key: String,
    /// Raised at (UTC).
    pub created_at: DateTime<Utc>,
    /// Acknowledged at (UTC), automatically when the condition healed.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who acknowledged it (`system:healed`, or an operator).
    pub acknowledged_by: Option<String>,
    /// What the notifier did with it: `sent`, `suppressed`, `healed`, `failed`; `None`
    /// while pending.
    pub notify_outcome: Option<String>,
    /// When the notifier settled it (UTC).
    pub notified_at: Option<DateTime<Utc>>,
}

/// An alert the notifier has claimed.
#[derive(Debug, Clone)]
pub struct AlertToNotify {
    /// The alert.
    pub alert: Alert,
    /// Failed notification attempts so far.
    pub attempts: i32,
}

/// An alert row as stored (kind and severity by their wire spelling).
#[derive(sqlx::FromRow)]
struct RawAlert {
    id: i64,
    kind: String,
    severity: String,
    message: String,
    payload: serde_json::Value,
    dedup_key: String,
    created_at: DateTime<Utc>,
    acknowledged_at: Option<DateTime<Utc>>,
    acknowledged_by: Option<String>,
    notify_outcome: Option<String>,
    notified_at: Option<DateTime<Utc>>,
    #[sqlx(default)]
    notify_attempts: i32,
}

/// The columns of [`RawAlert`].
const ALERT_COLUMNS: &str = "id, kind, severity, message, payload, dedup_key, created_at, \
    acknowledged_at, acknowledged_by, notify_outcome, notified_at, notify_attempts";

impl TryFrom<RawAlert> for Alert {
    type Error = StoreError;

    fn try_from(r: RawAlert) -> Result<Self, StoreError> {
        Ok(Alert {
            id: r.id,
            kind: r.kind.parse()?,
            severity: r.severity.parse()?,
            message: r.message,
            payload: r.payload,
            dedup_key: r.dedup_key,
            created_at: r.created_at,
            acknowledged_at: r.acknowledged_at,
            acknowledged_by: r.acknowledged_by,
            notify_outcome: r.notify_outcome,
            notified_at: r.notified_at,
        })
    }
}

impl Store {
    /// Raises an alert unless one with `dedup_key` was raised within the last hour and is
    /// still open (a condition that healed and came back is a new alert; the notifier's
    /// own hourly dedup keeps the operator channel quiet).
    /// Returns true when a row was written. Serialized per key with an advisory lock so
    /// concurrent passes cannot both raise it.
    pub async fn raise_alert(
        &self,
        kind: AlertKind,
        severity: Severity,
        message: &str,
        payload: serde_json::Value,
        dedup_key: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(dedup_key)
            .execute(&mut *tx)
            .await?;
        let recent: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM linkedin_admin_alerts WHERE dedup_key = $1 \
             AND acknowledged_at IS NULL AND created_at > now() - make_interval(secs => $2))",
        )
        .bind(dedup_key)
        .bind(ALERT_DEDUP_WINDOW_SECS as f64)
        .fetch_one(&mut *tx)
        .await?;
        if recent {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO linkedin_admin_alerts (kind, severity, message, payload, dedup_key) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(kind.as_str())
        .bind(severity.as_str())
        .bind(message)
        .bind(payload)
        .bind(dedup_key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        metrics::counter!(relink_domain::metrics::ALERTS_RAISED, "kind" => kind.as_str())
            .increment(1);
        tracing::warn!(
            kind = kind.as_str(),
            severity = severity.as_str(),
            dedup_key,
            message,
            "admin alert raised"
        );
        Ok(true)
    }

    /// Acknowledges (as `system:healed`) every open alert of `kind` whose dedup key is
    /// not in `still_active`: its condition has healed.
    pub async fn acknowledge_healed(
        &self,
        kind: AlertKind,
        still_active: &[String],
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE linkedin_admin_alerts SET acknowledged_at = now(), acknowledged_by = 'system:healed' \
             WHERE kind = $1 AND acknowledged_at IS NULL AND NOT (dedup_key = ANY($2))",
        )
        .bind(kind.as_str())
        .bind(still_active)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Every alert, newest first.
    pub async fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let rows: Vec<RawAlert> = sqlx::query_as(&format!(
            "SELECT {ALERT_COLUMNS} FROM linkedin_admin_alerts ORDER BY id DESC"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Alert::try_from).collect()
    }

    /// The alerts not acknowledged yet, newest first.
    pub async fn open_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let rows: Vec<RawAlert> = sqlx::query_as(&format!(
            "SELECT {ALERT_COLUMNS} FROM linkedin_admin_alerts WHERE acknowledged_at IS NULL ORDER BY id DESC"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Alert::try_from).collect()
    }

    /// An operator acknowledges alert `id` (`by`: who). Errors: [`StoreError::NotFound`];
    /// [`StoreError::Conflict`] when it was acknowledged already.
    pub async fn acknowledge_alert(&self, id: i64, by: &str) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE linkedin_admin_alerts SET acknowledged_at = now(), acknowledged_by = $2 \
             WHERE id = $1 AND acknowledged_at IS NULL",
        )
        .bind(id)
        .bind(by)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM linkedin_admin_alerts WHERE id = $1)")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        Err(if exists {
            StoreError::Conflict(format!("alert {id} was acknowledged already"))
        } else {
            StoreError::NotFound(format!("alert {id}"))
        })
    }

    /// Acknowledges (as `system:healed`) the open `healing.pass_aborted` alerts of loop
    /// `pass` (e.g. `account-reconciler`): that loop read Unipile's listing completely
    /// again. Another loop's aborted passes stay open.
    pub async fn acknowledge_pass_healed(&self, pass: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE linkedin_admin_alerts SET acknowledged_at = now(), acknowledged_by = 'system:healed' \
             WHERE kind = $1 AND acknowledged_at IS NULL AND payload ->> 'pass' = $2",
        )
        .bind(AlertKind::PassAborted.as_str())
        .bind(pass)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Claims at most `limit` alerts waiting for their notification and moves their next
    /// attempt `lease_secs` ahead (a second notifier meanwhile skips them).
    pub async fn claim_alerts_to_notify(
        &self,
        limit: i64,
        lease_secs: i64,
    ) -> Result<Vec<AlertToNotify>, StoreError> {
        let rows: Vec<RawAlert> = sqlx::query_as(&format!(
            "UPDATE linkedin_admin_alerts SET notify_next_at = now() + make_interval(secs => $2) \
             WHERE id IN (SELECT id FROM linkedin_admin_alerts \
                          WHERE notify_outcome IS NULL AND notify_next_at <= now() \
                          ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
             RETURNING {ALERT_COLUMNS}"
        ))
        .bind(limit)
        .bind(lease_secs as f64)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let attempts = r.notify_attempts;
            out.push(AlertToNotify {
                alert: Alert::try_from(r)?,
                attempts,
            });
        }
        out.sort_by_key(|a| a.alert.id);
        Ok(out)
    }

    /// Whether an alert with notification key `key` was sent within the last hour.
    pub async fn notified_recently(&self, key: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM linkedin_admin_alerts WHERE notify_outcome = 'sent' \
             AND notify_key = $1 AND notified_at > now() - make_interval(secs => $2))",
        )
        .bind(key)
        .bind(relink_domain::alerts::NOTIFY_DEDUP_WINDOW_SECS as f64)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Settles alert `id`'s notification: `outcome` is `sent`, `suppressed` or `healed`.
    pub async fn record_alert_notified(
        &self,
        id: i64,
        outcome: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE linkedin_admin_alerts SET notify_outcome = $2, notified_at = now(), notify_key = $3, \
             notify_error = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(outcome)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed notification attempt: tried again in `retry_secs`, or settled as
    /// `failed` after `MAX_NOTIFY_ATTEMPTS`.
    pub async fn record_alert_notify_failed(
        &self,
        id: i64,
        error: &str,
        retry_secs: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE linkedin_admin_alerts SET notify_attempts = notify_attempts + 1, \
             notify_error = $2, notify_next_at = now() + make_interval(secs => $3), \
             notify_outcome = CASE WHEN notify_attempts + 1 >= $4 THEN 'failed' END \
             WHERE id = $1",
        )
        .bind(id)
        .bind(error.chars().take(500).collect::<String>())
        .bind(retry_secs as f64)
        .bind(relink_domain::alerts::MAX_NOTIFY_ATTEMPTS)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
