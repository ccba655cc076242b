//! The Reconnect flow's writes: preparing a link, showing the row as linking, the link
//! the workflow recorded (reused within the window), linking the session Unipile
//! created, abandoning a link, and rows stuck linking (DESIGN.md, "Reconnect").

use chrono::{DateTime, Utc};
use relink_domain::{
    AccountId, AccountStatus, LinkToken, SourceStatus, WorkspaceId,
    reconnect::{LinkKind, LinkResult, PreparedLink},
    truth::RelinkPath,
};
use uuid::Uuid;

use crate::{AuditContext, Store, StoreError, flip_status, insert_audit, random_token};

/// `(status, link_token, link_ref, unipile_account_id, version)` of a row being relinked.
type LinkedRow = (String, Option<String>, Option<String>, Option<String>, i64);

impl Store {
    /// Step 1 of issuing a hosted-auth link: a fresh random token, stored in
    /// `hosted_auth_links` under a fresh reference that is all the workflow sees, and
    /// what to link. A retried call mints another pair; [`Store::mark_connecting`] drops
    /// the account's other pairs.
    ///
    /// Errors: [`StoreError::NotFound`].
    pub async fn prepare_link(&self, id: AccountId) -> Result<PreparedLink, StoreError> {
        let row = self.account(id).await?;
        let link_ref = format!("link_{}", Uuid::new_v4().simple());
        sqlx::query(
            "INSERT INTO hosted_auth_links (link_ref, account_id, token) VALUES ($1, $2, $3)",
        )
        .bind(&link_ref)
        .bind(id.0)
        .bind(random_token())
        .execute(&self.pool)
        .await?;
        // A row that names a Unipile session reconnects it, whatever its status: a
        // `create` link would mint a second session of the same LinkedIn identity. When
        // Unipile no longer has that session, the link activity falls back to `create`.
        let kind = if row.unipile_account_id.is_some() {
            LinkKind::Reconnect
        } else {
            LinkKind::Create
        };
        Ok(PreparedLink {
            token: link_ref.into(),
            kind,
            unipile_account_id: if kind == LinkKind::Reconnect {
                row.unipile_account_id
            } else {
                None
            },
            status: row.status,
        })
    }

    /// The token stored under `link` ([`Store::prepare_link`]), or `None` when there is
    /// none (a run recorded before references, whose `link` is the token itself).
    pub async fn hosted_link_token(&self, link: &str) -> Result<Option<LinkToken>, StoreError> {
        let token: Option<String> =
            sqlx::query_scalar("SELECT token FROM hosted_auth_links WHERE link_ref = $1")
                .bind(link)
                .fetch_optional(&self.pool)
                .await?;
        Ok(token.map(Into::into))
    }

    /// The reference of the link whose token is `token` (`None`: a link issued before
    /// references, or one replaced since). The notify callback names its link by this.
    pub async fn link_ref_of_token(&self, token: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT link_ref FROM hosted_auth_links WHERE token = $1")
                .bind(token)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Records the wizard url Unipile issued for `link`. Returns false when `link` is
    /// unknown (nothing written).
    pub async fn record_hosted_link_url(&self, link: &str, url: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE hosted_auth_links SET url = $2 WHERE link_ref = $1")
            .bind(link)
            .bind(url)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// The wizard url and expiry (UTC) of the link the row (of `workspace`) is linking
    /// under, if it is `connecting` with one: what a click answers once the Reconnect
    /// workflow has issued or reused the link (its update result holds no url).
    pub async fn current_link(
        &self,
        workspace: WorkspaceId,
        id: AccountId,
    ) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT link_url, link_expires_at FROM linkedin_accounts \
             WHERE id = $1 AND workspace_id = $2 AND status = 'connecting' \
               AND link_url IS NOT NULL AND link_expires_at IS NOT NULL",
        )
        .bind(id.0)
        .bind(workspace.0)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Makes `link` the row's current link and shows the row as linking: flips
    /// `expected` → `connecting` (audited) unless it already is `connecting`, in which
    /// case only the link changes (a fresh link for the same linking attempt). The token
    /// and url come from `hosted_auth_links` under the reference `link`, whose other
    /// pairs for this account are dropped; a `link` with no stored pair is a token
    /// itself (a run recorded before references), with the url in `issued`.
    ///
    /// `kind` is the link actually created: a `create` link for a row that names a
    /// session (gone at Unipile) drops that session first.
    ///
    /// Errors: [`StoreError::StatusMoved`] when the row left `expected`/`connecting`.
    pub async fn mark_connecting(
        &self,
        id: AccountId,
        expected: AccountStatus,
        link: &str,
        kind: LinkKind,
        issued: Option<&relink_domain::reconnect::IssuedLink>,
        audit: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let stored: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT token, url FROM hosted_auth_links WHERE link_ref = $1 AND account_id = $2",
        )
        .bind(link)
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let (token, link_ref, url) = match stored {
            Some((token, url)) => (token, Some(link), url),
            None if relink_domain::ids::is_link_reference(link) => {
                // Never make a reference (readable in history) a row's credential.
                return Err(StoreError::Conflict(format!(
                    "link {link} of account {id} was replaced by a newer one"
                )));
            }
            None => (link.to_string(), None, None),
        };
        let url = url.or_else(|| issued.map(|l| l.url.clone()).filter(|u| !u.is_empty()));
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
            "UPDATE linkedin_accounts SET link_token = $2, link_ref = $6, link_url = $3, link_issued_at = $4, \
             link_expires_at = $5, updated_at = now() WHERE id = $1",
        )
        .bind(id.0)
        .bind(&token)
        .bind(url)
        .bind(issued.map(|l| l.issued_at))
        .bind(issued.map(|l| l.expires_at))
        .bind(link_ref)
        .execute(&mut *tx)
        .await?;
        // Earlier links of this account (superseded, or minted by a retried prepare).
        sqlx::query(
            "DELETE FROM hosted_auth_links WHERE account_id = $1 AND link_ref IS DISTINCT FROM $2",
        )
        .bind(id.0)
        .bind(link_ref)
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
    /// Only while the row's current link is `link` (its reference, or for older runs its
    /// token; when given), is `connecting`, and (when
    /// given) still has `expected_version`, the version read before Unipile was asked
    /// whether the session is live. A row already connected to this account with this
    /// token is [`LinkResult::AlreadyLinked`] (a duplicate callback); anything else is
    /// [`LinkResult::Moved`]. A Unipile id held by another row is [`StoreError::Conflict`].
    #[allow(clippy::too_many_arguments)]
    pub async fn link_account(
        &self,
        id: AccountId,
        link: Option<&str>,
        expected_version: Option<i64>,
        unipile_account_id: &str,
        member_id: Option<&str>,
        provider_status: SourceStatus,
        path: RelinkPath,
        audit: &AuditContext,
    ) -> Result<LinkResult, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<LinkedRow> = sqlx::query_as(
            "SELECT status, link_token, link_ref, unipile_account_id, version FROM linkedin_accounts WHERE id = $1 FOR UPDATE",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((status, row_token, row_ref, row_unipile, version)) = row else {
            return Err(StoreError::NotFound(format!("account {id}")));
        };
        let status: AccountStatus = status.parse()?;
        let token_matches = link.is_none_or(|l| {
            crate::accounts::holds_link(row_ref.as_deref(), row_token.as_deref(), l)
        });
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
    /// link, while its current link is still `link` (reference, or token for older runs)
    /// and it is `connecting`. Returns false (nothing written) when the row moved on.
    pub async fn abandon_link(
        &self,
        id: AccountId,
        link: &str,
        back_to: AccountStatus,
        audit: &AuditContext,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT status, link_ref, link_token FROM linkedin_accounts WHERE id = $1 FOR UPDATE",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let holds = row.is_some_and(|(status, row_ref, row_token)| {
            status == AccountStatus::Connecting.as_str()
                && crate::accounts::holds_link(row_ref.as_deref(), row_token.as_deref(), link)
        });
        if !holds {
            return Ok(false);
        }
        flip_status(&mut tx, id, &[AccountStatus::Connecting], back_to, audit).await?;
        sqlx::query(
            "UPDATE linkedin_accounts SET link_token = NULL, link_ref = NULL WHERE id = $1",
        )
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
