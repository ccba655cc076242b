//! The one compare-and-set write for every change that a read of Unipile justifies
//! ([`Store::apply_decision`]), the one relink path ([`relink`]) that every way back to
//! `connected` ends in, and the reads those writers start from (issue 9).
//!
//! The rule: read the row (its `version`) *before* asking Unipile, decide with
//! `relink_domain::truth::decide`, and write only while the version is unchanged. A
//! user, a webhook or another loop that changed the row in between wins; the stale
//! writer gets [`Applied::Moved`] and writes nothing.

use chrono::{DateTime, Utc};
use relink_domain::{
    AccountId, AccountStatus, SourceStatus,
    healing::{blip_outlasted, provider_status_restarts},
    truth::{Decision, LinkingInterval, RelinkPath},
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    AuditContext, Store, StoreError, campaigns::resume_disconnected_campaigns, flip_status,
    merge_identity_duplicates,
};

/// What [`Store::apply_decision`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The decision is written (`flipped`: the status changed); `resumed` are the
    /// campaigns that became active.
    Written {
        /// Whether the row's status changed.
        flipped: bool,
        /// Campaigns that became active.
        resumed: Vec<Uuid>,
    },
    /// The row changed since the version the decision was made on: nothing written.
    Moved {
        /// The row's status now.
        status: AccountStatus,
    },
}

/// The one relink path, inside the caller's transaction: the row (in status `from`)
/// becomes `connected` to `unipile_account_id` (audited), with its member id (when
/// given), provider status and `first_connected_at`; the hosted-auth link fields are
/// cleared (the link served its purpose); rows of the same LinkedIn identity merge into
/// it; a still-unsent reconnect email is withdrawn; the campaigns a disconnect paused
/// resume (failure window cleared, due enrollments paced). Returns the campaigns that
/// became active.
///
/// Used by every [`RelinkPath`]: the notify callback, the link expiry check, the orphan
/// watcher, the reconciler's and the account-status sync's recoveries.
///
/// Errors: [`StoreError::Conflict`] when another row holds `unipile_account_id`;
/// [`StoreError::StatusMoved`] when the row is not in `from`.
#[allow(clippy::too_many_arguments)]
pub async fn relink(
    conn: &mut PgConnection,
    id: AccountId,
    from: AccountStatus,
    path: RelinkPath,
    unipile_account_id: &str,
    member_id: Option<&str>,
    provider_status: SourceStatus,
    audit: &AuditContext,
) -> Result<Vec<Uuid>, StoreError> {
    let holder: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM linkedin_accounts WHERE unipile_account_id = $1 AND id <> $2",
    )
    .bind(unipile_account_id)
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(other) = holder {
        return Err(StoreError::Conflict(format!(
            "unipile account {unipile_account_id} is already linked to account {other}"
        )));
    }
    sqlx::query(
        "UPDATE linkedin_accounts SET unipile_account_id = $2, \
         linkedin_member_id = COALESCE($3, linkedin_member_id), \
         link_url = NULL, link_issued_at = NULL, link_expires_at = NULL, \
         first_connected_at = COALESCE(first_connected_at, now()), updated_at = now() WHERE id = $1",
    )
    .bind(id.0)
    .bind(unipile_account_id)
    .bind(member_id)
    .execute(&mut *conn)
    .await?;
    record_provider_status(conn, id, provider_status).await?;
    flip_status(conn, id, &[from], AccountStatus::Connected, audit).await?;
    let member: Option<String> =
        sqlx::query_scalar("SELECT linkedin_member_id FROM linkedin_accounts WHERE id = $1")
            .bind(id.0)
            .fetch_one(&mut *conn)
            .await?;
    if let Some(member) = member {
        merge_identity_duplicates(conn, id, &member, audit).await?;
    }
    crate::emails::withdraw_pending(conn, id).await?;
    let resumed = resume_disconnected_campaigns(conn, &[id]).await?;
    // Reconnects completed, and how long the account was disconnected.
    let since: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT max(created_at) FROM linkedin_account_audit_log WHERE account_id = $1 \
         AND from_status = 'connected' AND to_status IN ('reconnect_needed', 'disconnected')",
    )
    .bind(id.0)
    .fetch_one(&mut *conn)
    .await?;
    metrics::counter!(relink_domain::metrics::RELINKS, "path" => path.as_str()).increment(1);
    if let Some(since) = since {
        let secs = (Utc::now() - since).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!(relink_domain::metrics::DISCONNECT_TO_RECONNECTED_SECONDS).record(secs);
    }
    tracing::info!(account_id = %id, unipile_account_id, path = path.as_str(), from = from.as_str(), resumed = resumed.len(), "relinked");
    Ok(resumed)
}

/// `connected` → `reconnect_needed` inside the caller's transaction (the row is
/// locked and `connected`): provider status recorded, link token cleared, campaigns
/// paused for the disconnect, and one reconnect email queued for this disconnect
/// episode (deduplicated on the audit row that opened it).
pub(crate) async fn mark_reconnect_needed(
    conn: &mut PgConnection,
    id: AccountId,
    provider_status: SourceStatus,
    audit: &AuditContext,
) -> Result<(), StoreError> {
    flip_status(
        conn,
        id,
        &[AccountStatus::Connected],
        AccountStatus::ReconnectNeeded,
        audit,
    )
    .await?;
    record_provider_status(conn, id, provider_status).await?;
    sqlx::query("UPDATE linkedin_accounts SET link_token = NULL, link_ref = NULL WHERE id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await?;
    crate::campaigns::pause_for_disconnect(conn, id, "LinkedIn account needs a fresh login")
        .await?;
    let episode: i64 = sqlx::query_scalar(
        "SELECT max(id) FROM linkedin_account_audit_log WHERE account_id = $1 AND to_status = 'reconnect_needed'",
    )
    .bind(id.0)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO email_outbox (account_id, kind, dedup_key, recipient, subject, body) \
         SELECT id, 'reconnect_needed', 'reconnect_needed:' || id || ':' || $2, email, \
                'Reconnect your LinkedIn account', \
                'LinkedIn ended the session of ' || display_name || '. Open relink and click Reconnect.' \
         FROM linkedin_accounts WHERE id = $1 ON CONFLICT (dedup_key) DO NOTHING",
    )
    .bind(id.0)
    .bind(episode)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a source status inside the caller's transaction; `provider_status_since`
/// restarts as the blip rule says (`relink_domain::healing::provider_status_restarts`:
/// on a change, except `ERROR` ↔ `STOPPED`, one continuing blip). Every write of a
/// provider status goes through here.
pub(crate) async fn record_provider_status(
    conn: &mut PgConnection,
    id: AccountId,
    status: SourceStatus,
) -> Result<(), StoreError> {
    let previous: Option<String> = sqlx::query_scalar(
        "SELECT provider_status FROM linkedin_accounts WHERE id = $1 FOR UPDATE",
    )
    .bind(id.0)
    .fetch_one(&mut *conn)
    .await?;
    let previous = previous.as_deref().map(str::parse).transpose()?;
    sqlx::query(
        "UPDATE linkedin_accounts SET \
         provider_status_since = CASE WHEN $3 THEN now() ELSE provider_status_since END, \
         provider_status = $2, updated_at = now() WHERE id = $1",
    )
    .bind(id.0)
    .bind(status.as_str())
    .bind(provider_status_restarts(previous, status))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The source statuses `SourceStatus::is_blip` names, for SQL (`= ANY($n)`).
pub(crate) fn blip_statuses() -> Vec<&'static str> {
    SourceStatus::ALL
        .iter()
        .filter(|s| s.is_blip())
        .map(|s| s.as_str())
        .collect()
}

impl Store {
    /// Writes `decision` (what a read of Unipile means, `relink_domain::truth::decide`)
    /// for row `id`, in one transaction, only while the row's version is still
    /// `expected_version` (read before Unipile was asked). A flip writes its audit row
    /// with `audit`; a relink goes through [`relink`] to the row's own session, on
    /// `path` (the writer's own: the reconciler, the account-status sync, …).
    ///
    /// Errors: [`StoreError::NotFound`] for an unknown id; [`StoreError::Conflict`] when
    /// a relink's session is held by another row; [`StoreError::Db`].
    pub async fn apply_decision(
        &self,
        id: AccountId,
        expected_version: i64,
        decision: Decision,
        path: RelinkPath,
        audit: &AuditContext,
    ) -> Result<Applied, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(String, i64, Option<String>)> = sqlx::query_as(
            "SELECT status, version, unipile_account_id FROM linkedin_accounts WHERE id = $1 FOR UPDATE",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((status, version, unipile)) = row else {
            return Err(StoreError::NotFound(format!("account {id}")));
        };
        let status: AccountStatus = status.parse()?;
        if version != expected_version {
            return Ok(Applied::Moved { status });
        }
        let (flipped, resumed) = match decision {
            Decision::Nothing => (false, vec![]),
            Decision::Record(s) => {
                record_provider_status(&mut tx, id, s).await?;
                // `OK` on a connected row ends a blip: resume what a long blip paused.
                let resumed = if s == SourceStatus::Ok && status == AccountStatus::Connected {
                    resume_disconnected_campaigns(&mut tx, &[id]).await?
                } else {
                    vec![]
                };
                (false, resumed)
            }
            Decision::NeedsLogin(s) => {
                mark_reconnect_needed(&mut tx, id, s, audit).await?;
                (true, vec![])
            }
            Decision::Gone => {
                flip_status(
                    &mut tx,
                    id,
                    &[AccountStatus::Connected, AccountStatus::ReconnectNeeded],
                    AccountStatus::Disconnected,
                    audit,
                )
                .await?;
                crate::campaigns::pause_for_disconnect(&mut tx, id, "account gone from Unipile")
                    .await?;
                (true, vec![])
            }
            Decision::Relink(s) => {
                let Some(session) = unipile else {
                    return Err(StoreError::Conflict(format!(
                        "account {id} names no Unipile session to relink"
                    )));
                };
                let resumed = relink(&mut tx, id, status, path, &session, None, s, audit).await?;
                (true, resumed)
            }
        };
        tx.commit().await?;
        Ok(Applied::Written { flipped, resumed })
    }

    /// The first-connection linking intervals of every row of the installation (every
    /// workspace) that were open at some time after `after` (UTC): rows `connecting`
    /// now without a Unipile session (open, from `connecting_since`), and flips to
    /// `connecting` without a session (audited with no Unipile id) closed by a flip away
    /// after `after`, from the audit log. A row that re-clicks stays in one interval. A
    /// reconnect whose session turned out gone becomes a first connection (its
    /// `mark_connecting` drops the session and audits the new interval).
    pub async fn linking_intervals(
        &self,
        after: DateTime<Utc>,
    ) -> Result<Vec<LinkingInterval>, StoreError> {
        let rows: Vec<(Uuid, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT id, connecting_since, NULL::timestamptz FROM linkedin_accounts \
             WHERE status = 'connecting' AND connecting_since IS NOT NULL AND unipile_account_id IS NULL \
             UNION ALL \
             SELECT e.account_id, s.created_at, e.created_at FROM linkedin_account_audit_log e \
             CROSS JOIN LATERAL (SELECT s.created_at, s.unipile_account_id FROM linkedin_account_audit_log s \
                 WHERE s.account_id = e.account_id AND s.id < e.id AND s.to_status = 'connecting' \
                 ORDER BY s.id DESC LIMIT 1) s \
             WHERE e.from_status = 'connecting' AND e.to_status IS DISTINCT FROM 'connecting' AND e.created_at >= $1 \
               AND s.unipile_account_id IS NULL",
        )
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, start, end)| LinkingInterval {
                account: AccountId(id),
                start,
                end,
            })
            .collect())
    }

    /// Unipile reports the session live again for a row that is `reconnect_needed`
    /// (fixed elsewhere): relinked through the one relink path, compare-and-set on the
    /// row's current version. Returns the campaigns that became active, or `None` when
    /// the row was not `reconnect_needed` (nothing written). For tests and tools; the
    /// loops decide on their own reads through [`Store::apply_decision`].
    pub async fn recover_connected(
        &self,
        id: AccountId,
        provider_status: SourceStatus,
        path: RelinkPath,
        audit: &AuditContext,
    ) -> Result<Option<Vec<Uuid>>, StoreError> {
        let row = self.account(id).await?;
        if row.status != AccountStatus::ReconnectNeeded {
            return Ok(None);
        }
        match self
            .apply_decision(
                id,
                row.version,
                Decision::Relink(provider_status),
                path,
                audit,
            )
            .await?
        {
            Applied::Written { resumed, .. } => Ok(Some(resumed)),
            Applied::Moved { .. } => Ok(None),
        }
    }

    /// A sync blip outlasted its tolerance: while the row is still `connected` with
    /// provider status `ERROR`/`STOPPED` since at least `tolerance_secs` ago, its
    /// campaigns get the `linkedin_account_disconnected` reason (enrollments
    /// soft-paused). Returns the campaigns paused, or `None` when the blip is over.
    pub async fn pause_for_blip(
        &self,
        id: AccountId,
        tolerance_secs: u64,
    ) -> Result<Option<Vec<Uuid>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The row is locked and the rule decided on it and the database's clock.
        /// Status, provider status, since when, the database's now.
        type BlipRow = (String, Option<String>, Option<DateTime<Utc>>, DateTime<Utc>);
        let row: Option<BlipRow> = sqlx::query_as(
            "SELECT status, provider_status, provider_status_since, now() \
                 FROM linkedin_accounts WHERE id = $1 FOR UPDATE",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((status, provider, since, now)) = row else {
            return Ok(None);
        };
        let provider = provider.as_deref().map(str::parse).transpose()?;
        if !blip_outlasted(status.parse()?, provider, since, now, tolerance_secs) {
            return Ok(None);
        }
        let paused = crate::campaigns::pause_for_disconnect(
            &mut tx,
            id,
            "LinkedIn sync interrupted beyond the tolerance",
        )
        .await?;
        tx.commit().await?;
        Ok(Some(paused))
    }

    /// Unipile says the account needs a fresh login (`CREDENTIALS`/`PERMISSIONS`): in one
    /// transaction, `connected` → `reconnect_needed` (audited), the account's
    /// campaigns get the `linkedin_account_disconnected` reason with their active
    /// enrollments soft-paused, and one reconnect email is queued for this disconnect
    /// episode. Returns false when the row was not `connected` (nothing written). For
    /// tests and tools; the loops go through [`Store::apply_decision`].
    pub async fn mark_reconnect_needed(
        &self,
        id: AccountId,
        provider_status: SourceStatus,
        audit: &AuditContext,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        match mark_reconnect_needed(&mut tx, id, provider_status, audit).await {
            Ok(()) => {}
            Err(StoreError::StatusMoved { .. }) => return Ok(false),
            Err(e) => return Err(e),
        }
        tx.commit().await?;
        Ok(true)
    }
}
