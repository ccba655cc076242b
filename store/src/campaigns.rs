//! Campaigns and their pause reasons (DESIGN.md, "Pausing and resuming").
//! A campaign is paused exactly while it has a `campaign_pauses` row; the database
//! checks that at commit.

use chrono::{DateTime, Utc};
use relink_domain::{
    AccountId, AccountStatus, CampaignStatus, PauseReason, SourceStatus, WorkspaceId,
};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Store, StoreError};

/// Removes the `linkedin_account_disconnected` pause reason from every campaign of
/// `accounts`, inside the caller's transaction. A campaign left with no reason becomes
/// active, its failure-rate window is cleared, and its soft-paused enrollments become
/// active again at the step they were on (the step is never touched). Returns the ids
/// of the campaigns that became active. Set-based: a fixed number of statements.
pub async fn resume_disconnected_campaigns(
    conn: &mut PgConnection,
    accounts: &[AccountId],
) -> Result<Vec<Uuid>, StoreError> {
    let ids: Vec<Uuid> = accounts.iter().map(|a| a.0).collect();
    let resumed = clear_reason(
        conn,
        PauseReason::LinkedinAccountDisconnected,
        "c.account_id = ANY($2)",
        &ids,
    )
    .await?;
    wake_after_disconnect(conn, &resumed).await?;
    Ok(resumed)
}

/// Removes `reason` from the campaigns matching `scope` (SQL over `campaigns c`, with
/// `$2` bound to `ids`) in one statement, and activates those left without a reason
/// (the statement cannot see its own deletes, hence the `<> $1` in the last check).
/// Returns the campaigns that became active; waking their enrollments is the caller's.
pub(crate) async fn clear_reason(
    conn: &mut PgConnection,
    reason: PauseReason,
    scope: &str,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, StoreError> {
    let sql = format!(
        "WITH cleared AS ( \
             DELETE FROM campaign_pauses p USING campaigns c \
             WHERE p.campaign_id = c.id AND {scope} AND p.reason = $1 \
             RETURNING c.id) \
         UPDATE campaigns c SET status = 'active', status_changed_at = now() \
         WHERE c.id IN (SELECT id FROM cleared) AND c.status = 'paused' \
           AND NOT EXISTS (SELECT 1 FROM campaign_pauses p WHERE p.campaign_id = c.id AND p.reason <> $1) \
         RETURNING c.id"
    );
    let resumed: Vec<Uuid> = sqlx::query_scalar(&sql)
        .bind(reason.as_str())
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?;
    metrics::counter!(relink_domain::metrics::CAMPAIGNS_RESUMED).increment(resumed.len() as u64);
    Ok(resumed)
}

/// For campaigns that just became active again after a disconnect: clears their
/// failure-rate window (only the disconnect resume does that), wakes their soft-paused
/// enrollments at the step they were on, and sends the due ones through the pacer.
pub(crate) async fn wake_after_disconnect(
    conn: &mut PgConnection,
    resumed: &[Uuid],
) -> Result<(), StoreError> {
    if resumed.is_empty() {
        return Ok(());
    }
    sqlx::query("DELETE FROM campaign_send_outcomes WHERE campaign_id = ANY($1)")
        .bind(resumed)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE campaign_enrollments SET state = 'active', updated_at = now() \
         WHERE campaign_id = ANY($1) AND state = 'soft_paused'",
    )
    .bind(resumed)
    .execute(&mut *conn)
    .await?;
    crate::sending::pace_due_enrollments(conn, resumed).await?;
    Ok(())
}

/// Gives each of `campaigns` the pause `reason` (kept if already there) with `detail`,
/// inside the caller's transaction: each becomes paused and its active enrollments are
/// soft-paused at their step. The one way a campaign gets a pause reason from relink
/// (a disconnect, a subscription end, a high failure rate). Returns the campaigns that
/// got the reason just now. Set-based: three statements.
pub(crate) async fn pause_campaigns(
    conn: &mut PgConnection,
    campaigns: &[Uuid],
    reason: PauseReason,
    detail: &str,
) -> Result<Vec<Uuid>, StoreError> {
    let added: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO campaign_pauses (campaign_id, reason, detail) \
         SELECT id, $2, $3 FROM unnest($1::uuid[]) AS id \
         ON CONFLICT (campaign_id, reason) DO NOTHING RETURNING campaign_id",
    )
    .bind(campaigns)
    .bind(reason.as_str())
    .bind(detail)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE campaigns SET status = 'paused', status_changed_at = now() \
         WHERE id = ANY($1) AND status = 'active'",
    )
    .bind(campaigns)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE campaign_enrollments SET state = 'soft_paused', updated_at = now() \
         WHERE campaign_id = ANY($1) AND state = 'active'",
    )
    .bind(campaigns)
    .execute(&mut *conn)
    .await?;
    Ok(added)
}

/// Pauses every campaign of `account` for the disconnect, inside the caller's
/// transaction ([`pause_campaigns`] with `linkedin_account_disconnected`). Returns the
/// ids of the campaigns that got the reason just now.
pub async fn pause_for_disconnect(
    conn: &mut PgConnection,
    account: AccountId,
    detail: &str,
) -> Result<Vec<Uuid>, StoreError> {
    let campaigns: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM campaigns WHERE account_id = $1")
        .bind(account.0)
        .fetch_all(&mut *conn)
        .await?;
    pause_campaigns(
        conn,
        &campaigns,
        PauseReason::LinkedinAccountDisconnected,
        detail,
    )
    .await
}

/// One campaign with its remaining pause reasons (the "pause hint").
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CampaignView {
    /// Campaign id.
    pub id: Uuid,
    /// Its LinkedIn account.
    pub account_id: AccountId,
    /// Name.
    pub name: String,
    /// Active or paused.
    pub status: CampaignStatus,
    /// Every active pause reason, sorted.
    pub pause_reasons: Vec<PauseReason>,
    /// When the status last changed (UTC).
    pub status_changed_at: DateTime<Utc>,
}

impl Store {
    /// Every campaign of a workspace with its pause reasons, by name.
    pub async fn campaigns_of_workspace(
        &self,
        workspace: WorkspaceId,
    ) -> Result<Vec<CampaignView>, StoreError> {
        self.campaigns_where("c.workspace_id = $1", workspace.0)
            .await
    }

    /// Every campaign of one LinkedIn account with its pause reasons.
    pub async fn campaigns_of_account(
        &self,
        account: AccountId,
    ) -> Result<Vec<CampaignView>, StoreError> {
        self.campaigns_where("c.account_id = $1", account.0).await
    }

    async fn campaigns_where(
        &self,
        filter: &str,
        id: Uuid,
    ) -> Result<Vec<CampaignView>, StoreError> {
        let sql = format!(
            "SELECT c.id, c.account_id, c.name, c.status, c.status_changed_at, \
             COALESCE(array_agg(p.reason ORDER BY p.reason) FILTER (WHERE p.reason IS NOT NULL), '{{}}') \
             FROM campaigns c LEFT JOIN campaign_pauses p ON p.campaign_id = c.id \
             WHERE {filter} GROUP BY c.id ORDER BY c.name, c.id"
        );
        /// id, account, name, status, status changed at, pause reasons.
        type Row = (Uuid, Uuid, String, String, DateTime<Utc>, Vec<String>);
        let rows: Vec<Row> = sqlx::query_as(&sql).bind(id).fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|(id, account, name, status, changed, reasons)| {
                Ok(CampaignView {
                    id,
                    account_id: AccountId(account),
                    name,
                    status: status.parse()?,
                    pause_reasons: reasons
                        .iter()
                        .map(|r| r.parse())
                        .collect::<Result<_, _>>()?,
                    status_changed_at: changed,
                })
            })
            .collect()
    }

    /// One sweeper batch: removes the `linkedin_account_disconnected` reason from at most
    /// `batch` campaigns whose account is `connected`; those left without a reason become
    /// active (failure window cleared, soft-paused enrollments woken at their step).
    /// Set-based, idempotent. Batches walk the campaign ids upward: pass the previous
    /// batch's `last` as `after` (a queue scanned from its start every batch would step
    /// over every reason deleted before it: quadratic over a pass). Returns the batch's
    /// totals; fewer reasons cleared than `batch` means the pass is done.
    pub async fn sweep_disconnect_pauses(
        &self,
        batch: i64,
        after: Option<Uuid>,
    ) -> Result<SweepTotals, StoreError> {
        let mut tx = self.pool.begin().await?;
        let cleared: Vec<Uuid> = sqlx::query_scalar(
            // The batch is picked (and locked) first, as an array, then deleted by key:
            // a join or `IN (subquery)` here let PostgreSQL scan every pause row once
            // per batch (EXPLAIN ANALYZE at 100,000 campaigns: 42 ms → 6 ms per batch).
            "DELETE FROM campaign_pauses p WHERE p.reason = 'linkedin_account_disconnected' AND p.campaign_id = ANY (ARRAY( \
                SELECT p2.campaign_id FROM campaign_pauses p2 \
                JOIN campaigns c ON c.id = p2.campaign_id \
                JOIN linkedin_accounts a ON a.id = c.account_id \
                WHERE p2.reason = 'linkedin_account_disconnected' AND a.status = 'connected' \
                  AND (a.provider_status IS NULL OR a.provider_status <> ALL($3)) \
                  AND p2.campaign_id > $2 \
                ORDER BY p2.campaign_id LIMIT $1 FOR UPDATE OF p2 SKIP LOCKED FOR SHARE OF a)) \
             RETURNING p.campaign_id",
        )
        .bind(batch)
        // The nil UUID sorts first: a plain range keeps the (reason, campaign_id) index
        // scan (an `IS NULL OR` here made PostgreSQL sort every pause row).
        .bind(after.unwrap_or(Uuid::nil()))
        .bind(crate::truth::blip_statuses())
        .fetch_all(&mut *tx)
        .await?;
        let resumed: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE campaigns c SET status = 'active', status_changed_at = now() \
             WHERE c.id = ANY($1) AND c.status = 'paused' \
               AND NOT EXISTS (SELECT 1 FROM campaign_pauses p WHERE p.campaign_id = c.id) RETURNING c.id",
        )
        .bind(&cleared)
        .fetch_all(&mut *tx)
        .await?;
        wake_after_disconnect(&mut tx, &resumed).await?;
        tx.commit().await?;
        Ok(SweepTotals {
            reasons_cleared: cleared.len() as u64,
            campaigns_resumed: resumed.len() as u64,
            still_paused: (cleared.len() - resumed.len()) as u64,
            last: cleared.iter().max().copied(),
        })
    }

    /// The user's Resume of one campaign of `workspace`: clears `manual`, `stuck_loop`,
    /// `linkedin_high_failure_rate` and `account_restricted`, and the two self-healing
    /// reasons only when their cause is gone (account connected again; subscription
    /// active). A campaign left without a reason becomes active, its soft-paused
    /// enrollments woken at their step. Errors: [`StoreError::NotFound`].
    pub async fn user_resume(
        &self,
        workspace: WorkspaceId,
        campaign: Uuid,
    ) -> Result<ResumeOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Locks in the sweeper's order (pause rows, then the account, then the campaign),
        // so that a Resume and a sweeper batch on the same campaign cannot deadlock.
        sqlx::query("SELECT 1 FROM campaign_pauses WHERE campaign_id = $1 FOR UPDATE")
            .bind(campaign)
            .execute(&mut *tx)
            .await?;
        let row: Option<(String, Option<String>, bool)> = sqlx::query_as(
            "SELECT a.status, a.provider_status, w.subscription_active FROM campaigns c \
             JOIN linkedin_accounts a ON a.id = c.account_id JOIN workspaces w ON w.id = c.workspace_id \
             WHERE c.id = $1 AND c.workspace_id = $2 FOR SHARE OF a, w",
        )
        .bind(campaign)
        .bind(workspace.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((account_status, provider_status, subscription_active)) = row else {
            return Err(StoreError::NotFound(format!("campaign {campaign}")));
        };
        sqlx::query("SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE")
            .bind(campaign)
            .execute(&mut *tx)
            .await?;
        // The disconnect reason's cause persists while the account is not connected, and
        // while its sync is interrupted (a blip that outlasted its tolerance paused it).
        let in_blip = provider_status
            .map(|p| p.parse::<SourceStatus>())
            .transpose()?
            .is_some_and(SourceStatus::is_blip);
        let account_connected = account_status == AccountStatus::Connected.as_str() && !in_blip;
        let reasons: Vec<String> = sqlx::query_scalar(
            "SELECT reason FROM campaign_pauses WHERE campaign_id = $1 ORDER BY reason",
        )
        .bind(campaign)
        .fetch_all(&mut *tx)
        .await?;
        let mut cleared = Vec::new();
        let mut remaining = Vec::new();
        for r in reasons {
            let reason: PauseReason = r.parse()?;
            let cause_persists = match reason {
                PauseReason::LinkedinAccountDisconnected => !account_connected,
                PauseReason::SubscriptionInactive => !subscription_active,
                _ => false,
            };
            if cause_persists {
                remaining.push(reason)
            } else {
                cleared.push(reason)
            }
        }
        let cleared_s: Vec<&str> = cleared.iter().map(|r| r.as_str()).collect();
        sqlx::query("DELETE FROM campaign_pauses WHERE campaign_id = $1 AND reason = ANY($2)")
            .bind(campaign)
            .bind(&cleared_s)
            .execute(&mut *tx)
            .await?;
        let status = if remaining.is_empty() {
            CampaignStatus::Active
        } else {
            CampaignStatus::Paused
        };
        let changed = sqlx::query("UPDATE campaigns SET status = $2, status_changed_at = now() WHERE id = $1 AND status <> $2")
            .bind(campaign)
            .bind(status.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 1 && status == CampaignStatus::Active {
            metrics::counter!(relink_domain::metrics::CAMPAIGNS_RESUMED).increment(1);
        }
        if remaining.is_empty() {
            sqlx::query(
                "UPDATE campaign_enrollments SET state = 'active', updated_at = now() \
                 WHERE campaign_id = $1 AND state = 'soft_paused'",
            )
            .bind(campaign)
            .execute(&mut *tx)
            .await?;
            crate::sending::pace_due_enrollments(&mut tx, &[campaign]).await?;
        }
        tx.commit().await?;
        Ok(ResumeOutcome {
            status,
            cleared,
            remaining,
        })
    }
}

/// Outcome of the user's Resume on one campaign.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ResumeOutcome {
    /// Active or paused after the call.
    pub status: CampaignStatus,
    /// Reasons this call cleared.
    pub cleared: Vec<PauseReason>,
    /// Reasons that keep the campaign paused (their cause persists).
    pub remaining: Vec<PauseReason>,
}

/// Totals of one sweeper pass.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SweepTotals {
    /// `linkedin_account_disconnected` reasons removed.
    pub reasons_cleared: u64,
    /// Campaigns that became active.
    pub campaigns_resumed: u64,
    /// Campaigns whose disconnect reason was removed but that keep another reason.
    pub still_paused: u64,
    /// The largest campaign id this batch cleared: the next batch starts after it.
    #[serde(default)]
    pub last: Option<Uuid>,
}
