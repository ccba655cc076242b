//! Connections every binary opens, and the signal that stops them.

use anyhow::Context;
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions};
use url::Url;

/// Connects a Temporal client to `address` (`host:port` or `http(s)://host:port`) in
/// `namespace`.
///
/// Errors: a malformed address (naming `TEMPORAL_ADDRESS`) or an unreachable server.
pub async fn connect_temporal(address: &str, namespace: &str) -> anyhow::Result<Client> {
    let with_scheme = if address.contains("://") {
        address.to_string()
    } else {
        format!("http://{address}")
    };
    let url: Url = with_scheme
        .parse()
        .with_context(|| format!("TEMPORAL_ADDRESS is not a valid address: {address:?}"))?;
    let connection = Connection::connect(ConnectionOptions::new(url).build())
        .await
        .with_context(|| format!("cannot reach the Temporal server at {address}"))?;
    Ok(Client::new(
        connection,
        ClientOptions::new(namespace.to_string()).build(),
    )?)
}

/// Resolves on Ctrl-C or SIGTERM (the signal a deploy sends).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
