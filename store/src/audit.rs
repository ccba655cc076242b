//! The audit trail of `linkedin_accounts`: the one status-flip helper ([`flip_status`])
//! that writes its audit row in the caller's transaction, other audit rows, and reading
//! an account's trail. The database's deferred audit-pairing trigger rejects, at commit,
//! any status change that skipped [`flip_status`].

use chrono::{DateTime, Utc};
use relink_domain::{AccountId, AccountStatus};
use serde::Serialize;
use sqlx::{FromRow, PgConnection};

use crate::{Store, StoreError};

/// Who and what a status flip is for: written to the audit row.
#[derive(Debug, Clone, Default)]
pub struct AuditContext {
    /// Audit `action`, e.g. `reconnect.linked`.
    pub action: String,
    /// Audit `actor`, e.g. `user:<workspace>` or `workflow:reconnect`.
    pub actor: String,
    /// Free-text reason.
    pub reason: Option<String>,
    /// Temporal workflow id, when a workflow made the change.
    pub workflow_id: Option<String>,
    /// Temporal run id.
    pub run_id: Option<String>,
}

/// Changes one account's status from one of `expected` to `to`, and writes its audit row,
/// inside the caller's transaction (`conn` must be in a transaction that the caller
/// commits). This is the only code that changes `linkedin_accounts.status`.
///
/// Compare-and-set: when the row's status is not in `expected`, nothing is written and
/// [`StoreError::StatusMoved`] names the status found. Also sets `status_changed_at`.
/// Returns the status the row had.
///
/// Errors: [`StoreError::NotFound`] for an unknown id, [`StoreError::Db`].
pub async fn flip_status(
    conn: &mut PgConnection,
    account: AccountId,
    expected: &[AccountStatus],
    to: AccountStatus,
    audit: &AuditContext,
) -> Result<AccountStatus, StoreError> {
    let current: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT status, unipile_account_id FROM linkedin_accounts WHERE id = $1 FOR UPDATE",
    )
    .bind(account.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((current, unipile_id)) = current else {
        return Err(StoreError::NotFound(format!("account {account}")));
    };
    let current: AccountStatus = current.parse()?;
    if !expected.contains(&current) {
        return Err(StoreError::StatusMoved {
            expected: expected.to_vec(),
            actual: current,
        });
    }
    sqlx::query(
        "UPDATE linkedin_accounts SET status = $2, status_changed_at = now(), updated_at = now(), \
         connecting_since = CASE WHEN $2 = 'connecting' THEN COALESCE(connecting_since, now()) ELSE NULL END \
         WHERE id = $1",
    )
    .bind(account.0)
    .bind(to.as_str())
    .execute(&mut *conn)
    .await?;
    insert_audit(
        conn,
        account,
        unipile_id.as_deref(),
        Some(current),
        Some(to),
        audit,
    )
    .await?;
    Ok(current)
}

/// Appends one audit row (also used for audited events that change no status).
pub async fn insert_audit(
    conn: &mut PgConnection,
    account: AccountId,
    unipile_account_id: Option<&str>,
    from: Option<AccountStatus>,
    to: Option<AccountStatus>,
    audit: &AuditContext,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO linkedin_account_audit_log \
         (account_id, unipile_account_id, action, from_status, to_status, actor, reason, workflow_id, run_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(account.0)
    .bind(unipile_account_id)
    .bind(&audit.action)
    .bind(from.map(|s| s.as_str()))
    .bind(to.map(|s| s.as_str()))
    .bind(&audit.actor)
    .bind(&audit.reason)
    .bind(&audit.workflow_id)
    .bind(&audit.run_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One audit-log row as read back.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct AuditEntry {
    /// What happened.
    pub action: String,
    /// Status before.
    pub from_status: Option<String>,
    /// Status after.
    pub to_status: Option<String>,
    /// Who did it.
    pub actor: String,
    /// Why.
    pub reason: Option<String>,
    /// Which workflow.
    pub workflow_id: Option<String>,
    /// When (UTC).
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Audit rows of one account, oldest first (for the starter, tests and the demo).
    pub async fn audit_of(&self, id: AccountId) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT action, from_status, to_status, actor, reason, workflow_id, created_at \
             FROM linkedin_account_audit_log WHERE account_id = $1 ORDER BY id",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?)
    }
}
