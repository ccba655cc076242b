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

/// Makes sure the namespace of `client` has the search attributes relink starts its
/// workflows with (`relink_domain::SEARCH_ATTRIBUTES`, all Keyword), so that a worker or
/// web tier started against a bare `temporal server start-dev` works without `./dev`:
/// lists them, adds the missing ones over the operator service, then waits (up to 30 s,
/// every 250 ms) until the server lists them, so that the first start that sets them is
/// accepted. Idempotent; concurrent callers are fine (an "already exists" is success).
/// Returns the names it added (empty when all were there).
///
/// Errors: the server refused the listing or the addition (e.g. a Temporal Cloud
/// namespace, where search attributes are added in its console or with `tcld`), or
/// they were still not listed after 30 s.
pub async fn ensure_search_attributes(client: &Client) -> anyhow::Result<Vec<String>> {
    use temporalio_client::NamespacedClient;
    use temporalio_common::protos::temporal::api::{
        enums::v1::IndexedValueType,
        operatorservice::v1::{AddSearchAttributesRequest, ListSearchAttributesRequest},
    };
    let namespace = client.namespace();
    let list = || async {
        let listed = client
            .connection()
            .operator_service()
            .list_search_attributes(temporalio_client::tonic::Request::new(
                ListSearchAttributesRequest {
                    namespace: namespace.clone(),
                },
            ))
            .await
            .with_context(|| format!("listing the search attributes of namespace {namespace}"))?
            .into_inner();
        anyhow::Ok(
            relink_domain::SEARCH_ATTRIBUTES
                .iter()
                .filter(|name| !listed.custom_attributes.contains_key(**name))
                .map(|name| name.to_string())
                .collect::<Vec<String>>(),
        )
    };
    let missing = list().await?;
    if missing.is_empty() {
        return Ok(missing);
    }
    let added = client
        .connection()
        .operator_service()
        .add_search_attributes(temporalio_client::tonic::Request::new(
            AddSearchAttributesRequest {
                search_attributes: missing
                    .iter()
                    .map(|n| (n.clone(), IndexedValueType::Keyword as i32))
                    .collect(),
                namespace: namespace.clone(),
            },
        ))
        .await;
    match added {
        Ok(_) => {}
        Err(s) if s.code() == temporalio_client::tonic::Code::AlreadyExists => {}
        Err(e) => {
            return Err(e).with_context(|| {
                format!("adding the search attributes {missing:?} to namespace {namespace}")
            });
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let still = list().await?;
        if still.is_empty() {
            tracing::info!(?missing, %namespace, "search attributes added");
            return Ok(missing);
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!(
                "namespace {namespace} still does not list the search attributes {still:?} 30 s after adding them"
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
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
