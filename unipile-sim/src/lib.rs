//! `unipile-sim`: a local stand-in for the Unipile REST API v1 subset relink uses,
//! answering with the documented shapes and statuses (`../shared/unipile-api.md`,
//! checklist in §12), plus the `/_sim/` control API of DESIGN.md for tests and the demo.
//!
//! Deliveries (the hosted-auth notify callback and account-status webhooks) go out the
//! way Unipile sends them: a JSON body with no JSON content type (unless a registered
//! header adds one), retried up to five times when the answer is not exactly 200.

mod api;
mod control;
mod cursor;
mod deliver;
mod state;

use axum::Router;
use std::{sync::Arc, time::Duration};
use tokio::net::TcpListener;

pub use state::{Fault, LoggedRequest};

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The `X-API-KEY` the API routes accept.
    pub api_key: String,
    /// Base URL the simulator is reachable at (used in hosted-auth link urls).
    pub public_base_url: String,
    /// Delay before the first delivery retry; doubles each retry (Unipile: "increasing
    /// delay"). Tests shorten it.
    pub retry_base_delay: Duration,
}

/// Builds the simulator's router (API subset + `/_sim/` control API + hosted pages).
pub fn router(config: SimConfig) -> Router {
    let shared = Arc::new(state::Shared::new(config));
    Router::new()
        .merge(api::routes())
        .merge(control::routes())
        .with_state(shared)
}

/// Serves the simulator on `listener` until the future is dropped.
///
/// Errors: the I/O error that stopped the server.
pub async fn serve(listener: TcpListener, config: SimConfig) -> std::io::Result<()> {
    axum::serve(listener, router(config)).await
}
