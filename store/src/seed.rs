//! Creating workspaces, accounts and campaigns: the demo seed and test fixtures.
//! Account inserts are audited like every other status change.

use relink_domain::{AccountId, AccountStatus, PauseReason, WorkspaceId};
use serde::Serialize;
use uuid::Uuid;

use crate::{AuditContext, Store, StoreError, insert_audit, random_token, token_sha256};

/// One seeded account, as printed by `starter seed-demo --json`.
#[derive(Debug, Clone, Serialize)]
pub struct SeedAccount {
    /// Row id.
    pub id: AccountId,
    /// Display name.
    pub display_name: String,
    /// Status it was seeded with.
    pub status: AccountStatus,
    /// Linked Unipile account id, if any.
    pub unipile_account_id: Option<String>,
    /// LinkedIn member id, if any.
    pub linkedin_member_id: Option<String>,
    /// Campaign ids of this account.
    pub campaigns: Vec<Uuid>,
}

/// What `seed_demo` created: the workspace, its API token (shown once) and accounts.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSeed {
    /// Workspace id.
    pub workspace_id: WorkspaceId,
    /// Bearer token for the web API (only its sha256 is stored).
    pub api_token: String,
    /// Seeded accounts.
    pub accounts: Vec<SeedAccount>,
}

impl Store {
    /// Creates a workspace with a fresh API token; returns its id and the token.
    pub async fn create_workspace(&self, name: &str) -> Result<(WorkspaceId, String), StoreError> {
        let token = random_token();
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO workspaces (name, api_token_sha256) VALUES ($1, $2) RETURNING id",
        )
        .bind(name)
        .bind(token_sha256(&token))
        .fetch_one(&self.pool)
        .await?;
        Ok((WorkspaceId(id), token))
    }

    /// Creates an account row (audited as `account.created` by `actor`). A `connected`
    /// row gets provider status `OK` and `first_connected_at` now.
    pub async fn create_account(
        &self,
        workspace: WorkspaceId,
        display_name: &str,
        status: AccountStatus,
        unipile_account_id: Option<&str>,
        linkedin_member_id: Option<&str>,
        actor: &str,
    ) -> Result<AccountId, StoreError> {
        let mut tx = self.pool.begin().await?;
        let connected = status == AccountStatus::Connected;
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO linkedin_accounts (workspace_id, display_name, status, unipile_account_id, \
             linkedin_member_id, provider_status, provider_status_since, first_connected_at, connecting_since) \
             VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN 'OK' END, CASE WHEN $6 THEN now() END, \
                     CASE WHEN $6 THEN now() END, CASE WHEN $3 = 'connecting' THEN now() END) RETURNING id",
        )
        .bind(workspace.0)
        .bind(display_name)
        .bind(status.as_str())
        .bind(unipile_account_id)
        .bind(linkedin_member_id)
        .bind(connected)
        .fetch_one(&mut *tx)
        .await?;
        let audit = AuditContext {
            action: "account.created".into(),
            actor: actor.into(),
            reason: Some("seed".into()),
            ..Default::default()
        };
        insert_audit(
            &mut tx,
            AccountId(id),
            unipile_account_id,
            None,
            Some(status),
            &audit,
        )
        .await?;
        tx.commit().await?;
        Ok(AccountId(id))
    }

    /// Creates a campaign for `account` with `enrollments` prospects at step 0; paused
    /// with `pauses` when any are given (their enrollments soft-paused).
    pub async fn create_campaign(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
        name: &str,
        enrollments: usize,
        pauses: &[PauseReason],
    ) -> Result<Uuid, StoreError> {
        let mut tx = self.pool.begin().await?;
        let status = if pauses.is_empty() {
            "active"
        } else {
            "paused"
        };
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO campaigns (workspace_id, account_id, name, status) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(workspace.0)
        .bind(account.0)
        .bind(name)
        .bind(status)
        .fetch_one(&mut *tx)
        .await?;
        for reason in pauses {
            sqlx::query("INSERT INTO campaign_pauses (campaign_id, reason) VALUES ($1, $2)")
                .bind(id)
                .bind(reason.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let state = if pauses.is_empty() {
            "active"
        } else {
            "soft_paused"
        };
        sqlx::query(
            "INSERT INTO campaign_enrollments (campaign_id, prospect_ref, current_step, state) \
             SELECT $1, 'prospect-' || g, g % 3, $3 FROM generate_series(1, $2) g",
        )
        .bind(id)
        .bind(enrollments as i32)
        .bind(state)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }
}

/// A fresh id in the shape Unipile uses for accounts: 22 characters of `[A-Za-z0-9]`.
pub fn fake_unipile_id() -> String {
    use rand::{Rng, distr::Alphanumeric};
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(22)
        .map(char::from)
        .collect()
}

/// The demo workspace: two connected accounts (fresh Unipile ids on every run, so the
/// demo can be replayed on the same database), each with campaigns (one of Sam's
/// already paused `manual`), and one never-connected seat.
pub async fn seed_demo(store: &Store) -> Result<DemoSeed, StoreError> {
    let (workspace_id, api_token) = store.create_workspace("Demo workspace").await?;
    let (alex_id, sam_id) = (fake_unipile_id(), fake_unipile_id());
    let (alex_member, sam_member) = (
        format!("ACoAA{}", fake_unipile_id()),
        format!("ACoAA{}", fake_unipile_id()),
    );
    /// Display name, status, Unipile account id, member id, campaigns with their pauses.
    type Seat<'a> = (
        &'a str,
        AccountStatus,
        Option<&'a str>,
        Option<&'a str>,
        &'a [(&'a str, &'a [PauseReason])],
    );
    let specs: [Seat; 3] = [
        (
            "Alex Example",
            AccountStatus::Connected,
            Some(alex_id.as_str()),
            Some(alex_member.as_str()),
            &[("Founders outreach", &[])],
        ),
        (
            "Sam Sample",
            AccountStatus::Connected,
            Some(sam_id.as_str()),
            Some(sam_member.as_str()),
            &[
                ("Agency partners", &[]),
                ("Webinar follow-up", &[PauseReason::Manual]),
            ],
        ),
        (
            "Robin Newseat",
            AccountStatus::Disconnected,
            None,
            None,
            &[("Spring launch", &[])],
        ),
    ];
    let mut accounts = Vec::new();
    for (name, status, unipile, member, campaigns) in specs {
        let id = store
            .create_account(workspace_id, name, status, unipile, member, "seed-demo")
            .await?;
        let mut ids = Vec::new();
        for (cname, pauses) in campaigns {
            ids.push(
                store
                    .create_campaign(workspace_id, id, cname, 5, pauses)
                    .await?,
            );
        }
        accounts.push(SeedAccount {
            id,
            display_name: name.into(),
            status,
            unipile_account_id: unipile.map(Into::into),
            linkedin_member_id: member.map(Into::into),
            campaigns: ids,
        });
    }
    // Each seat's owner gets the reconnect email (`sam@example.com`, …).
    sqlx::query(
        "UPDATE linkedin_accounts SET email = lower(split_part(display_name, ' ', 1)) || '@example.com' \
         WHERE workspace_id = $1",
    )
    .bind(workspace_id.0)
    .execute(store.pool())
    .await?;
    Ok(DemoSeed {
        workspace_id,
        api_token,
        accounts,
    })
}
