//! relink's web tier: the JSON API, the accounts dashboard and Unipile's callbacks
//! (DESIGN.md, "Web tier"). It starts, updates and signals workflows; it never changes
//! an account's status itself except through the store's audited helpers.

mod dashboard;
mod error;
mod routes;
mod webhooks;

pub use error::AppError;

use axum::{Router, extract::DefaultBodyLimit};
use relink_store::Store;
use std::time::Duration;
use temporalio_client::Client;

/// Largest request body accepted anywhere (bytes). Unipile's callbacks and our JSON
/// inputs are a few hundred bytes; anything bigger is refused with 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Application database.
    pub store: Store,
    /// Temporal client.
    pub temporal: Client,
    /// Task queue for workflows started here.
    pub task_queue: String,
    /// Hosted-auth link reuse window (DESIGN.md: 90 s).
    pub link_reuse_window: Duration,
    /// Hosted-auth link lifetime.
    pub link_ttl: Duration,
    /// The `Unipile-Auth` secret of the account-status webhook.
    pub webhook_secret: String,
    /// How long a sync blip may last before campaigns pause.
    pub blip_tolerance: Duration,
}

/// Builds the router over `state`.
pub fn app(state: AppState) -> Router {
    routes::routes()
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
