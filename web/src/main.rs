//! `web`: relink's JSON API, dashboard and Unipile callbacks.

use clap::Parser;

/// relink web tier.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    settings: relink_web::WebSettings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    relink_runtime::init_tracing()?;
    let args = Args::parse();
    relink_web::build(&args.settings)
        .await?
        .run_until(relink_runtime::shutdown_signal())
        .await
}
