//! `linkedin_accounts`: reads, the audited status flip, and the relink / linking steps
//! of the Reconnect workflow.

use chrono::{DateTime, Utc};
use relink_domain::{
    AccountId, AccountStatus, PillInput, SourceStatus, WorkspaceId,
    reconnect::{LinkKind, LinkResult, PreparedLink},
};
use serde::Serialize;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::{Store, StoreError, random_token};

/// One `linkedin_accounts` row, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountRow {
    /// Row id.
    pub id: AccountId,
    /// Owning workspace.
    pub workspace_id: WorkspaceId,
    /// Name shown on the dashboard.
    pub display_name: String,
    /// Row status.
    pub status: AccountStatus,
    /// Last Unipile source status seen.
    pub provider_status: Option<SourceStatus>,
    /// Since when `provider_status` has had its current value (UTC).
    pub provider_status_since: Option<DateTime<Utc>>,
    /// Linked Unipile account id.
    pub unipile_account_id: Option<String>,
    /// Current hosted-auth link token.
    pub link_token: Option<String>,
    /// LinkedIn member id (`connection_params.im.id`), once known.
    pub linkedin_member_id: Option<String>,
    /// When the row started linking (UTC).
    pub connecting_since: Option<DateTime<Utc>>,
    /// First time the row was connected (UTC).
    pub first_connected_at: Option<DateTime<Utc>>,
    /// Last send activity (UTC).
    pub last_activity_at: Option<DateTime<Utc>>,
    /// Last status change (UTC).
    pub status_changed_at: DateTime<Utc>,
    /// Row version: bumped by every change of status, link token, session or provider
    /// status (migration 0004). A write justified by a read of Unipile names the version
    /// read before Unipile was asked, and is a no-op once it moved.
    pub version: i64,
}

impl AccountRow {
    /// The fields the status pill is derived from.
    pub fn pill_input(&self) -> PillInput {
        PillInput {
            status: self.status,
            provider_status: self.provider_status,
            connecting_since: self.connecting_since,
            last_activity_at: self.last_activity_at,
        }
    }
}

#[derive(FromRow)]
struct RawAccount {
    id: Uuid,
    workspace_id: Uuid,
    display_name: String,
    status: String,
    provider_status: Option<String>,
    provider_status_since: Option<DateTime<Utc>>,
    unipile_account_id: Option<String>,
    link_token: Option<String>,
    linkedin_member_id: Option<String>,
    connecting_since: Option<DateTime<Utc>>,
    first_connected_at: Option<DateTime<Utc>>,
    last_activity_at: Option<DateTime<Utc>>,
    status_changed_at: DateTime<Utc>,
    version: i64,
}

impl TryFrom<RawAccount> for AccountRow {
    type Error = StoreError;
    fn try_from(r: RawAccount) -> Result<Self, StoreError> {
        Ok(AccountRow {
            id: AccountId(r.id),
            workspace_id: WorkspaceId(r.workspace_id),
            display_name: r.display_name,
            status: r.status.parse()?,
            provider_status: r.provider_status.map(|s| s.parse()).transpose()?,
            provider_status_since: r.provider_status_since,
            unipile_account_id: r.unipile_account_id,
            link_token: r.link_token,
            linkedin_member_id: r.linkedin_member_id,
            connecting_since: r.connecting_since,
            first_connected_at: r.first_connected_at,
            last_activity_at: r.last_activity_at,
            status_changed_at: r.status_changed_at,
            version: r.version,
        })
    }
}

const ACCOUNT_COLUMNS: &str = "id, workspace_id, display_name, status, provider_status, \
    provider_status_since, unipile_account_id, link_token, linkedin_member_id, connecting_since, \
    first_connected_at, last_activity_at, status_changed_at, version";

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

impl Store {
    /// One account by id. Errors: [`StoreError::NotFound`].
    pub async fn account(&self, id: AccountId) -> Result<AccountRow, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM linkedin_accounts WHERE id = $1");
        let raw: Option<RawAccount> = sqlx::query_as(&sql)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        raw.ok_or_else(|| StoreError::NotFound(format!("account {id}")))?
            .try_into()
    }

    /// One account of `workspace`; another workspace's account is [`StoreError::NotFound`]
    /// exactly like an unknown id, so ids of other tenants leak nothing.
    pub async fn account_in_workspace(
        &self,
        workspace: WorkspaceId,
        id: AccountId,
    ) -> Result<AccountRow, StoreError> {
        let row = self.account(id).await?;
        if row.workspace_id != workspace {
            return Err(StoreError::NotFound(format!("account {id}")));
        }
        Ok(row)
    }

    /// Every account of a workspace, by display name.
    pub async fn accounts_of_workspace(
        &self,
        workspace: WorkspaceId,
    ) -> Result<Vec<AccountRow>, StoreError> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM linkedin_accounts WHERE workspace_id = $1 ORDER BY display_name, id"
        );
        let raws: Vec<RawAccount> = sqlx::query_as(&sql)
            .bind(workspace.0)
            .fetch_all(&self.pool)
            .await?;
        raws.into_iter().map(TryInto::try_into).collect()
    }

    /// The account whose current link token is `token`, if any.
    pub async fn account_by_link_token(
        &self,
        token: &str,
    ) -> Result<Option<AccountRow>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM linkedin_accounts WHERE link_token = $1");
        let raw: Option<RawAccount> = sqlx::query_as(&sql)
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        raw.map(TryInto::try_into).transpose()
    }

    /// The account linked to a Unipile account id, if any.
    pub async fn account_by_unipile_id(
        &self,
        unipile_id: &str,
    ) -> Result<Option<AccountRow>, StoreError> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM linkedin_accounts WHERE unipile_account_id = $1"
        );
        let raw: Option<RawAccount> = sqlx::query_as(&sql)
            .bind(unipile_id)
            .fetch_optional(&self.pool)
            .await?;
        raw.map(TryInto::try_into).transpose()
    }

    /// The workspace whose API bearer token is `token`, if any (compared by sha256).
    pub async fn workspace_by_token(&self, token: &str) -> Result<Option<WorkspaceId>, StoreError> {
        let id: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM workspaces WHERE api_token_sha256 = $1")
                .bind(crate::token_sha256(token))
                .fetch_optional(&self.pool)
                .await?;
        Ok(id.map(WorkspaceId))
    }

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
            token: random_token(),
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
    /// Every Unipile account id held by some row, or under a Safe delete intent of the
    /// last 24 h (a session being removed must never be linked to a row).
    pub async fn claimed_unipile_ids(
        &self,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT unipile_account_id FROM linkedin_accounts WHERE unipile_account_id IS NOT NULL \
             UNION SELECT unipile_account_id FROM linkedin_account_audit_log \
             WHERE action = 'unipile.delete' AND unipile_account_id IS NOT NULL AND created_at > now() - interval '24 hours'",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().collect())
    }
}

impl Store {
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
        match crate::truth::mark_reconnect_needed(&mut tx, id, provider_status, audit).await {
            Ok(()) => {}
            Err(StoreError::StatusMoved { .. }) => return Ok(false),
            Err(e) => return Err(e),
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// When the row `live` has just been linked to LinkedIn identity `member` and other rows
/// of its workspace hold the same identity, those rows' campaigns (with their
/// enrollments) move to `live`, and each old row becomes `disconnected` (audited) and
/// lets go of its Unipile account, which is then an inert duplicate session that only
/// an operator's Safe delete may remove. Runs in the caller's transaction. Returns the
/// merged rows.
pub async fn merge_identity_duplicates(
    conn: &mut PgConnection,
    live: AccountId,
    member: &str,
    audit: &AuditContext,
) -> Result<Vec<AccountId>, StoreError> {
    let others: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT o.id, o.status FROM linkedin_accounts o JOIN linkedin_accounts l ON l.id = $1 \
         WHERE o.workspace_id = l.workspace_id AND o.id <> l.id AND o.linkedin_member_id = $2 FOR UPDATE OF o",
    )
    .bind(live.0)
    .bind(member)
    .fetch_all(&mut *conn)
    .await?;
    let mut merged = Vec::new();
    for (old, status) in others {
        let old = AccountId(old);
        sqlx::query("UPDATE campaigns SET account_id = $2 WHERE account_id = $1")
            .bind(old.0)
            .bind(live.0)
            .execute(&mut *conn)
            .await?;
        // One LinkedIn identity, one sending budget: the old row's counts join the live row's.
        sqlx::query(
            "INSERT INTO account_send_counters (account_id, action, day, sent) \
             SELECT $2, action, day, sent FROM account_send_counters WHERE account_id = $1 \
             ON CONFLICT (account_id, action, day) DO UPDATE SET sent = account_send_counters.sent + EXCLUDED.sent",
        )
        .bind(old.0)
        .bind(live.0)
        .execute(&mut *conn)
        .await?;
        let status: AccountStatus = status.parse()?;
        let merge_audit = AuditContext {
            action: "identity.merged".into(),
            reason: Some(format!(
                "same LinkedIn identity as account {live}; campaigns moved there"
            )),
            ..audit.clone()
        };
        if status == AccountStatus::Disconnected {
            insert_audit(conn, old, None, Some(status), None, &merge_audit).await?;
        } else {
            flip_status(
                conn,
                old,
                &[status],
                AccountStatus::Disconnected,
                &merge_audit,
            )
            .await?;
        }
        sqlx::query(
            "UPDATE linkedin_accounts SET unipile_account_id = NULL, link_token = NULL, linkedin_member_id = NULL, \
             updated_at = now() WHERE id = $1",
        )
        .bind(old.0)
        .execute(&mut *conn)
        .await?;
        merged.push(old);
    }
    Ok(merged)
}

impl Store {
    /// Rows of one workspace that hold the same LinkedIn identity (normally merged at
    /// link time; listed by `starter duplicates`): (workspace, member id, row ids).
    pub async fn duplicate_identity_rows(
        &self,
    ) -> Result<Vec<(WorkspaceId, String, Vec<AccountId>)>, StoreError> {
        let rows: Vec<(Uuid, String, Vec<Uuid>)> = sqlx::query_as(
            "SELECT workspace_id, linkedin_member_id, array_agg(id ORDER BY id) FROM linkedin_accounts \
             WHERE linkedin_member_id IS NOT NULL GROUP BY workspace_id, linkedin_member_id HAVING count(*) > 1",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(w, m, ids)| (WorkspaceId(w), m, ids.into_iter().map(AccountId).collect()))
            .collect())
    }
}
