//! The database side of Safe delete: the `unipile_deletes` feature flag (gate 5) and the
//! rolling 24 h hard cap counted from the audit log under a lock (gate 4).

use chrono::{DateTime, Duration, Utc};
use relink_domain::deletes::{
    AUDIT_DELETE_INTENT, DELETE_FLAG, MAX_DELETES_PER_24H, MAX_FLAG_TTL_SECS,
};
use serde::Serialize;
use uuid::Uuid;

use crate::{Store, StoreError};

/// The delete flag as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FlagRow {
    /// Enabled?
    pub enabled: bool,
    /// Expiry (UTC).
    pub expires_at: Option<DateTime<Utc>>,
    /// Who set it.
    pub set_by: String,
    /// Why.
    pub reason: String,
    /// When (UTC).
    pub set_at: DateTime<Utc>,
}

impl FlagRow {
    /// Open at `now`: enabled, not expired, and set with a TTL of at most 4 h.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.enabled
            && self
                .expires_at
                .is_some_and(|e| e > now && e - self.set_at <= Duration::seconds(MAX_FLAG_TTL_SECS))
    }
}

/// What recording a delete intent decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentDecision {
    /// The intent is recorded (now, or by an earlier attempt of the same workflow): call DELETE.
    Proceed,
    /// Gate 5: the flag is off, expired, or was set for longer than 4 h.
    FlagClosed(String),
    /// Gate 4: three deletes already in the last 24 h.
    CapReached(i64),
    /// An inert duplicate became referenced by this row meanwhile: not inert any more.
    Referenced(Uuid),
}

impl Store {
    /// Enables the delete flag for `ttl` (at most 4 h). Errors: [`StoreError::Conflict`]
    /// for a longer or non-positive TTL.
    pub async fn enable_delete_flag(
        &self,
        ttl: Duration,
        set_by: &str,
        reason: &str,
    ) -> Result<FlagRow, StoreError> {
        if ttl <= Duration::zero() || ttl > Duration::seconds(MAX_FLAG_TTL_SECS) {
            return Err(StoreError::Conflict(
                "the delete flag's TTL must be more than 0 and at most 4h".into(),
            ));
        }
        Ok(sqlx::query_as(
            "INSERT INTO feature_flags (key, enabled, expires_at, set_by, reason, set_at) \
             VALUES ($1, true, now() + make_interval(secs => $2), $3, $4, now()) \
             ON CONFLICT (key) DO UPDATE SET enabled = true, expires_at = EXCLUDED.expires_at, \
               set_by = EXCLUDED.set_by, reason = EXCLUDED.reason, set_at = EXCLUDED.set_at \
             RETURNING enabled, expires_at, set_by, reason, set_at",
        )
        .bind(DELETE_FLAG)
        .bind(ttl.num_seconds() as f64)
        .bind(set_by)
        .bind(reason)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Disables the delete flag.
    pub async fn disable_delete_flag(&self, set_by: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO feature_flags (key, enabled, set_by, reason) VALUES ($1, false, $2, 'disabled') \
             ON CONFLICT (key) DO UPDATE SET enabled = false, expires_at = NULL, set_by = $2, reason = 'disabled', set_at = now()",
        )
        .bind(DELETE_FLAG)
        .bind(set_by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The delete flag, if ever set.
    pub async fn delete_flag(&self) -> Result<Option<FlagRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT enabled, expires_at, set_by, reason, set_at FROM feature_flags WHERE key = $1",
        )
        .bind(DELETE_FLAG)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Deletes recorded in the last 24 h.
    pub async fn deletes_last_24h(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM linkedin_account_audit_log WHERE action = $1 AND created_at > now() - interval '24 hours'",
        )
        .bind(AUDIT_DELETE_INTENT)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Whether this run (workflow id and run id) already recorded its delete intent:
    /// a retried DELETE step must neither count again nor be reported as blocked when
    /// the account is already gone.
    pub async fn own_delete_intent(
        &self,
        workflow_id: &str,
        run_id: &str,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM linkedin_account_audit_log WHERE action = $1 AND workflow_id = $2 AND run_id = $3)",
        )
        .bind(AUDIT_DELETE_INTENT)
        .bind(workflow_id)
        .bind(run_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Gates 5 and 4, then the intent: under a transaction-scoped lock shared by every
    /// delete, re-checks the flag, counts the deletes of the last 24 h, re-checks (with
    /// the rows locked) that no row references an inert duplicate, and writes the intent
    /// audit row (keyed by workflow id and run id) before the DELETE is called, so that a
    /// crash between the call and anything after it still counts. A retry of the same run
    /// finds its intent and proceeds without counting twice.
    pub async fn record_delete_intent(
        &self,
        unipile_account_id: &str,
        workflow_id: &str,
        run_id: &str,
        must_be_unreferenced: bool,
        actor: &str,
        reason: &str,
    ) -> Result<IntentDecision, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('relink.unipile_deletes'))")
            .execute(&mut *tx)
            .await?;
        let flag: Option<FlagRow> = sqlx::query_as(
            "SELECT enabled, expires_at, set_by, reason, set_at FROM feature_flags WHERE key = $1",
        )
        .bind(DELETE_FLAG)
        .fetch_optional(&mut *tx)
        .await?;
        let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&mut *tx)
            .await?;
        if !flag.as_ref().is_some_and(|f| f.is_open(now)) {
            let why = match flag {
                None => "the unipile_deletes flag was never enabled".to_string(),
                Some(f) if !f.enabled => {
                    format!("the unipile_deletes flag is disabled (by {})", f.set_by)
                }
                Some(f) => format!("the unipile_deletes flag expired at {:?}", f.expires_at),
            };
            return Ok(IntentDecision::FlagClosed(why));
        }
        let holder: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM linkedin_accounts WHERE unipile_account_id = $1 FOR UPDATE",
        )
        .bind(unipile_account_id)
        .fetch_optional(&mut *tx)
        .await?;
        if must_be_unreferenced && let Some(row) = holder {
            return Ok(IntentDecision::Referenced(row));
        }
        let mine: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM linkedin_account_audit_log WHERE action = $1 AND workflow_id = $2 AND run_id = $3)",
        )
        .bind(AUDIT_DELETE_INTENT)
        .bind(workflow_id)
        .bind(run_id)
        .fetch_one(&mut *tx)
        .await?;
        if mine {
            return Ok(IntentDecision::Proceed);
        }
        let recent: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM linkedin_account_audit_log WHERE action = $1 AND created_at > now() - interval '24 hours'",
        )
        .bind(AUDIT_DELETE_INTENT)
        .fetch_one(&mut *tx)
        .await?;
        if recent >= MAX_DELETES_PER_24H {
            return Ok(IntentDecision::CapReached(recent));
        }
        sqlx::query(
            "INSERT INTO linkedin_account_audit_log (account_id, unipile_account_id, action, actor, reason, workflow_id, run_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(holder)
        .bind(unipile_account_id)
        .bind(AUDIT_DELETE_INTENT)
        .bind(actor)
        .bind(reason)
        .bind(workflow_id)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(IntentDecision::Proceed)
    }
}
