//! `linkedin_accounts`: the parsed row, reads by id, workspace, link token and Unipile
//! id, and LinkedIn identities held twice (merged at link time, listed for operators).

use chrono::{DateTime, Utc};
use relink_domain::{
    AccountId, AccountStatus, LinkRef, LinkToken, PillInput, SourceStatus, UnipileAccountId,
    WorkspaceId,
};
use serde::Serialize;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::{AuditContext, Store, StoreError, flip_status, insert_audit};

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
    pub unipile_account_id: Option<UnipileAccountId>,
    /// Current hosted-auth link token (a secret: never put in workflow history).
    pub link_token: Option<LinkToken>,
    /// Reference of the current link (what workflow history carries instead of the
    /// token); `None` for a link issued before references existed.
    pub link_ref: Option<LinkRef>,
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

/// Whether a row whose current link has reference `row_ref` and token `row_token`
/// holds `link`: the reference, or, for a run recorded before references existed, the
/// token. The one place this rule lives (the store's writes lock the row, read both
/// columns and ask here).
pub(crate) fn holds_link(row_ref: Option<&str>, row_token: Option<&str>, link: &str) -> bool {
    row_ref == Some(link) || row_token == Some(link)
}

impl AccountRow {
    /// Whether the row's current link is `link`: its reference, or, for a run recorded
    /// before references existed, its token.
    pub fn holds_link(&self, link: &str) -> bool {
        holds_link(self.link_ref.as_deref(), self.link_token.as_deref(), link)
    }

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
    link_ref: Option<String>,
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
            unipile_account_id: r.unipile_account_id.map(Into::into),
            link_token: r.link_token.map(Into::into),
            link_ref: r.link_ref.map(Into::into),
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
    provider_status_since, unipile_account_id, link_token, link_ref, linkedin_member_id, connecting_since, \
    first_connected_at, last_activity_at, status_changed_at, version";

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

    /// Which of the Unipile account ids `ids` are claimed: held by some row, or under a
    /// Safe delete intent of the last 24 h (a session being removed must never be linked
    /// to a row). One query, however large the fleet.
    pub async fn claimed_among(
        &self,
        ids: &[&str],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT unipile_account_id FROM linkedin_accounts WHERE unipile_account_id = ANY($1) \
             UNION SELECT unipile_account_id FROM linkedin_account_audit_log \
             WHERE action = 'unipile.delete' AND unipile_account_id = ANY($1) AND created_at > now() - interval '24 hours'",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().collect())
    }

    /// Rows of one workspace that hold the same LinkedIn identity (normally merged at
    /// link time; listed by `starter duplicates`, marked on the accounts page):
    /// (workspace, member id, row ids), of `workspace` only or of every workspace.
    pub async fn duplicate_identity_rows(
        &self,
        workspace: Option<WorkspaceId>,
    ) -> Result<Vec<(WorkspaceId, String, Vec<AccountId>)>, StoreError> {
        let rows: Vec<(Uuid, String, Vec<Uuid>)> = sqlx::query_as(
            "SELECT workspace_id, linkedin_member_id, array_agg(id ORDER BY id) FROM linkedin_accounts \
             WHERE linkedin_member_id IS NOT NULL AND ($1::uuid IS NULL OR workspace_id = $1) \
             GROUP BY workspace_id, linkedin_member_id HAVING count(*) > 1",
        )
        .bind(workspace.map(|w| w.0))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(w, m, ids)| (WorkspaceId(w), m, ids.into_iter().map(AccountId).collect()))
            .collect())
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
            "UPDATE linkedin_accounts SET unipile_account_id = NULL, link_token = NULL, link_ref = NULL, linkedin_member_id = NULL, \
             updated_at = now() WHERE id = $1",
        )
        .bind(old.0)
        .execute(&mut *conn)
        .await?;
        merged.push(old);
    }
    Ok(merged)
}

/// What the user's Disconnect of one card did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserDisconnect {
    /// The live card of the same LinkedIn identity its campaigns moved to, if any.
    pub moved_to: Option<AccountId>,
}

impl Store {
    /// The user's Disconnect of account `id` of workspace `ws` (the card's ⋮ menu), in one
    /// transaction. When another card of the workspace holds the same LinkedIn identity
    /// and is connected (a duplicate), this one merges into it: its campaigns move there
    /// (their disconnect pause cleared) and it becomes `disconnected` (audited,
    /// [`merge_identity_duplicates`]). Otherwise it becomes `disconnected` (audited) with
    /// its campaigns paused for the disconnect. Either way the row lets go of its Unipile
    /// session, which is never deleted here: an unreferenced session is an operator's
    /// Safe delete. Errors: [`StoreError::NotFound`] (another workspace's or unknown),
    /// [`StoreError::Conflict`] when it is already disconnected.
    pub async fn disconnect_by_user(
        &self,
        ws: WorkspaceId,
        id: AccountId,
        actor: &str,
    ) -> Result<UserDisconnect, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT status, linkedin_member_id FROM linkedin_accounts WHERE id = $1 AND workspace_id = $2 FOR UPDATE",
        )
        .bind(id.0)
        .bind(ws.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((status, member)) = row else {
            return Err(StoreError::NotFound(format!("account {id}")));
        };
        let status: AccountStatus = status.parse()?;
        if status == AccountStatus::Disconnected {
            return Err(StoreError::Conflict(
                "the account is already disconnected".into(),
            ));
        }
        let audit = AuditContext {
            action: "account.disconnected_by_user".into(),
            actor: actor.into(),
            reason: Some("Disconnect on the accounts page".into()),
            ..Default::default()
        };
        let live: Option<Uuid> = match &member {
            Some(m) => {
                sqlx::query_scalar(
                    "SELECT id FROM linkedin_accounts WHERE workspace_id = $1 AND id <> $2 \
                     AND linkedin_member_id = $3 AND status = 'connected' \
                     ORDER BY first_connected_at DESC NULLS LAST LIMIT 1 FOR UPDATE",
                )
                .bind(ws.0)
                .bind(id.0)
                .bind(m)
                .fetch_optional(&mut *tx)
                .await?
            }
            None => None,
        };
        let moved_to = match (live, member) {
            (Some(live), Some(member)) => {
                let live = AccountId(live);
                merge_identity_duplicates(&mut tx, live, &member, &audit).await?;
                crate::campaigns::resume_disconnected_campaigns(&mut tx, &[live]).await?;
                Some(live)
            }
            _ => {
                crate::campaigns::pause_for_disconnect(&mut tx, id, "disconnected by the user")
                    .await?;
                flip_status(&mut tx, id, &[status], AccountStatus::Disconnected, &audit).await?;
                sqlx::query(
                    "UPDATE linkedin_accounts SET unipile_account_id = NULL, link_token = NULL, link_ref = NULL, \
                     link_url = NULL, link_issued_at = NULL, link_expires_at = NULL, updated_at = now() \
                     WHERE id = $1",
                )
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
                None
            }
        };
        crate::emails::withdraw_pending(&mut tx, id).await?;
        tx.commit().await?;
        tracing::info!(account_id = %id, moved_to = ?moved_to, "account disconnected by the user");
        Ok(UserDisconnect { moved_to })
    }
}
