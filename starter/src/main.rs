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
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
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
    /// The delete flag and running Safe deletes.
    Deletes {
        #[command(subcommand)]
        action: DeletesCommand,
    },
    /// Requests the Safe delete of a Unipile account (all six gates apply).
    Delete {
        /// The Unipile account id.
        unipile_account_id: String,
        /// Why (recorded in the audit log and the alert).
        #[arg(long)]
        reason: String,
        /// Who asks.
        #[arg(long)]
        operator: String,
        /// The account is gone (three 404s required) rather than a live inert duplicate
        /// (three observations unreferenced by any row).
        #[arg(long)]
        gone: bool,
        /// Poll spacing, seconds (DESIGN.md: 60; less only with --short-timings).
        #[arg(long, default_value_t = 60)]
        poll_spacing_secs: u64,
        /// Undo window, seconds (default 600; less than 60 only with --short-timings).
        #[arg(long, default_value_t = 600)]
        undo_window_secs: u64,
        /// Allow poll spacing under 60 s and an undo window under 60 s (demos, tests).
        #[arg(long)]
        short_timings: bool,
        /// Wait for the outcome and print it.
        #[arg(long)]
        wait: bool,
    },
    /// Reports LinkedIn identities held by more than one Unipile session or row (never
    /// deletes anything: an inert duplicate goes through `starter delete`).
    Duplicates {
        #[command(flatten)]
        unipile: relink_worker::UnipileSettings,
    },
    /// A workspace's subscription ended or was renewed.
    Subscription {
        #[command(subcommand)]
        action: SubscriptionCommand,
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

#[derive(Subcommand, Debug)]
enum SubscriptionCommand {
    /// Pauses the workspace's campaigns (`subscription_inactive`) and starts the grace period.
    End {
        /// Workspace id.
        workspace_id: String,
        /// Grace period, seconds (default 7 days; at least 1 hour).
        #[arg(long, default_value_t = relink_domain::healing::DEFAULT_SUBSCRIPTION_GRACE_SECS,
              value_parser = clap::value_parser!(u64).range(3600..))]
        grace_secs: u64,
    },
    /// Renews: removes `subscription_inactive` (within the grace the accounts are untouched).
    Renew {
        /// Workspace id.
        workspace_id: String,
    },
}

#[derive(Subcommand, Debug)]
enum DeletesCommand {
    /// Enables the unipile_deletes flag for at most 4 h.
    Enable {
        /// How long, e.g. `4h`, `30m` (at most 4h).
        #[arg(long)]
        ttl: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Who.
        #[arg(long)]
        operator: String,
    },
    /// Disables the flag.
    Disable {
        /// Who.
        #[arg(long, default_value = "operator")]
        operator: String,
    },
    /// Shows the flag and the deletes of the last 24 h.
    Status,
    /// Shows each gate of a running (or finished) Safe delete.
    Gates {
        /// The Unipile account id.
        unipile_account_id: String,
    },
    /// Cancels a Safe delete during its undo window.
    Cancel {
        /// The Unipile account id.
        unipile_account_id: String,
        /// Who.
        #[arg(long, default_value = "operator")]
        operator: String,
    },
}

async fn store(url: Option<String>) -> anyhow::Result<Store> {
    let url = url.context("DATABASE_URL is not set")?;
    let store = Store::connect(&url, 4)
        .await
        .context("DATABASE_URL: cannot connect")?;
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
                println!(
                    "workspace {} (API token {})",
                    seed.workspace_id, seed.api_token
                );
                for a in &seed.accounts {
                    println!("  {} {} [{}]", a.id, a.display_name, a.status);
                }
            }
        }
        Command::Schedules {
            action: ScheduleCommand::Apply {
                reconciler_interval_secs,
            },
        } => {
            if reconciler_interval_secs < 60 {
                anyhow::bail!("RECONCILER_INTERVAL_SECS must be at least 60");
            }
            let client = temporal(&cli.temporal).await?;
            let applied = ops::apply_schedules(
                &client,
                &cli.temporal.task_queue,
                Duration::from_secs(reconciler_interval_secs),
            )
            .await?;
            for s in applied {
                println!(
                    "schedule {:<20} {:<8} every {:>5} s, overlap skip, catch-up window {} s",
                    s.id, s.change, s.every_secs, s.catchup_window_secs
                );
            }
        }
        Command::Run { pass, dry_run } => {
            let client = temporal(&cli.temporal).await?;
            eprintln!(
                "running {pass:?}{} …",
                if dry_run { " (dry run)" } else { "" }
            );
            let (id, summary) =
                ops::run_pass(&client, &cli.temporal.task_queue, pass, dry_run).await?;
            println!("workflow {id}");
            println!(
                "Temporal UI: {}/namespaces/{}/workflows/{id}",
                ui_url(),
                cli.temporal.temporal_namespace
            );
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        Command::PlanSends { account, days, due } => {
            if !(1..=90).contains(&days) {
                anyhow::bail!("--days must be between 1 and 90");
            }
            let id: relink_domain::AccountId = account
                .parse()
                .map_err(|e| anyhow::anyhow!("--account: {e}"))?;
            let store = store(cli.database_url).await?;
            let now = chrono::Utc::now();
            let settings = store.send_settings(id).await?;
            println!(
                "account {id}: window {}–{} {} on {:?}{}",
                settings.window_start,
                settings.window_end,
                settings.time_zone,
                settings.active_days,
                settings
                    .ramp_start
                    .map(|d| format!(", ramp from {d}"))
                    .unwrap_or_default()
            );
            for action in relink_store::ACTION_TYPES {
                let caps = store.caps(id, action).await?;
                let history = store
                    .send_history(id, action, now.date_naive() - chrono::Duration::days(6))
                    .await?;
                let plan = relink_domain::pacing::plan(&settings, caps, &history, due, now, days);
                println!(
                    "\n{} (daily {}, weekly {}), {due} due:",
                    action.as_str(),
                    caps.daily,
                    caps.weekly
                );
                println!(
                    "  {:<12} {:>5}  {:<12} window opens (UTC)",
                    "day (UTC)", "slots", "limited by"
                );
                for d in plan {
                    println!(
                        "  {:<12} {:>5}  {:<12} {}",
                        d.day.to_string(),
                        d.slots,
                        d.limited_by,
                        d.opens_at
                            .map(|t| t.format("%H:%M").to_string())
                            .unwrap_or_else(|| "-".into())
                    );
                }
            }
        }
        Command::Duplicates { unipile } => {
            let store = store(cli.database_url).await?;
            let listing = unipile.client()?.list_all_accounts().await?;
            let mut by_member: std::collections::BTreeMap<String, Vec<&relink_unipile::Account>> =
                Default::default();
            for a in &listing {
                if let Some(m) = a.linkedin_member_id() {
                    by_member.entry(m.to_string()).or_default().push(a);
                }
            }
            let mut found = 0;
            for (member, sessions) in by_member.iter().filter(|(_, v)| v.len() > 1) {
                found += 1;
                println!(
                    "LinkedIn identity {member}: {} Unipile sessions",
                    sessions.len()
                );
                for s in sessions {
                    let row = store.account_by_unipile_id(&s.id).await?;
                    let status = s
                        .source_status()
                        .map(|x| x.to_string())
                        .unwrap_or_else(|| "?".into());
                    match row {
                        Some(r) => println!(
                            "  {} {status:<11} referenced by account {} ({}, {})",
                            s.id, r.id, r.display_name, r.status
                        ),
                        None => println!(
                            "  {} {status:<11} unreferenced: inert duplicate (remove with `starter delete {} --reason … --operator …`)",
                            s.id, s.id
                        ),
                    }
                }
            }
            println!("{found} identities with duplicate sessions");
            for (ws, member, ids) in store.duplicate_identity_rows().await? {
                let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
                println!(
                    "workspace {ws}: rows {} hold LinkedIn identity {member}",
                    ids.join(", ")
                );
            }
        }
        Command::Subscription { action } => match action {
            SubscriptionCommand::End {
                workspace_id,
                grace_secs,
            } => {
                let ws: relink_domain::WorkspaceId =
                    workspace_id.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
                let client = temporal(&cli.temporal).await?;
                let id = relink_domain::healing::subscription_workflow_id(ws);
                let opts = temporalio_client::WorkflowStartOptions::new(
                    cli.temporal.task_queue.clone(),
                    id.clone(),
                )
                .id_conflict_policy(temporalio_client::WorkflowIdConflictPolicy::UseExisting)
                .build();
                client
                    .start_workflow(
                        relink_workflows::SubscriptionEndWorkflow::run,
                        relink_domain::healing::SubscriptionEndInput {
                            workspace_id: ws,
                            grace_secs,
                        },
                        opts,
                    )
                    .await?;
                println!(
                    "workflow {id}: campaigns paused (subscription_inactive); accounts disconnect after {grace_secs} s without renewal"
                );
            }
            SubscriptionCommand::Renew { workspace_id } => {
                let ws: relink_domain::WorkspaceId =
                    workspace_id.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
                let client = temporal(&cli.temporal).await?;
                let id = relink_domain::healing::subscription_workflow_id(ws);
                let sent = client
                    .get_workflow_handle::<relink_workflows::SubscriptionEndWorkflow>(id.clone())
                    .signal(
                        relink_workflows::SubscriptionEndWorkflow::renew,
                        (),
                        Default::default(),
                    )
                    .await;
                match sent {
                    Ok(()) => println!("renewal sent to {id}"),
                    Err(e)
                        if !matches!(
                            e,
                            temporalio_client::errors::WorkflowInteractionError::NotFound(_)
                        ) =>
                    {
                        anyhow::bail!(
                            "could not reach the subscription workflow {id}: {e}; try again"
                        );
                    }
                    Err(_) => {
                        // The grace is over (or never started): renew directly.
                        let resumed = store(cli.database_url)
                            .await?
                            .subscription_renew(ws)
                            .await?;
                        println!(
                            "no grace period running; renewed directly, {} campaigns resumed",
                            resumed.len()
                        );
                    }
                }
            }
        },
        Command::Deletes { action } => match action {
            DeletesCommand::Enable {
                ttl,
                reason,
                operator,
            } => {
                let ttl = humantime::parse_duration(&ttl)
                    .map_err(|e| anyhow::anyhow!("--ttl {ttl:?}: {e}"))?;
                let ttl = chrono::Duration::from_std(ttl)
                    .map_err(|_| anyhow::anyhow!("--ttl is too long"))?;
                let store = store(cli.database_url).await?;
                let flag = store.enable_delete_flag(ttl, &operator, &reason).await?;
                println!(
                    "unipile_deletes enabled until {:?} by {operator}",
                    flag.expires_at
                );
            }
            DeletesCommand::Disable { operator } => {
                store(cli.database_url)
                    .await?
                    .disable_delete_flag(&operator)
                    .await?;
                println!("unipile_deletes disabled");
            }
            DeletesCommand::Status => {
                let store = store(cli.database_url).await?;
                let flag = store.delete_flag().await?;
                let open = flag.as_ref().is_some_and(|f| f.is_open(chrono::Utc::now()));
                println!(
                    "flag unipile_deletes: {}",
                    if open { "OPEN" } else { "closed" }
                );
                if let Some(f) = flag {
                    println!(
                        "  enabled={} expires_at={:?} set_by={} reason={:?}",
                        f.enabled, f.expires_at, f.set_by, f.reason
                    );
                }
                println!(
                    "deletes in the last 24 h: {} (max {})",
                    store.deletes_last_24h().await?,
                    relink_domain::deletes::MAX_DELETES_PER_24H
                );
            }
            DeletesCommand::Gates { unipile_account_id } => {
                let client = temporal(&cli.temporal).await?;
                let id = relink_domain::deletes::delete_workflow_id(&unipile_account_id);
                let gates = client
                    .get_workflow_handle::<relink_workflows::SafeDeleteWorkflow>(id.clone())
                    .query(
                        relink_workflows::SafeDeleteWorkflow::gates,
                        (),
                        Default::default(),
                    )
                    .await
                    .with_context(|| format!("no Safe delete {id}"))?;
                println!("{id}\n{}", serde_json::to_string_pretty(&gates)?);
            }
            DeletesCommand::Cancel {
                unipile_account_id,
                operator,
            } => {
                let client = temporal(&cli.temporal).await?;
                let id = relink_domain::deletes::delete_workflow_id(&unipile_account_id);
                client
                    .get_workflow_handle::<relink_workflows::SafeDeleteWorkflow>(id.clone())
                    .signal(
                        relink_workflows::SafeDeleteWorkflow::cancel,
                        operator,
                        Default::default(),
                    )
                    .await
                    .with_context(|| format!("no running Safe delete {id}"))?;
                println!("cancel sent to {id}");
            }
        },
        Command::Delete {
            unipile_account_id,
            reason,
            operator,
            gone,
            poll_spacing_secs,
            undo_window_secs,
            short_timings,
            wait,
        } => {
            if reason.trim().is_empty() || operator.trim().is_empty() {
                anyhow::bail!("--reason and --operator must not be empty");
            }
            if !short_timings && (poll_spacing_secs < 60 || undo_window_secs < 60) {
                anyhow::bail!(
                    "--poll-spacing-secs and --undo-window-secs must be at least 60 (add --short-timings for a demo)"
                );
            }
            if short_timings {
                eprintln!(
                    "SHORT TIMINGS: polls {poll_spacing_secs} s apart, undo window {undo_window_secs} s"
                );
            }
            let client = temporal(&cli.temporal).await?;
            let input = relink_domain::deletes::SafeDeleteInput {
                unipile_account_id,
                requester: relink_domain::deletes::DeleteRequester::Operator {
                    name: operator,
                    reason,
                },
                kind: if gone {
                    relink_domain::deletes::DeleteKind::Gone
                } else {
                    relink_domain::deletes::DeleteKind::InertDuplicate
                },
                poll_spacing_secs: poll_spacing_secs.max(1),
                undo_window_secs,
            };
            let id = ops::start_safe_delete(&client, &cli.temporal.task_queue, input).await?;
            println!("workflow {id}");
            println!(
                "Temporal UI: {}/namespaces/{}/workflows/{}",
                ui_url(),
                cli.temporal.temporal_namespace,
                id.replace(':', "%3A")
            );
            if wait {
                let outcome = client
                    .get_workflow_handle::<relink_workflows::SafeDeleteWorkflow>(id)
                    .get_result(Default::default())
                    .await?;
                println!("{}", serde_json::to_string_pretty(&outcome)?);
            } else {
                println!(
                    "gates are running; `starter deletes cancel <id>` stops it during the undo window"
                );
            }
        }
        Command::Demo {
            web,
            sim,
            temporal_ui,
            namespace,
        } => {
            let store = store(cli.database_url).await?;
            let seed = relink_store::seed_demo(&store).await?;
            relink_starter::demo::seed_sim(&reqwest::Client::new(), &sim, &seed).await?;
            println!(
                "Seeded demo workspace {} with {} accounts.",
                seed.workspace_id,
                seed.accounts.len()
            );
            let targets = relink_starter::demo::DemoTargets {
                web,
                sim,
                temporal_ui,
                namespace,
            };
            let client = temporal(&cli.temporal).await?;
            relink_starter::demo::run(&store, &seed, &targets, &client, &cli.temporal.task_queue)
                .await?;
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
