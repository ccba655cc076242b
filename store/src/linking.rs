//! The Reconnect flow's writes: preparing a link, showing the row as linking, the link
//! the workflow recorded (reused within the window), linking the session Unipile
//! created, abandoning a link, and rows stuck linking (DESIGN.md, "Reconnect").

use chrono::{DateTime, Utc};
use relink_domain::{
    AccountId, AccountStatus, SourceStatus, WorkspaceId,
    reconnect::{LinkKind, LinkResult, PreparedLink},
    truth::RelinkPath,
};
use uuid::Uuid;

use crate::{AuditContext, Store, StoreError, flip_status, insert_audit, random_token};

impl Store {
    /// Step 1 of issuing a hosted-auth link: a fresh random token and what to link.
    /// Writes nothing (a retried call just mints another token).
    ///
    /// Errors: [`StoreError::NotFound`].
    pub async fn prepare_link(&self, id: AccountId) -> Result<PreparedLink, StoreError> {
        let row = self.account(id).await?;
        // A row that names a Unipile session reconnects it, whatever its status: a
        // `create` link would mint a second session of the same LinkedIn identity. When
        // Unipile no longer has that session, the link activity falls back to `create`.
        let kind = if row.unipile_account_id.is_some() {
            LinkKind::Reconnect
        } else {
            LinkKind::Create
        };
        Ok(PreparedLink {
            token: random_token().into(),
            kind,
            unipile_account_id: if kind == LinkKind::Reconnect {
                row.unipile_account_id
            } else {
                None
            },
            status: row.status,
        })
    }

    /// Makes `token` the row's current link token and shows the row as linking: flips
    /// `expected` → `connecting` (audited) unless it already is `connecting`, in which
    /// case only the token changes (a fresh link for the same linking attempt).
    ///
    /// `kind` is the link actually created: a `create` link for a row that names a
    /// session (gone at Unipile) drops that session first.
    ///
    /// Errors: [`StoreError::StatusMoved`] when the row left `expected`/`connecting`.
    pub async fn mark_connecting(
        &self,
        id: AccountId,
        expected: AccountStatus,
        token: &str,
        kind: LinkKind,
        link: Option<&relink_domain::reconnect::IssuedLink>,
        audit: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT status FROM linkedin_accounts WHERE id = $1 FOR UPDATE")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?;
        let current: AccountStatus = current
            .ok_or_else(|| StoreError::NotFound(format!("account {id}")))?
            .parse()?;
        if kind == LinkKind::Create {
            // A `create` link for a row that names a session: Unipile answered that the
            // session is gone. The row links afresh, as a first connection: it lets go
            // of the dead session, and its linking interval is audited as one (the
            // first-connection matching counts it).
            let dropped = sqlx::query(
                "UPDATE linkedin_accounts SET unipile_account_id = NULL WHERE id = $1 AND unipile_account_id IS NOT NULL",
            )
            .bind(id.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if dropped == 1 && current == AccountStatus::Connecting {
                let fallback = AuditContext {
                    action: "reconnect.create_fallback".into(),
                    reason: Some("Unipile no longer has the session; linking afresh".into()),
                    ..audit.clone()
                };
                insert_audit(&mut tx, id, None, Some(current), Some(current), &fallback).await?;
            }
        }
        if current != AccountStatus::Connecting {
            flip_status(&mut tx, id, &[expected], AccountStatus::Connecting, audit).await?;
        }
        sqlx::query(
            "UPDATE linkedin_accounts SET link_token = $2, link_url = $3, link_issued_at = $4, link_expires_at = $5, \
             updated_at = now() WHERE id = $1",
        )
        .bind(id.0)
        .bind(token)
        .bind(link.map(|l| l.url.as_str()))
        .bind(link.map(|l| l.issued_at))
        .bind(link.map(|l| l.expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The hosted-auth link a repeated click may get without asking the Reconnect
    /// workflow: the row (of `workspace`) is `connecting` under the link the workflow
    /// issued less than `window` ago by the database clock (UTC), which stays valid for
    /// at least another 60 s. Returns `(url, expires_at)`, or `None` (ask the workflow).
    /// The workflow applies the same reuse rule, so both answer the same url.
    pub async fn reusable_link(
        &self,
        workspace: WorkspaceId,
        id: AccountId,
        window: std::time::Duration,
    ) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT link_url, link_expires_at FROM linkedin_accounts \
             WHERE id = $1 AND workspace_id = $2 AND status = 'connecting' AND link_url IS NOT NULL \
               AND link_issued_at > now() - make_interval(secs => $3) \
               AND link_expires_at > now() + interval '60 seconds'",
        )
        .bind(id.0)
        .bind(workspace.0)
        .bind(window.as_secs_f64())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Relinks a row to a live Unipile account in one transaction, through the one
    /// relink path ([`crate::relink`]): `connecting` → `connected` (audited) with the
    /// Unipile id, member id and provider status, the pending reconnect email withdrawn
    /// and the account's campaigns resumed.
    ///
    /// Only while the row still holds `token` (when given), is `connecting`, and (when
    /// given) still has `expected_version`, the version read before Unipile was asked
    /// whether the session is live. A row already connected to this account with this
    /// token is [`LinkResult::AlreadyLinked`] (a duplicate callback); anything else is
    /// [`LinkResult::Moved`]. A Unipile id held by another row is [`StoreError::Conflict`].
    #[allow(clippy::too_many_arguments)]
    pub async fn link_account(
        &self,
        id: AccountId,
        token: Option<&str>,
        expected_version: Option<i64>,
        unipile_account_id: &str,
        member_id: Option<&str>,
        provider_status: SourceStatus,
        path: RelinkPath,
        audit: &AuditContext,
    ) -> Result<LinkResult, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(String, Option<String>, Option<String>, i64)> = sqlx::query_as(
            "SELECT status, link_token, unipile_account_id, version FROM linkedin_accounts WHERE id = $1 FOR UPDATE",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((status, row_token, row_unipile, version)) = row else {
            return Err(StoreError::NotFound(format!("account {id}")));
        };
        let status: AccountStatus = status.parse()?;
        let token_matches = token.is_none_or(|t| row_token.as_deref() == Some(t));
        if status == AccountStatus::Connected
            && token_matches
            && row_unipile.as_deref() == Some(unipile_account_id)
        {
            return Ok(LinkResult::AlreadyLinked);
        }
        if status != AccountStatus::Connecting
            || !token_matches
            || expected_version.is_some_and(|v| v != version)
        {
            return Ok(LinkResult::Moved { status });
        }
        let resumed = crate::relink(
            &mut tx,
            id,
            AccountStatus::Connecting,
            path,
            unipile_account_id,
            member_id,
            provider_status,
            audit,
        )
        .await?;
        tx.commit().await?;
        Ok(LinkResult::Linked {
            resumed_campaigns: resumed,
        })
    }

    /// Puts a row whose link expired unused back to `back_to` (audited), clearing the
    /// token, while it still holds `token` and is `connecting`. Returns false (nothing
    /// written) when the row moved on.
    pub async fn abandon_link(
        &self,
        id: AccountId,
        token: &str,
        back_to: AccountStatus,
        audit: &AuditContext,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let holds: Option<String> = sqlx::query_scalar(
            "SELECT status FROM linkedin_accounts WHERE id = $1 AND link_token = $2 FOR UPDATE",
        )
        .bind(id.0)
        .bind(token)
        .fetch_optional(&mut *tx)
        .await?;
        if holds.as_deref() != Some(AccountStatus::Connecting.as_str()) {
            return Ok(false);
        }
        flip_status(&mut tx, id, &[AccountStatus::Connecting], back_to, audit).await?;
        sqlx::query("UPDATE linkedin_accounts SET link_token = NULL WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Rows `connecting` since before `older_than` (UTC), oldest first.
    pub async fn stale_connecting(
        &self,
        older_than: DateTime<Utc>,
    ) -> Result<Vec<crate::AccountRow>, StoreError> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM linkedin_accounts WHERE status = 'connecting' AND connecting_since < $1 ORDER BY connecting_since",
        )
        .bind(older_than)
        .fetch_all(&self.pool)
        .await?;
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            rows.push(self.account(AccountId(id)).await?);
        }
        Ok(rows)
    }
}
