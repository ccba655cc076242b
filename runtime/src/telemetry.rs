//! Telemetry set-up: one `tracing` subscriber per process.

/// The filter when `RUST_LOG` is unset: relink at `info`, the SDK core quieter.
const DEFAULT_FILTER: &str = "info,temporalio_sdk_core=warn";

/// Installs the `tracing` subscriber of a binary: formatted lines on stderr, filtered by
/// `RUST_LOG` (default `info,temporalio_sdk_core=warn`). A second call does nothing.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| DEFAULT_FILTER.into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Installs the subscriber of a test process: output captured per test (libtest's
/// writer), `RUST_LOG` or `warn,relink=info`. A second call does nothing.
pub fn init_test_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,relink=info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
