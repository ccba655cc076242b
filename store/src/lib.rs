//! relink's PostgreSQL store: the pool, the embedded migrations, and one module per
//! aggregate — `accounts` (rows and identities), `audit` (the one audited flip),
//! `linking` (the Reconnect flow's writes), `truth` (writes a read of Unipile
//! justifies, and the one relink path), `campaigns` (pauses and resumes), `sending`
//! (the send gate and failure window), `alerts`, `subscriptions`, `deletes` (the Safe
//! delete flag and intents), `emails` (the reconnect-email outbox), `events` (outbound
//! events and webhook endpoints) and `seed` (demo and test data).
//!
//! Every status change of a `linkedin_accounts` row goes through [`flip_status`], which
//! writes the audit row in the caller's transaction; the database's deferred
//! audit-pairing trigger rejects, at commit, any status change that skipped it.

mod accounts;
mod alerts;
mod audit;
mod campaigns;
mod deletes;
mod emails;
mod error;
mod events;
mod inbox;
mod linking;
mod observability;
mod seed;
mod sending;
mod staging;
mod subscriptions;
mod truth;

pub use accounts::*;
pub use alerts::*;
pub use audit::*;
pub use campaigns::*;
pub use deletes::*;
pub use emails::*;
pub use error::StoreError;
pub use events::*;
pub use inbox::{INBOX_LEASE_SECS, InboxDepth, InboxEntry, inbox_retry_secs};
pub use observability::ScheduleAge;
pub use seed::{DemoSeed, SeedAccount, fake_unipile_id, seed_demo};
pub use sending::*;
pub use staging::{PlanCounts, Planned, ReconcileStage, StagedDecision};
pub use truth::{Applied, relink};

use sqlx::{PgPool, postgres::PgPoolOptions};
use std::time::Duration;

/// The application database: a cheap-to-clone handle over a PostgreSQL pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
}

/// The embedded migrations in `store/migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Connects to `database_url` (a `postgres://` URL) with a pool of at most
    /// `max_connections`; waits at most 10 s for a connection.
    ///
    /// Errors: [`StoreError::Db`] when the server cannot be reached or refuses us.
    pub async fn connect(database_url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(database_url)
            .await?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The underlying pool (for tests and ad-hoc queries).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How many of the embedded migrations the database has not applied (every one, on
    /// a database without the ledger). Needs only SELECT on `_sqlx_migrations`, which
    /// [`APP_ROLE`] has.
    ///
    /// Errors: [`StoreError::Db`] (other than a missing ledger).
    pub async fn pending_migrations(&self) -> Result<usize, StoreError> {
        let applied: Vec<i64> =
            match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
            {
                Ok(v) => v,
                // 42P01: no ledger yet, nothing applied.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
                Err(e) => return Err(e.into()),
            };
        Ok(MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
            .count())
    }

    /// Applies every pending migration; safe to call on every start.
    ///
    /// Errors: [`StoreError::Migrate`] when a migration fails or the recorded
    /// history does not match the embedded files.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }
}

/// The role the binaries serve with, created by migration 0010: no superuser, no
/// replication, no row-level-security bypass, owner of nothing; it may not update or
/// delete audit rows nor delete account rows (issue 13, "least privilege").
pub const APP_ROLE: &str = "relink_app";

impl Store {
    /// Gives [`APP_ROLE`] its login with `password`. Run as the schema owner (a role
    /// with CREATEROLE, or a superuser) after [`Store::migrate`]. The server is sent
    /// only the password's SCRAM-SHA-256 verifier (salted and iterated, computed here by
    /// `postgres-protocol`), as a bind parameter, so the password itself is in no
    /// statement, parameter or error context the server or sqlx may log. Another
    /// process changing the role at the same time (PostgreSQL's "tuple concurrently
    /// updated") is waited out, with jitter, for up to 10 s.
    ///
    /// Errors: [`StoreError::Db`] (e.g. the owner may not alter roles).
    pub async fn grant_app_login(&self, password: &str) -> Result<(), StoreError> {
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mut tx = self.pool.begin().await?;
            sqlx::query("SELECT set_config('relink.app_password', $1, true)")
                .bind(&verifier)
                .execute(&mut *tx)
                .await?;
            let altered = sqlx::query(
                "DO $$ BEGIN EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', 'relink_app', \
                 current_setting('relink.app_password')); END $$",
            )
            .execute(&mut *tx)
            .await;
            match altered {
                Ok(_) => {
                    tx.commit().await?;
                    return Ok(());
                }
                Err(sqlx::Error::Database(e))
                    if e.code().as_deref() == Some("XX000")
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20 + rand::random::<u64>() % 200))
                        .await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The connection's role and whether it holds a right the application must not
    /// have: superuser, replication or row-level-security bypass.
    pub async fn current_role_privileged(&self) -> Result<(String, bool), StoreError> {
        Ok(sqlx::query_as(
            "SELECT rolname::text, rolsuper OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&self.pool)
        .await?)
    }
}

/// Whether `e` is the server refusing a login: a wrong password (`28P01`) or a role
/// that may not log in (`28000`, which a `pg_hba.conf` rejection also is).
pub fn login_refused(e: &StoreError) -> bool {
    match e {
        StoreError::Db(sqlx::Error::Database(d)) => {
            matches!(d.code().as_deref(), Some("28P01" | "28000"))
        }
        _ => false,
    }
}

impl Store {
    /// Whether [`APP_ROLE`] may not log in yet, or `refused` was a wrong password: the
    /// cases [`Store::grant_app_login`] is for (not a `pg_hba.conf` rejection, which a
    /// password does not cure).
    pub async fn app_login_needs_grant(&self, refused: &StoreError) -> Result<bool, StoreError> {
        if let StoreError::Db(sqlx::Error::Database(d)) = refused
            && d.code().as_deref() == Some("28P01")
        {
            return Ok(true);
        }
        let can_login: Option<bool> =
            sqlx::query_scalar("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1")
                .bind(APP_ROLE)
                .fetch_optional(&self.pool)
                .await?;
        Ok(can_login == Some(false))
    }
}

/// sha256 (lower-case hex) of a workspace API token, as stored in
/// `workspaces.api_token_sha256`.
pub fn token_sha256(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// A fresh unguessable token: 32 random bytes as 64 hex characters. Used for link
/// tokens (the hosted-auth `name` and the notify_url path secret) and API tokens.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}
