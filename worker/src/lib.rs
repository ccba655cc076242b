//! The relink worker as a library: [`WorkerSettings`] (clap arguments backed by
//! environment variables) and [`build`], which connects to PostgreSQL, Unipile and
//! Temporal, registers Unipile's account-status webhook and returns a [`RelinkWorker`]
//! polling one task queue with every relink workflow and activity. The `worker` binary
//! and the test harness both start the worker through [`build`].

use anyhow::Context;
use relink_activities::{
    Activities, AlertActivities, DeleteActivities, EmailActivities, EnvReader, EventActivities,
    HealingActivities, Mailer, SubscriptionActivities,
};
use relink_runtime::{
    AccountLinkSettings, AlertSettings, DatabaseSettings, ExposeSecret, SmtpSettings,
    TemporalSettings, UnipileSettings, WebhookSecretSettings,
};
use relink_unipile::UnipileClient;
use relink_workflows::{
    AccountReconcilerWorkflow, AccountStatusSyncWorkflow, AlertNotifierWorkflow,
    CampaignSweeperWorkflow, EmailSenderWorkflow, EventDeliveryWorkflow, OrphanWatcherWorkflow,
    ReconnectWorkflow, SafeDeleteWorkflow, SubscriptionEndWorkflow,
};
use std::future::Future;
use std::time::Duration;
use temporalio_sdk::{Runtime, Worker, WorkerOptions};
use url::Url;

mod observability;

pub use observability::POLL_READY_WITHIN;

/// Largest number of PostgreSQL connections one worker holds.
const DATABASE_POOL_SIZE: u32 = 10;

/// Everything the worker reads at start-up.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerSettings {
    /// Temporal frontend, namespace and task queue.
    #[command(flatten)]
    pub temporal: TemporalSettings,
    /// Unipile DSN, API key and request timeout.
    #[command(flatten)]
    pub unipile: UnipileSettings,
    /// The application database.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// How Unipile reaches the web tier (notify_url callbacks, account-status webhook).
    #[arg(long, env = "PUBLIC_BASE_URL", value_name = "PUBLIC_BASE_URL")]
    pub public_base_url: Url,
    /// The account-status webhook's shared secret.
    #[command(flatten)]
    pub webhook: WebhookSecretSettings,
    /// The SMTP server and sender of reconnect emails.
    #[command(flatten)]
    pub smtp: SmtpSettings,
    /// The key signing the account links in reconnect emails.
    #[command(flatten)]
    pub account_links: AccountLinkSettings,
    /// The operator channel of admin alerts.
    #[command(flatten)]
    pub alerts: AlertSettings,
    /// Where the worker serves `/metrics`, `/readyz` and `/healthz` (e.g.
    /// `127.0.0.1:9464`; port 0 picks one). Unset: not served.
    #[arg(long, env = "WORKER_METRICS_ADDR", value_name = "WORKER_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// How long, in seconds, a worker told to stop (SIGTERM, Ctrl-C) lets its in-flight
    /// activities finish before it sends them a cancellation; it stops polling at once
    /// and exits 0 once they have ended. relink's activities do not act on the
    /// cancellation: each ends within its own start-to-close timeout (at most 10 min
    /// for a pass, 30 s for the others), and a process killed before that is safe, since
    /// every activity can be retried (passes lease their work, writes compare and set).
    /// Default 25, under Kubernetes' default 30 s termination grace.
    #[arg(
        long,
        env = "WORKER_SHUTDOWN_GRACE_SECS",
        value_name = "WORKER_SHUTDOWN_GRACE_SECS",
        default_value_t = 25
    )]
    pub shutdown_grace_secs: u64,
}

/// A built worker, ready to poll its task queue.
pub struct RelinkWorker {
    // The SDK runtime must outlive the worker it created.
    _runtime: Runtime,
    worker: Worker,
    task_queue: String,
    metrics_addr: Option<std::net::SocketAddr>,
}

impl RelinkWorker {
    /// Where `/metrics`, `/readyz` and `/healthz` are served, when they are.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_addr
    }

    /// Polls until the worker stops on a fatal error; dropping the future stops it
    /// abruptly, as a crash would. Must run on a Tokio runtime; the future is not `Send`.
    ///
    /// Errors: the worker stopped on a fatal error (e.g. Temporal away for too long).
    pub async fn run(mut self) -> anyhow::Result<()> {
        tracing::info!(task_queue = %self.task_queue, "worker polling");
        self.worker.run().await?;
        Ok(())
    }

    /// Polls until `shutdown` resolves, then shuts down gracefully (in-flight activities
    /// finish; workflow state is in Temporal, so nothing is lost either way). Must run
    /// on a Tokio runtime; the future is not `Send`.
    ///
    /// Errors: the worker stopped on a fatal error (e.g. Temporal away for too long).
    pub async fn run_until(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = self.worker.shutdown_handle();
        tokio::spawn(async move {
            shutdown.await;
            stop();
        });
        tracing::info!(task_queue = %self.task_queue, "worker polling");
        self.worker.run().await?;
        Ok(())
    }
}

/// Builds the worker: registers Unipile's account-status webhook (idempotent), opens the
/// database pool and applies the migrations, builds the Unipile client, connects to
/// Temporal, adds the search attributes relink's workflows need when the namespace
/// lacks them (`relink_runtime::ensure_search_attributes`), and registers every
/// workflow and activity on the task queue. `env` is where the Safe delete kill switches
/// are read at each gate (`relink_activities::process_env()` in production).
///
/// Errors: a bad setting (naming its variable), or PostgreSQL, Unipile or Temporal not
/// answering.
pub async fn build(settings: &WorkerSettings, env: EnvReader) -> anyhow::Result<RelinkWorker> {
    let unipile = settings.unipile.client()?;
    let mailer = mailer(settings)?;
    let alert_url = settings.alerts.webhook_url()?;
    register_account_status_webhook(
        &unipile,
        &settings.public_base_url,
        settings.webhook.secret()?.expose_secret(),
    )
    .await?;
    // Migrations before anything reads a table (the web tier applies them too; sqlx
    // holds an advisory lock, so two processes starting at once apply them once).
    let store = settings
        .database
        .connect_migrated(DATABASE_POOL_SIZE)
        .await?;
    let store_for_metrics = store.clone();
    let client = settings.temporal.connect().await?;
    // The passes start Safe delete children with no search attributes, but the worker
    // may be the first process up on a fresh namespace: it prepares it for the web tier.
    relink_runtime::ensure_search_attributes(&client).await?;
    let options = worker_options(
        &settings.temporal.task_queue,
        Duration::from_secs(settings.shutdown_grace_secs),
        Activities::new(
            store.clone(),
            unipile.clone(),
            settings.public_base_url.clone(),
        ),
        HealingActivities::new(store.clone(), unipile.clone()),
        SubscriptionActivities::new(store.clone()),
        EmailActivities::new(store.clone(), mailer),
        EventActivities::new(store.clone())?,
        AlertActivities::new(store.clone(), alert_url)?,
        DeleteActivities::new(store, unipile, env),
    )?;
    // The SDK's worker metrics go to its own Prometheus exporter on a loopback port;
    // the worker's endpoint serves them after relink's own.
    relink_runtime::metrics_handle();
    let sdk = temporalio_common::telemetry::start_prometheus_metric_exporter(
        temporalio_common::telemetry::PrometheusExporterOptions::builder()
            .socket_addr(([127, 0, 0, 1], 0).into())
            .counters_total_suffix(true)
            .use_seconds_for_durations(true)
            .build(),
    )?;
    let meter: std::sync::Arc<dyn temporalio_common::telemetry::metrics::CoreMeter> = sdk.meter;
    let telemetry = temporalio_common::telemetry::TelemetryOptions::builder()
        .metrics(meter)
        .build();
    let runtime_options = temporalio_sdk::runtime::RuntimeOptions::builder()
        .telemetry_options(telemetry)
        .build()
        .map_err(anyhow::Error::msg)?;
    let runtime = Runtime::from_current_tokio(runtime_options)?;
    let worker = Worker::new(&runtime, client.clone(), options)?;
    let metrics_addr = match settings.metrics_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("WORKER_METRICS_ADDR: cannot listen on {addr}"))?;
            let bound = listener.local_addr()?;
            observability::serve(
                listener,
                observability::Observed {
                    store: store_for_metrics,
                    temporal: client,
                    sdk_metrics: sdk.bound_addr,
                    http: reqwest::Client::builder()
                        .timeout(Duration::from_secs(2))
                        .build()?,
                    last_poll: Default::default(),
                },
            );
            tracing::info!(addr = %bound, "worker metrics and readiness served");
            Some(bound)
        }
        None => None,
    };
    Ok(RelinkWorker {
        _runtime: runtime,
        worker,
        task_queue: settings.temporal.task_queue.clone(),
        metrics_addr,
    })
}

/// The reconnect-email mailer: `None` without `SMTP_URL` (a warning says that no email
/// will be sent). Errors: `SMTP_URL` without `ACCOUNT_LINK_KEY`, or a bad value.
fn mailer(settings: &WorkerSettings) -> anyhow::Result<Option<Mailer>> {
    let Some(url) = &settings.smtp.smtp_url else {
        tracing::warn!("SMTP_URL is not set: reconnect emails stay queued, unsent");
        return Ok(None);
    };
    let Some(key) = settings.account_links.key()? else {
        anyhow::bail!("SMTP_URL is set but ACCOUNT_LINK_KEY is not: emails need signed links");
    };
    Ok(Some(Mailer::new(
        url.expose_secret(),
        &settings.smtp.mail_from,
        settings.public_base_url.clone(),
        key,
    )?))
}

/// Every relink workflow and activity on `task_queue` (one argument per activity set).
#[allow(clippy::too_many_arguments)]
fn worker_options(
    task_queue: &str,
    shutdown_grace: Duration,
    reconnect: Activities,
    healing: HealingActivities,
    subscriptions: SubscriptionActivities,
    emails: EmailActivities,
    events: EventActivities,
    alerts: AlertActivities,
    deletes: DeleteActivities,
) -> anyhow::Result<WorkerOptions> {
    Ok(WorkerOptions::new(task_queue.to_string())
        .graceful_shutdown_period(shutdown_grace)
        .register_workflow::<ReconnectWorkflow>()?
        .register_workflow::<OrphanWatcherWorkflow>()?
        .register_workflow::<CampaignSweeperWorkflow>()?
        .register_workflow::<AccountReconcilerWorkflow>()?
        .register_workflow::<AccountStatusSyncWorkflow>()?
        .register_workflow::<SafeDeleteWorkflow>()?
        .register_workflow::<SubscriptionEndWorkflow>()?
        .register_workflow::<EmailSenderWorkflow>()?
        .register_workflow::<EventDeliveryWorkflow>()?
        .register_workflow::<AlertNotifierWorkflow>()?
        .register_activities(reconnect)
        .register_activities(healing)
        .register_activities(subscriptions)
        .register_activities(emails)
        .register_activities(events)
        .register_activities(alerts)
        .register_activities(deletes)
        .build())
}

/// Registers (idempotently, matching on `request_url`) Unipile's account-status webhook
/// pointing at `<public_base_url>/webhooks/unipile/account-status` with the
/// `Unipile-Auth` header carrying `secret`. Returns the webhook id.
///
/// Errors: Unipile refused or did not answer.
async fn register_account_status_webhook(
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
