//! Campaigns and their pause reasons (DESIGN.md, "Pausing and resuming").
//! A campaign is paused exactly while it has a `campaign_pauses` row; the database
//! checks that at commit.

use chrono::{DateTime, Utc};
use relink_domain::{AccountId, PauseReason, WorkspaceId};
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
    Ok(sqlx::query_scalar(&sql)
        .bind(reason.as_str())
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?)
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
    /// `active` or `paused`.
    pub status: String,
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
                    status,
                    pause_reasons: reasons
                        .iter()
                        .map(|r| r.parse())
                        .collect::<Result<_, _>>()?,
                    status_changed_at: changed,
                })
            })
            .collect()
    }
}
