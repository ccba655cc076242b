//! `web`: relink's JSON API, dashboard and Unipile callbacks.

use anyhow::Context;
use clap::Parser;
use relink_store::Store;
use relink_web::AppState;
use relink_worker::TemporalSettings;
use std::time::Duration;

/// relink web tier.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    temporal: TemporalSettings,
    /// PostgreSQL URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        hide_env_values = true
    )]
    database_url: String,
    /// Address to listen on.
    #[arg(
        long,
        env = "WEB_ADDR",
        value_name = "WEB_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    web_addr: std::net::SocketAddr,
    /// Hosted-auth link reuse window, seconds (DESIGN.md: 90).
    #[arg(
        long,
        env = "LINK_REUSE_WINDOW_SECS",
        value_name = "LINK_REUSE_WINDOW_SECS",
        default_value_t = 90
    )]
    link_reuse_window_secs: u64,
    /// Hosted-auth link lifetime, seconds.
    #[arg(
        long,
        env = "LINK_TTL_SECS",
        value_name = "LINK_TTL_SECS",
        default_value_t = 900
    )]
    link_ttl_secs: u64,
    #[command(flatten)]
    webhook: relink_worker::WebhookSecretSettings,
    /// How long an ERROR/STOPPED blip may last before campaigns pause, seconds.
    #[arg(long, env = "BLIP_TOLERANCE_SECS", value_name = "BLIP_TOLERANCE_SECS", default_value_t = relink_domain::healing::DEFAULT_BLIP_TOLERANCE_SECS)]
    blip_tolerance_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    relink_worker::init_tracing();
    let args = Args::parse();
    let webhook_secret = args.webhook.secret()?.to_string();
    if args.link_ttl_secs < args.link_reuse_window_secs {
        anyhow::bail!("LINK_TTL_SECS must be at least LINK_REUSE_WINDOW_SECS");
    }
    let store = Store::connect(&args.database_url, 10)
        .await
        .context("DATABASE_URL: cannot connect")?;
    store.migrate().await.context("applying migrations")?;
    let temporal = relink_worker::connect_temporal(
        &args.temporal.temporal_address,
        &args.temporal.temporal_namespace,
    )
    .await?;
    let state = AppState {
        store,
        temporal,
        task_queue: args.temporal.task_queue,
        link_reuse_window: Duration::from_secs(args.link_reuse_window_secs),
        link_ttl: Duration::from_secs(args.link_ttl_secs),
        webhook_secret,
        blip_tolerance: Duration::from_secs(args.blip_tolerance_secs.max(1)),
    };
    let listener = tokio::net::TcpListener::bind(args.web_addr)
        .await
        .with_context(|| format!("WEB_ADDR: cannot listen on {}", args.web_addr))?;
    tracing::info!(addr = %args.web_addr, "web listening");
    axum::serve(listener, relink_web::app(state))
        .with_graceful_shutdown(relink_worker::shutdown_signal())
        .await?;
    Ok(())
}
