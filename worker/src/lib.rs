//! Composition of the relink worker: connects to Temporal, PostgreSQL and Unipile, and
//! runs the workflows and activities on one task queue. The binary and the tests share
//! this code.

use anyhow::Context;
use relink_activities::{Activities, DeleteActivities, EnvReader, HealingActivities};
use relink_store::Store;
use relink_unipile::{ApiKey, UnipileClient};
use relink_workflows::{
    AccountReconcilerWorkflow, AccountStatusSyncWorkflow, CampaignSweeperWorkflow,
    OrphanWatcherWorkflow, ReconnectWorkflow, SafeDeleteWorkflow, SubscriptionEndWorkflow,
};
use std::{future::Future, time::Duration};
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};
use url::Url;

/// Settings shared by every binary that talks to Temporal.
#[derive(Debug, Clone, clap::Args)]
pub struct TemporalSettings {
    /// Temporal frontend, `host:port` or a URL.
    #[arg(
        long,
        env = "TEMPORAL_ADDRESS",
        value_name = "TEMPORAL_ADDRESS",
        default_value = "127.0.0.1:7233"
    )]
    pub temporal_address: String,
    /// Temporal namespace.
    #[arg(
        long,
        env = "TEMPORAL_NAMESPACE",
        value_name = "TEMPORAL_NAMESPACE",
        default_value = "default"
    )]
    pub temporal_namespace: String,
    /// Task queue of relink's workflows and activities.
    #[arg(long, env = "TEMPORAL_TASK_QUEUE", value_name = "TEMPORAL_TASK_QUEUE", default_value = relink_domain::DEFAULT_TASK_QUEUE)]
    pub task_queue: String,
}

/// Settings of the Unipile client.
#[derive(Debug, Clone, clap::Args)]
pub struct UnipileSettings {
    /// Unipile base URL (DSN), e.g. `https://api8.unipile.com:13851`.
    #[arg(long, env = "UNIPILE_DSN", value_name = "UNIPILE_DSN")]
    pub unipile_dsn: Url,
    /// Unipile API key (sent as `X-API-KEY`).
    #[arg(
        long,
        env = "UNIPILE_API_KEY",
        value_name = "UNIPILE_API_KEY",
        hide_env_values = true
    )]
    pub unipile_api_key: String,
    /// Per-request timeout in seconds.
    #[arg(
        long,
        env = "UNIPILE_TIMEOUT_SECS",
        value_name = "UNIPILE_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub unipile_timeout_secs: u64,
}

impl UnipileSettings {
    /// Builds the client. Errors name the variable at fault.
    pub fn client(&self) -> anyhow::Result<UnipileClient> {
        let key = ApiKey::new(self.unipile_api_key.clone())
            .map_err(|e| anyhow::anyhow!("UNIPILE_API_KEY: {e}"))?;
        Ok(UnipileClient::new(
            self.unipile_dsn.clone(),
            key,
            Duration::from_secs(self.unipile_timeout_secs.max(1)),
        )?)
    }
}

/// The account-status webhook's shared secret (`WEBHOOK_SECRET`), sent by Unipile in
/// `Unipile-Auth`. Never printed by `Debug`.
#[derive(Clone, clap::Args)]
pub struct WebhookSecretSettings {
    /// Shared secret Unipile sends in `Unipile-Auth` with every account-status webhook
    /// (at least 16 characters).
    #[arg(
        long,
        env = "WEBHOOK_SECRET",
        value_name = "WEBHOOK_SECRET",
        hide_env_values = true
    )]
    webhook_secret: String,
}

impl std::fmt::Debug for WebhookSecretSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecretSettings(****)")
    }
}

impl WebhookSecretSettings {
    /// The secret. Errors (naming `WEBHOOK_SECRET`) when it is shorter than 16 characters.
    pub fn secret(&self) -> anyhow::Result<&str> {
        if self.webhook_secret.len() < 16 {
            anyhow::bail!("WEBHOOK_SECRET must be at least 16 characters");
        }
        Ok(&self.webhook_secret)
    }
}

/// Connects a Temporal client to `address` (`host:port` or `http(s)://host:port`).
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

/// Every activity implementation the worker registers.
pub struct WorkerActivities {
    /// Reconnect-flow activities.
    pub reconnect: Activities,
    /// Healing-loop activities.
    pub healing: HealingActivities,
    /// Safe delete activities.
    pub deletes: DeleteActivities,
}

/// The worker's options: every relink workflow and activity on `task_queue`.
pub fn worker_options(
    task_queue: &str,
    activities: WorkerActivities,
) -> anyhow::Result<WorkerOptions> {
    Ok(WorkerOptions::new(task_queue.to_string())
        .register_workflow::<ReconnectWorkflow>()?
        .register_workflow::<OrphanWatcherWorkflow>()?
        .register_workflow::<CampaignSweeperWorkflow>()?
        .register_workflow::<AccountReconcilerWorkflow>()?
        .register_workflow::<AccountStatusSyncWorkflow>()?
        .register_workflow::<SafeDeleteWorkflow>()?
        .register_workflow::<SubscriptionEndWorkflow>()?
        .register_activities(activities.reconnect)
        .register_activities(activities.healing)
        .register_activities(activities.deletes)
        .build())
}

/// Builds the activities from a database URL, Unipile settings, the public base URL and
/// where the delete kill switches are read from (`relink_activities::process_env()`).
pub async fn build_activities(
    database_url: &str,
    unipile: &UnipileSettings,
    public_base_url: Url,
    env: EnvReader,
) -> anyhow::Result<WorkerActivities> {
    let store = Store::connect(database_url, 10)
        .await
        .context("DATABASE_URL: cannot connect")?;
    let client = unipile.client()?;
    Ok(WorkerActivities {
        reconnect: Activities::new(store.clone(), client.clone(), public_base_url),
        healing: HealingActivities::new(store.clone(), client.clone()),
        deletes: DeleteActivities::new(store, client, env),
    })
}

/// Registers (idempotently, matching on `request_url`) Unipile's account-status webhook
/// pointing at `<public_base_url>/webhooks/unipile/account-status` with the
/// `Unipile-Auth` header carrying `secret`. Returns the webhook id.
pub async fn register_account_status_webhook(
    unipile: &UnipileClient,
    public_base_url: &Url,
    secret: &str,
) -> anyhow::Result<String> {
    let url = format!(
        "{}/webhooks/unipile/account-status",
        public_base_url.as_str().trim_end_matches('/')
    );
    let (id, created) = unipile
        .ensure_account_status_webhook(&url, secret)
        .await
        .context("registering the account-status webhook at Unipile")?;
    tracing::info!(webhook_id = %id, created, %url, "account-status webhook registered");
    Ok(id)
}

/// Runs a worker until `shutdown` resolves, then shuts it down gracefully (in-flight
/// activities finish; workflow state is in Temporal, so nothing is lost either way).
/// Must run on a Tokio runtime; the future is not `Send`.
pub async fn run_worker(
    client: Client,
    task_queue: &str,
    activities: WorkerActivities,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let runtime = Runtime::from_current_tokio(Default::default())?;
    let mut worker = Worker::new(&runtime, client, worker_options(task_queue, activities)?)?;
    let stop = worker.shutdown_handle();
    tokio::spawn(async move {
        shutdown.await;
        stop();
    });
    tracing::info!(task_queue, "worker polling");
    worker.run().await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
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

/// Installs the `tracing` subscriber for a binary (`RUST_LOG`, default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,temporalio_sdk_core=warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
