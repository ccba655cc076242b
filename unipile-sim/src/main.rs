//! `unipile-sim` binary: serves the Unipile stand-in.

use clap::Parser;
use std::time::Duration;

/// A local, faithful stand-in for the Unipile API v1 subset relink uses.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "SIM_ADDR", default_value = "127.0.0.1:8790")]
    addr: std::net::SocketAddr,
    /// The X-API-KEY the API accepts.
    #[arg(long, env = "UNIPILE_API_KEY")]
    api_key: String,
    /// Base URL used in hosted-auth link urls (default: http://<addr>).
    #[arg(long, env = "SIM_PUBLIC_BASE_URL")]
    public_base_url: Option<String>,
    /// First delivery retry delay in milliseconds (doubles each retry).
    #[arg(long, env = "SIM_RETRY_BASE_DELAY_MS", default_value_t = 2000)]
    retry_base_delay_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    if args.api_key.trim().is_empty() {
        anyhow::bail!("UNIPILE_API_KEY must not be empty");
    }
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    let config = unipile_sim::SimConfig {
        api_key: args.api_key,
        public_base_url: args
            .public_base_url
            .unwrap_or_else(|| format!("http://{addr}")),
        retry_base_delay: Duration::from_millis(args.retry_base_delay_ms),
    };
    tracing::info!(%addr, "unipile-sim listening");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    axum::serve(listener, unipile_sim::router(config))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
