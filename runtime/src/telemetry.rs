//! Telemetry set-up: one `tracing` subscriber per process.

/// The filter when `RUST_LOG` is unset: relink at `info`, the SDK core quieter.
const DEFAULT_FILTER: &str = "info,temporalio_sdk_core=warn";

/// Installs the `tracing` subscriber of a binary on stderr, filtered by `RUST_LOG`
/// (default `info,temporalio_sdk_core=warn`): text lines, or one JSON object per line
/// (with the current spans, e.g. the request's `request_id`) when `LOG_FORMAT=json`. A
/// second call does nothing.
///
/// Errors: `LOG_FORMAT` set to anything but `text` or `json`.
pub fn init_tracing() -> anyhow::Result<()> {
    let format = std::env::var("LOG_FORMAT").unwrap_or_default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| DEFAULT_FILTER.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.trim() {
        "" | "text" => {
            let _ = builder.try_init();
        }
        "json" => {
            let _ = builder
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .try_init();
        }
        other => anyhow::bail!(
            "LOG_FORMAT must be `text` or `json`, got {:?}",
            other.chars().take(32).collect::<String>()
        ),
    }
    Ok(())
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
