//! relink's shared plumbing: the settings every binary reads (clap arguments backed by
//! environment variables), the connections they open (Temporal, PostgreSQL, Unipile),
//! telemetry set-up and the shutdown signal. The `worker`, `web` and `starter` binaries
//! and the test harness all start through these functions, so that a change to start-up
//! is exercised by the tests.

mod connect;
mod observability;
mod settings;
mod telemetry;

pub use connect::{connect_temporal, ensure_search_attributes, shutdown_signal};
pub use observability::{
    Readiness, database_ready, metrics_handle, render_metrics, temporal_ready,
};
pub use settings::{
    AccountLinkSettings, AlertSettings, DatabaseSettings, SmtpSettings, TemporalSettings,
    UnipileSettings, WebhookSecretSettings,
};
pub use telemetry::{init_test_tracing, init_tracing};

/// Re-exported so that callers build settings without naming the crate.
pub use secrecy::{ExposeSecret, SecretString};
