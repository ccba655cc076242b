//! A workspace's subscription: its end pauses every campaign (`subscription_inactive`),
//! a renewal resumes them, and the end of the grace period disconnects the accounts
//! (DESIGN.md, "Subscription end").

use relink_domain::{AccountId, AccountStatus, PauseReason};
use uuid::Uuid;

use crate::{AuditContext, Store, StoreError, flip_status};

impl Store {
    /// Subscription end: marks the workspace inactive and gives every campaign of it the
    /// `subscription_inactive` reason (paused, enrollments soft-paused at their step).
    /// Nothing is destroyed. Returns how many campaigns carry the reason now.
    pub async fn subscription_end(
        &self,
        workspace: relink_domain::WorkspaceId,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        set_subscription_active(&mut tx, workspace, false).await?;
        let campaigns: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM campaigns WHERE workspace_id = $1")
                .bind(workspace.0)
                .fetch_all(&mut *tx)
                .await?;
        crate::campaigns::pause_campaigns(
            &mut tx,
            &campaigns,
            PauseReason::SubscriptionInactive,
            "subscription ended",
        )
        .await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM campaign_pauses p JOIN campaigns c ON c.id = p.campaign_id \
             WHERE c.workspace_id = $1 AND p.reason = 'subscription_inactive'",
        )
        .bind(workspace.0)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(n as u64)
    }

    /// Renewal: the workspace is active again and the `subscription_inactive` reason is
    /// removed; campaigns left without a reason become active, their enrollments woken at
    /// their step and paced. Returns the campaigns that became active.
    pub async fn subscription_renew(
        &self,
        workspace: relink_domain::WorkspaceId,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut tx = self.pool.begin().await?;
        set_subscription_active(&mut tx, workspace, true).await?;
        let resumed = crate::campaigns::clear_reason(
            &mut tx,
            PauseReason::SubscriptionInactive,
            "c.workspace_id = ANY($2)",
            &[workspace.0],
        )
        .await?;
        if !resumed.is_empty() {
            sqlx::query(
                "UPDATE campaign_enrollments SET state = 'active', updated_at = now() \
                 WHERE campaign_id = ANY($1) AND state = 'soft_paused'",
            )
            .bind(&resumed)
            .execute(&mut *tx)
            .await?;
            crate::sending::pace_due_enrollments(&mut tx, &resumed).await?;
        }
        tx.commit().await?;
        Ok(resumed)
    }

    /// The grace period ended without renewal: every account of the workspace that is not
    /// already `disconnected` becomes `disconnected` (audited, compare-and-set on the
    /// status read) with its campaigns paused for the disconnect. Nothing is deleted.
    /// A workspace whose subscription is active again (renewed directly) is left alone.
    /// Returns how many rows flipped.
    pub async fn disconnect_workspace(
        &self,
        workspace: relink_domain::WorkspaceId,
        audit: &AuditContext,
    ) -> Result<u64, StoreError> {
        // An unknown workspace has no rows either: nothing flips.
        if self.subscription_active(workspace).await? {
            return Ok(0);
        }
        let rows: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT id, status FROM linkedin_accounts WHERE workspace_id = $1 AND status <> 'disconnected'",
        )
        .bind(workspace.0)
        .fetch_all(&self.pool)
        .await?;
        let mut flipped = 0;
        for (id, status) in rows {
            let mut tx = self.pool.begin().await?;
            match flip_status(
                &mut tx,
                AccountId(id),
                &[status.parse()?],
                AccountStatus::Disconnected,
                audit,
            )
            .await
            {
                Ok(_) => {
                    sqlx::query("UPDATE linkedin_accounts SET link_token = NULL, link_ref = NULL WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    crate::campaigns::pause_for_disconnect(
                        &mut tx,
                        AccountId(id),
                        "subscription ended without renewal",
                    )
                    .await?;
                    tx.commit().await?;
                    flipped += 1;
                }
                Err(StoreError::StatusMoved { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(flipped)
    }

    /// Whether `workspace`'s subscription is active (an unknown workspace is not).
    pub async fn subscription_active(
        &self,
        workspace: relink_domain::WorkspaceId,
    ) -> Result<bool, StoreError> {
        let active: Option<bool> =
            sqlx::query_scalar("SELECT subscription_active FROM workspaces WHERE id = $1")
                .bind(workspace.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(active == Some(true))
    }
}

async fn set_subscription_active(
    conn: &mut sqlx::PgConnection,
    workspace: relink_domain::WorkspaceId,
    active: bool,
) -> Result<(), StoreError> {
    let found = sqlx::query("UPDATE workspaces SET subscription_active = $2 WHERE id = $1")
        .bind(workspace.0)
        .bind(active)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if found == 0 {
        return Err(StoreError::NotFound(format!("workspace {workspace}")));
    }
    Ok(())
}
