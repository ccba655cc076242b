//! `starter`: relink's operator CLI (migrations, demo seeding, the demo scenario).

use anyhow::Context;
use clap::{Parser, Subcommand};
use relink_starter::ops;
use relink_store::Store;
use relink_worker::TemporalSettings;
use std::time::Duration;

/// relink operator CLI.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", hide_env_values = true, global = true)]
    database_url: Option<String>,
    #[command(flatten)]
    temporal: TemporalSettings,
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
    /// Temporal Schedules of the healing loops.
    Schedules {
        #[command(subcommand)]
        action: ScheduleCommand,
    },
    /// Runs one healing pass now (as a workflow) and prints its summary.
    Run {
        /// Which pass.
        pass: ops::Pass,
        /// Reconciler only: print the plan, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Plans the next days of sends of one account (per action type) as a table.
    PlanSends {
        /// Account id.
        #[arg(long)]
        account: String,
        /// Days to plan.
        #[arg(long, default_value_t = 14)]
        days: u32,
        /// Actions due per action type (the backlog to spread).
        #[arg(long, default_value_t = 200)]
        due: u32,
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

#[derive(Subcommand, Debug)]
enum ScheduleCommand {
    /// Creates or updates orphan-watcher, campaign-sweeper and account-reconciler.
    Apply {
        /// Reconciler interval in seconds.
        #[arg(long, env = "RECONCILER_INTERVAL_SECS", default_value_t = 900)]
        reconciler_interval_secs: u64,
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
        Command::Schedules { action: ScheduleCommand::Apply { reconciler_interval_secs } } => {
            if reconciler_interval_secs < 60 {
                anyhow::bail!("RECONCILER_INTERVAL_SECS must be at least 60");
            }
            let client = temporal(&cli.temporal).await?;
            let applied =
                ops::apply_schedules(&client, &cli.temporal.task_queue, Duration::from_secs(reconciler_interval_secs)).await?;
            for s in applied {
                println!(
                    "schedule {:<20} {:<8} every {:>5} s, overlap skip, catch-up window {} s",
                    s.id, s.change, s.every_secs, s.catchup_window_secs
                );
            }
        }
        Command::Run { pass, dry_run } => {
            let client = temporal(&cli.temporal).await?;
            eprintln!("running {pass:?}{} …", if dry_run { " (dry run)" } else { "" });
            let (id, summary) = ops::run_pass(&client, &cli.temporal.task_queue, pass, dry_run).await?;
            println!("workflow {id}");
            println!("Temporal UI: {}/namespaces/{}/workflows/{id}", ui_url(), cli.temporal.temporal_namespace);
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        Command::PlanSends { account, days, due } => {
            if !(1..=90).contains(&days) {
                anyhow::bail!("--days must be between 1 and 90");
            }
            let id: relink_domain::AccountId = account.parse().map_err(|e| anyhow::anyhow!("--account: {e}"))?;
            let store = store(cli.database_url).await?;
            let now = chrono::Utc::now();
            let settings = store.send_settings(id).await?;
            println!(
                "account {id}: window {}–{} {} on {:?}{}",
                settings.window_start, settings.window_end, settings.time_zone, settings.active_days,
                settings.ramp_start.map(|d| format!(", ramp from {d}")).unwrap_or_default()
            );
            for action in relink_store::ACTION_TYPES {
                let caps = store.caps(id, action).await?;
                let history = store.send_history(id, action, now.date_naive() - chrono::Duration::days(6)).await?;
                let plan = relink_domain::pacing::plan(&settings, caps, &history, due, now, days);
                println!("\n{} (daily {}, weekly {}), {due} due:", action.as_str(), caps.daily, caps.weekly);
                println!("  {:<12} {:>5}  {:<12} {}", "day (UTC)", "slots", "limited by", "window opens (UTC)");
                for d in plan {
                    println!(
                        "  {:<12} {:>5}  {:<12} {}",
                        d.day.to_string(), d.slots, d.limited_by,
                        d.opens_at.map(|t| t.format("%H:%M").to_string()).unwrap_or_else(|| "-".into())
                    );
                }
            }
        }
        Command::Demo { web, sim, temporal_ui, namespace } => {
            let store = store(cli.database_url).await?;
            let seed = relink_store::seed_demo(&store).await?;
            relink_starter::demo::seed_sim(&reqwest::Client::new(), &sim, &seed).await?;
            println!("Seeded demo workspace {} with {} accounts.", seed.workspace_id, seed.accounts.len());
            let targets = relink_starter::demo::DemoTargets { web, sim, temporal_ui, namespace };
            let client = temporal(&cli.temporal).await?;
            relink_starter::demo::run(&store, &seed, &targets, &client, &cli.temporal.task_queue).await?;
        }
    }
    Ok(())
}

async fn temporal(t: &TemporalSettings) -> anyhow::Result<temporalio_client::Client> {
    relink_worker::connect_temporal(&t.temporal_address, &t.temporal_namespace).await
}

fn ui_url() -> String {
    std::env::var("TEMPORAL_UI_URL").unwrap_or_else(|_| "http://127.0.0.1:8233".into())
}
