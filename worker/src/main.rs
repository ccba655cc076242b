//! `worker`: polls the relink task queue and runs its workflows and activities.

use clap::Parser;

/// relink worker.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    settings: relink_worker::WorkerSettings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    relink_runtime::init_tracing()?;
    let args = Args::parse();
    relink_worker::build(&args.settings, relink_activities::process_env())
        .await?
        .run_until(relink_runtime::shutdown_signal())
        .await
}
