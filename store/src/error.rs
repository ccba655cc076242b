//! The store's error type.

use relink_domain::AccountStatus;

/// Errors from the store. Each variant says what the caller should do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row (or not in the caller's workspace): answer 404 / stop, do not retry.
    #[error("not found: {0}")]
    NotFound(String),
    /// Compare-and-set lost: the row's status is no longer the one the caller read.
    /// Re-read and decide again; never overwrite.
    #[error("status moved: expected {expected:?}, found {actual}")]
    StatusMoved {
        /// Statuses the caller expected.
        expected: Vec<AccountStatus>,
        /// The status the row has now.
        actual: AccountStatus,
    },
    /// The request conflicts with the row's state (e.g. already connected): answer 409.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A value in the database does not parse: data corruption, alert and stop.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database failed or is unreachable: retry later (activities retry).
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed: a startup error.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// True when retrying the same call later may succeed (database trouble). A
    /// constraint, data or trigger violation (SQLSTATE classes 22, 23, P0) is permanent:
    /// the same statement would fail again.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(db)) => {
                let code = db.code().unwrap_or_default();
                !(code.starts_with("22") || code.starts_with("23") || code.starts_with("P0"))
            }
            StoreError::Db(_) => true,
            _ => false,
        }
    }
}

impl From<relink_domain::ParseError> for StoreError {
    fn from(e: relink_domain::ParseError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
