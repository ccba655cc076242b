//! `worker`: polls the relink task queue and runs its workflows and activities.

use clap::Parser;
use relink_worker::{TemporalSettings, UnipileSettings};
use url::Url;

/// relink worker.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    temporal: TemporalSettings,
    #[command(flatten)]
    unipile: UnipileSettings,
    /// PostgreSQL URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        hide_env_values = true
    )]
    database_url: String,
    /// How Unipile reaches the web tier (notify_url callbacks, account-status webhook).
    #[arg(long, env = "PUBLIC_BASE_URL", value_name = "PUBLIC_BASE_URL")]
    public_base_url: Url,
    #[command(flatten)]
    webhook: relink_worker::WebhookSecretSettings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    relink_worker::init_tracing();
    let args = Args::parse();
    let secret = args.webhook.secret()?;
    relink_worker::register_account_status_webhook(
        &args.unipile.client()?,
        &args.public_base_url,
        secret,
    )
    .await?;
    let activities = relink_worker::build_activities(
        &args.database_url,
        &args.unipile,
        args.public_base_url,
        relink_activities::process_env(),
    )
    .await?;
    let client = relink_worker::connect_temporal(
        &args.temporal.temporal_address,
        &args.temporal.temporal_namespace,
    )
    .await?;
    relink_worker::run_worker(
        client,
        &args.temporal.task_queue,
        activities,
        relink_worker::shutdown_signal(),
    )
    .await
}
