//! One function per operator command: it checks what the parser cannot, connects to what
//! the command needs (only that), acts through `ops` or the store, and prints through
//! `render`.

use anyhow::Context;
use relink_domain::{
    AccountId, WorkspaceId,
    deletes::{DeleteKind, DeleteRequester, SafeDeleteInput, delete_workflow_id},
    subscriptions::subscription_workflow_id,
};
use relink_runtime::{SecretString, UnipileSettings};
use relink_store::Store;
use relink_workflows::{SafeDeleteWorkflow, SubscriptionEndWorkflow};
use std::time::Duration;
use temporalio_client::{Client, errors::WorkflowInteractionError};

use crate::cli::{
    AlertsCommand, Cli, Command, DeleteArgs, DeletesCommand, ScheduleCommand, SubscriptionCommand,
    WebhooksCommand,
};
use crate::{demo, ops, render};

/// Connections the CLI holds at most (one command at a time).
const DATABASE_POOL_SIZE: u32 = 4;

/// Runs one parsed command to its end.
///
/// Errors: a setting the command needs is missing or bad, a service does not answer, or
/// the command itself failed (its message says what to do).
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx {
        database_url: cli.database_url,
        migration_database_url: cli.migration_database_url,
        temporal: cli.temporal,
        temporal_ui: cli.temporal_ui,
    };
    match cli.command {
        Command::Migrate => {
            ctx.store().await?;
            println!("migrations applied");
        }
        Command::SeedDemo { json, sim } => seed_demo(&ctx, json, sim).await?,
        Command::Schedules {
            action: ScheduleCommand::Apply {
                reconciler_interval_secs,
            },
        } => {
            let applied = ops::apply_schedules(
                &ctx.temporal().await?,
                &ctx.temporal.task_queue,
                Duration::from_secs(reconciler_interval_secs),
            )
            .await?;
            // The stale-loop alert judges each loop by its interval as applied.
            let intervals: Vec<_> = applied
                .iter()
                .map(|s| (s.id.clone(), s.every_secs))
                .collect();
            ctx.store()
                .await?
                .record_schedule_intervals(&intervals)
                .await?;
            render::schedules(&applied);
        }
        Command::Run { pass, dry_run } => {
            eprintln!(
                "running {pass:?}{} …",
                if dry_run { " (dry run)" } else { "" }
            );
            let client = ctx.temporal().await?;
            let bar = render::waiting(format!("waiting for the {pass:?} pass"));
            let result = ops::run_pass(&client, &ctx.temporal.task_queue, pass, dry_run).await;
            bar.finish_and_clear();
            let (id, summary) = result?;
            println!("workflow {id}");
            println!("{}", ctx.link(&id));
            render::json(&summary)?;
        }
        Command::PlanSends { account, days, due } => plan_sends(&ctx, account, days, due).await?,
        Command::Duplicates { unipile } => duplicates(&ctx, &unipile).await?,
        Command::Subscription { action } => match action {
            SubscriptionCommand::End {
                workspace_id,
                grace,
            } => end_subscription(&ctx, workspace_id, grace).await?,
            SubscriptionCommand::Renew { workspace_id } => {
                renew_subscription(&ctx, workspace_id).await?
            }
        },
        Command::Deletes { action } => deletes(&ctx, action).await?,
        Command::Webhooks { action } => webhooks(&ctx, action).await?,
        Command::Alerts { action } => alerts(&ctx, action).await?,
        Command::Delete(args) => delete(&ctx, args).await?,
        Command::Demo { web, sim, mail_dir } => {
            let store = ctx.store().await?;
            let seed = relink_store::seed_demo(&store).await?;
            demo::seed_sim(&reqwest::Client::new(), &sim, &seed).await?;
            println!(
                "Seeded demo workspace {} with {} accounts.",
                seed.workspace_id,
                seed.accounts.len()
            );
            let targets = demo::DemoTargets {
                web,
                sim,
                temporal_ui: ctx.temporal_ui.clone(),
                namespace: ctx.temporal.temporal_namespace.clone(),
                mail_dir,
            };
            let client = ctx.temporal().await?;
            demo::run(&store, &seed, &targets, &client, &ctx.temporal.task_queue).await?;
        }
    }
    Ok(())
}

/// What every command may connect to, opened only when it asks.
struct Ctx {
    database_url: Option<SecretString>,
    migration_database_url: Option<SecretString>,
    temporal: relink_runtime::TemporalSettings,
    temporal_ui: String,
}

impl Ctx {
    /// The database, migrated. Errors when `DATABASE_URL` is unset or unreachable.
    async fn store(&self) -> anyhow::Result<Store> {
        let url = self
            .database_url
            .as_ref()
            .context("DATABASE_URL is not set")?;
        relink_runtime::DatabaseSettings {
            database_url: url.clone(),
            migration_database_url: self.migration_database_url.clone(),
        }
        .connect_migrated(DATABASE_POOL_SIZE)
        .await
    }

    async fn temporal(&self) -> anyhow::Result<Client> {
        self.temporal.connect().await
    }

    fn link(&self, workflow_id: &str) -> String {
        render::workflow_link(
            &self.temporal_ui,
            &self.temporal.temporal_namespace,
            workflow_id,
        )
    }
}

async fn seed_demo(ctx: &Ctx, json: bool, sim: Option<String>) -> anyhow::Result<()> {
    let store = ctx.store().await?;
    let seed = relink_store::seed_demo(&store).await?;
    if let Some(sim) = sim {
        demo::seed_sim(&reqwest::Client::new(), &sim, &seed).await?;
    }
    if json {
        render::json(&seed)
    } else {
        render::demo_seed(&seed);
        Ok(())
    }
}

async fn plan_sends(ctx: &Ctx, id: AccountId, days: u32, due: u32) -> anyhow::Result<()> {
    let store = ctx.store().await?;
    let now = chrono::Utc::now();
    let settings = store.send_settings(id).await?;
    render::send_settings(id, &settings);
    for action in relink_store::ACTION_TYPES {
        let caps = store.caps(id, action).await?;
        let history = store
            .send_history(id, action, now.date_naive() - chrono::Duration::days(6))
            .await?;
        let plan = relink_domain::pacing::plan(&settings, caps, &history, due, now, days);
        render::send_plan(action.as_str(), caps, due, &plan);
    }
    Ok(())
}

async fn duplicates(ctx: &Ctx, unipile: &UnipileSettings) -> anyhow::Result<()> {
    let store = ctx.store().await?;
    let listing = unipile.client()?.list_all_accounts().await?;
    let mut by_member: std::collections::BTreeMap<&str, Vec<&relink_unipile::Account>> =
        Default::default();
    for a in &listing {
        if let Some(m) = a.linkedin_member_id() {
            by_member.entry(m).or_default().push(a);
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
            let status = s
                .source_status()
                .map(|x| x.to_string())
                .unwrap_or_else(|| "?".into());
            match store.account_by_unipile_id(&s.id).await? {
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
    for (ws, member, ids) in store.duplicate_identity_rows(None).await? {
        let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        println!(
            "workspace {ws}: rows {} hold LinkedIn identity {member}",
            ids.join(", ")
        );
    }
    Ok(())
}

async fn end_subscription(ctx: &Ctx, ws: WorkspaceId, grace: Duration) -> anyhow::Result<()> {
    let grace_secs = grace.as_secs();
    let id = ops::start_subscription_end(
        &ctx.temporal().await?,
        &ctx.temporal.task_queue,
        ws,
        grace_secs,
    )
    .await?;
    println!(
        "workflow {id}: campaigns paused (subscription_inactive); accounts disconnect after {grace_secs} s without renewal"
    );
    Ok(())
}

async fn renew_subscription(ctx: &Ctx, ws: WorkspaceId) -> anyhow::Result<()> {
    let id = subscription_workflow_id(ws);
    let sent = ctx
        .temporal()
        .await?
        .get_workflow_handle::<SubscriptionEndWorkflow>(id.clone())
        .signal(SubscriptionEndWorkflow::renew, (), Default::default())
        .await;
    match sent {
        Ok(()) => println!("renewal sent to {id}"),
        Err(WorkflowInteractionError::NotFound(_)) => {
            // The grace is over (or never started): renew directly.
            let resumed = ctx.store().await?.subscription_renew(ws).await?;
            println!(
                "no grace period running; renewed directly, {} campaigns resumed",
                resumed.len()
            );
        }
        Err(e) => anyhow::bail!("could not reach the subscription workflow {id}: {e}; try again"),
    }
    Ok(())
}

async fn alerts(ctx: &Ctx, action: AlertsCommand) -> anyhow::Result<()> {
    let store = ctx.store().await?;
    match action {
        AlertsCommand::List { open } => {
            let alerts = if open {
                store.open_alerts().await?
            } else {
                store.alerts().await?
            };
            render::json(&alerts)?;
        }
        AlertsCommand::Ack { id, operator } => {
            store
                .acknowledge_alert(id, &format!("operator:{operator}"))
                .await?;
            println!("alert {id} acknowledged by {operator}");
        }
    }
    Ok(())
}

async fn webhooks(ctx: &Ctx, action: WebhooksCommand) -> anyhow::Result<()> {
    let store = ctx.store().await?;
    match action {
        WebhooksCommand::Add {
            workspace,
            url,
            events,
        } => {
            let (endpoint, secret) = store
                .add_webhook_endpoint(workspace, url.as_str(), events.as_deref())
                .await?;
            println!("endpoint {} added for workspace {workspace}", endpoint.id);
            println!("signing secret (shown once, keep it with the receiver): {secret}");
        }
        WebhooksCommand::List { workspace } => {
            render::json(&store.webhook_endpoints(workspace).await?)?;
        }
        WebhooksCommand::Rotate { endpoint, grace } => {
            let secret = store
                .rotate_webhook_secret(endpoint, i64::try_from(grace.as_secs()).unwrap_or(0))
                .await?;
            println!(
                "new signing secret (shown once): {secret}\nthe old secret keeps signing beside it for {}",
                humantime::format_duration(grace)
            );
        }
        WebhooksCommand::Remove { endpoint } => {
            store.remove_webhook_endpoint(endpoint).await?;
            println!("endpoint {endpoint} removed");
        }
        WebhooksCommand::Deliveries { endpoint } => {
            render::json(&store.deliveries_to(endpoint).await?)?;
        }
    }
    Ok(())
}

async fn deletes(ctx: &Ctx, action: DeletesCommand) -> anyhow::Result<()> {
    match action {
        DeletesCommand::Enable {
            ttl,
            reason,
            operator,
        } => {
            let ttl = chrono::Duration::from_std(ttl)
                .map_err(|_| anyhow::anyhow!("--ttl is too long"))?;
            let flag = ctx
                .store()
                .await?
                .enable_delete_flag(ttl, &operator, &reason)
                .await?;
            println!(
                "unipile_deletes enabled until {:?} by {operator}",
                flag.expires_at
            );
        }
        DeletesCommand::Disable { operator } => {
            ctx.store().await?.disable_delete_flag(&operator).await?;
            println!("unipile_deletes disabled");
        }
        DeletesCommand::Status => {
            let store = ctx.store().await?;
            let flag = store.delete_flag().await?;
            let open = flag.as_ref().is_some_and(|f| f.is_open(chrono::Utc::now()));
            render::delete_status(flag.as_ref(), open, store.deletes_last_24h().await?);
        }
        DeletesCommand::Gates { unipile_account_id } => {
            let id = delete_workflow_id(&unipile_account_id);
            let gates = ctx
                .temporal()
                .await?
                .get_workflow_handle::<SafeDeleteWorkflow>(id.clone())
                .query(SafeDeleteWorkflow::gates, (), Default::default())
                .await
                .with_context(|| format!("no Safe delete {id}"))?;
            println!("{id}");
            render::json(&gates)?;
        }
        DeletesCommand::Cancel {
            unipile_account_id,
            operator,
        } => {
            let id = delete_workflow_id(&unipile_account_id);
            ctx.temporal()
                .await?
                .get_workflow_handle::<SafeDeleteWorkflow>(id.clone())
                .signal(SafeDeleteWorkflow::cancel, operator, Default::default())
                .await
                .with_context(|| format!("no running Safe delete {id}"))?;
            println!("cancel sent to {id}");
        }
    }
    Ok(())
}

async fn delete(ctx: &Ctx, args: DeleteArgs) -> anyhow::Result<()> {
    args.check()?;
    let (poll_spacing_secs, undo_window_secs) = (
        args.poll_spacing.as_secs().max(1),
        args.undo_window.as_secs(),
    );
    if args.short_timings {
        eprintln!(
            "SHORT TIMINGS: polls {poll_spacing_secs} s apart, undo window {undo_window_secs} s"
        );
    }
    let client = ctx.temporal().await?;
    let input = SafeDeleteInput {
        unipile_account_id: args.unipile_account_id.into(),
        requester: DeleteRequester::Operator {
            name: args.operator,
            reason: args.reason,
        },
        kind: if args.gone {
            DeleteKind::Gone
        } else {
            DeleteKind::InertDuplicate
        },
        poll_spacing_secs,
        undo_window_secs,
    };
    let requester = serde_json::to_value(&input.requester)?;
    let uid = input.unipile_account_id.to_string();
    let id = ops::start_safe_delete(&client, &ctx.temporal.task_queue, input).await?;
    // The platform hears of the request (`safe_delete.requested`) once it is running.
    ctx.store()
        .await?
        .record_safe_delete_requested(&uid, &requester)
        .await?;
    println!("workflow {id}");
    println!("{}", ctx.link(&id));
    if args.wait {
        let bar = render::waiting(format!("Safe delete {id}: gates running"));
        let outcome = client
            .get_workflow_handle::<SafeDeleteWorkflow>(id)
            .get_result(Default::default())
            .await;
        bar.finish_and_clear();
        render::json(&outcome?)?;
    } else {
        println!(
            "gates are running; `starter deletes cancel <id>` stops it during the undo window"
        );
    }
    Ok(())
}
