//! `starter`: relink's operator CLI (migrations, demo seeding, the demo scenario).

use anyhow::Context;
use clap::{Parser, Subcommand};
use relink_store::Store;

/// relink operator CLI.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", hide_env_values = true, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Applies the database migrations.
    Migrate,
    /// Seeds a demo workspace; prints its API token and account ids.
    SeedDemo {
        /// Print JSON (for scripts and tests).
        #[arg(long)]
        json: bool,
        /// Also seed these Unipile accounts into unipile-sim at this base URL.
        #[arg(long, env = "UNIPILE_SIM_URL", value_name = "UNIPILE_SIM_URL")]
        sim: Option<String>,
    },
    /// Seeds a demo workspace and plays the reconnect scenario against a running stack.
    Demo {
        /// Web tier base URL.
        #[arg(long, env = "RELINK_WEB_URL", default_value = "http://127.0.0.1:8080")]
        web: String,
        /// unipile-sim base URL.
        #[arg(long, env = "UNIPILE_SIM_URL", default_value = "http://127.0.0.1:8790")]
        sim: String,
        /// Temporal Web UI base URL.
        #[arg(long, env = "TEMPORAL_UI_URL", default_value = "http://127.0.0.1:8233")]
        temporal_ui: String,
        /// Temporal namespace.
        #[arg(long, env = "TEMPORAL_NAMESPACE", default_value = "default")]
        namespace: String,
    },
}

async fn store(url: Option<String>) -> anyhow::Result<Store> {
    let url = url.context("DATABASE_URL is not set")?;
    let store = Store::connect(&url, 4).await.context("DATABASE_URL: cannot connect")?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Migrate => {
            store(cli.database_url).await?;
            println!("migrations applied");
        }
        Command::SeedDemo { json, sim } => {
            let store = store(cli.database_url).await?;
            let seed = relink_store::seed_demo(&store).await?;
            if let Some(sim) = sim {
                relink_starter::demo::seed_sim(&reqwest::Client::new(), &sim, &seed).await?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&seed)?);
            } else {
                println!("workspace {} (API token {})", seed.workspace_id, seed.api_token);
                for a in &seed.accounts {
                    println!("  {} {} [{}]", a.id, a.display_name, a.status);
                }
            }
        }
        Command::Demo { web, sim, temporal_ui, namespace } => {
            let store = store(cli.database_url).await?;
            let seed = relink_store::seed_demo(&store).await?;
            relink_starter::demo::seed_sim(&reqwest::Client::new(), &sim, &seed).await?;
            println!("Seeded demo workspace {} with {} accounts.", seed.workspace_id, seed.accounts.len());
            let targets = relink_starter::demo::DemoTargets { web, sim, temporal_ui, namespace };
            relink_starter::demo::run(&store, &seed, &targets).await?;
        }
    }
    Ok(())
}
