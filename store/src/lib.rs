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
mod linking;
mod observability;
mod seed;
mod sending;
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
pub use observability::ScheduleAge;
pub use seed::{DemoSeed, SeedAccount, fake_unipile_id, seed_demo};
pub use sending::*;
pub use truth::{Applied, LinkedRow, relink};

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

    /// Applies every pending migration; safe to call on every start.
    ///
    /// Errors: [`StoreError::Migrate`] when a migration fails or the recorded
    /// history does not match the embedded files.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
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
