//! `starter`: relink's operator CLI (migrations, Schedules, healing passes, Safe
//! deletes, subscriptions, the demo). Arguments live in `relink_starter::cli`, the
//! commands in `relink_starter::commands`.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    relink_starter::commands::run(relink_starter::cli::Cli::parse()).await
}
