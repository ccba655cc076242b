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
}

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
        })
    }
}

impl Store {
    /// Raises an alert unless one with `dedup_key` was raised within the last hour.
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
             AND created_at > now() - make_interval(secs => $2))",
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
        let rows: Vec<RawAlert> = sqlx::query_as(
            "SELECT id, kind, severity, message, payload, dedup_key, created_at, acknowledged_at \
             FROM linkedin_admin_alerts ORDER BY id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Alert::try_from).collect()
    }
}
