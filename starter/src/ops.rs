//! Operator commands: applying the Schedules and running one healing pass now.

use anyhow::Context;
use relink_domain::alerts::{ALERT_NOTIFIER, ALERT_NOTIFIER_INTERVAL_SECS, AlertPassInput};
use relink_domain::emails::{EMAIL_SENDER, EMAIL_SENDER_INTERVAL_SECS, EmailPassInput};
use relink_domain::events::{EVENT_DELIVERY, EVENT_DELIVERY_INTERVAL_SECS, EventPassInput};
use relink_domain::healing::{
    ACCOUNT_RECONCILER, CAMPAIGN_SWEEPER, ORPHAN_WATCHER, OrphanPassInput, ReconcileInput,
    SweepInput,
};
use relink_workflows::{
    AccountReconcilerWorkflow, AlertNotifierWorkflow, CampaignSweeperWorkflow, EmailSenderWorkflow,
    EventDeliveryWorkflow, OrphanWatcherWorkflow,
};
use std::time::Duration;
use temporalio_client::{
    Client, WorkflowGetResultOptions, WorkflowStartOptions,
    schedules::{
        CreateScheduleOptions, ScheduleAction, ScheduleError, ScheduleOverlapPolicy, ScheduleSpec,
    },
};

/// What `schedules apply` did to one schedule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppliedSchedule {
    /// Schedule id.
    pub id: String,
    /// Interval.
    pub every_secs: u64,
    /// Catch-up window.
    pub catchup_window_secs: u64,
    /// The execution timeout of each run it starts (shorter than the interval).
    pub execution_timeout_secs: u64,
    /// `created` or `updated`.
    pub change: String,
}

/// Catch-up window for a schedule firing every `every`: just under one interval, so
/// that after an outage of any length at most one missed run falls inside it (at
/// least the server's 10 s minimum).
pub fn catchup_window(every: Duration) -> Duration {
    every
        .saturating_sub(Duration::from_secs(1))
        .max(Duration::from_secs(10))
}

/// The execution timeout of a scheduled pass that runs every `every`: nine tenths of
/// the interval (at least 5 s), so that a hung pass ends before the next one is due and
/// the Schedule (overlap Skip) never stalls behind it. Each pass reads its own deadline
/// from it and stops taking work before it (`relink_workflows::activities::pass_activity`),
/// so a run normally completes instead of timing out; the README's "Known gaps" says what
/// a run cut anyway (e.g. a listing slower than the budget) can leave undone.
pub fn execution_timeout(every: Duration) -> Duration {
    (every * 9 / 10).max(Duration::from_secs(5))
}

/// Sets the workflow execution timeout of the runs Schedule `id` starts. The SDK's
/// `ScheduleAction` has no field for it, so this reads the Schedule and writes it back
/// over the raw `UpdateSchedule` call, with the read's conflict token.
async fn set_execution_timeout(client: &Client, id: &str, timeout: Duration) -> anyhow::Result<()> {
    use temporalio_client::NamespacedClient;
    use temporalio_common::protos::temporal::api::{
        schedule::v1::schedule_action::Action, workflowservice::v1::UpdateScheduleRequest,
    };
    let desc = client
        .get_schedule_handle(id)
        .describe(Default::default())
        .await?;
    let raw = desc.raw().clone();
    let mut schedule = raw.schedule.context("the Schedule has no definition")?;
    let Some(Action::StartWorkflow(start)) =
        schedule.action.as_mut().and_then(|a| a.action.as_mut())
    else {
        anyhow::bail!("the Schedule does not start a workflow");
    };
    start.workflow_execution_timeout = Some(
        timeout
            .try_into()
            .map_err(|e| anyhow::anyhow!("timeout {timeout:?}: {e:?}"))?,
    );
    client
        .connection()
        .workflow_service()
        .update_schedule(temporalio_client::tonic::Request::new(
            UpdateScheduleRequest {
                namespace: client.namespace(),
                schedule_id: id.to_string(),
                schedule: Some(schedule),
                conflict_token: raw.conflict_token,
                identity: "relink-starter".into(),
                request_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            },
        ))
        .await?;
    Ok(())
}

fn action(id: &str, task_queue: &str) -> ScheduleAction {
    match id {
        ORPHAN_WATCHER => ScheduleAction::start_workflow(
            OrphanWatcherWorkflow::run,
            OrphanPassInput::default(),
            task_queue,
            id,
        ),
        EMAIL_SENDER => ScheduleAction::start_workflow(
            EmailSenderWorkflow::run,
            EmailPassInput::default(),
            task_queue,
            id,
        ),
        EVENT_DELIVERY => ScheduleAction::start_workflow(
            EventDeliveryWorkflow::run,
            EventPassInput::default(),
            task_queue,
            id,
        ),
        ALERT_NOTIFIER => ScheduleAction::start_workflow(
            AlertNotifierWorkflow::run,
            AlertPassInput::default(),
            task_queue,
            id,
        ),
        CAMPAIGN_SWEEPER => ScheduleAction::start_workflow(
            CampaignSweeperWorkflow::run,
            SweepInput::default(),
            task_queue,
            id,
        ),
        _ => ScheduleAction::start_workflow(
            AccountReconcilerWorkflow::run,
            ReconcileInput::default(),
            task_queue,
            id,
        ),
    }
}

/// Creates or updates, idempotently, the Schedules `orphan-watcher` (hourly),
/// `campaign-sweeper` (every 5 min), `account-reconciler` (every `reconciler_every`)
/// `email-sender` (every minute), `event-delivery` (every 10 s) and `alert-notifier`
/// (every 30 s), each with overlap
/// policy Skip and a catch-up window of just under one interval (at least 10 s).
pub async fn apply_schedules(
    client: &Client,
    task_queue: &str,
    reconciler_every: Duration,
) -> anyhow::Result<Vec<AppliedSchedule>> {
    let specs = [
        (ORPHAN_WATCHER, Duration::from_secs(3600)),
        (CAMPAIGN_SWEEPER, Duration::from_secs(300)),
        (ACCOUNT_RECONCILER, reconciler_every),
        (
            EMAIL_SENDER,
            Duration::from_secs(EMAIL_SENDER_INTERVAL_SECS),
        ),
        (
            EVENT_DELIVERY,
            Duration::from_secs(EVENT_DELIVERY_INTERVAL_SECS),
        ),
        (
            ALERT_NOTIFIER,
            Duration::from_secs(ALERT_NOTIFIER_INTERVAL_SECS),
        ),
    ];
    let mut out = Vec::new();
    for (id, every) in specs {
        let window = catchup_window(every);
        let created = client
            .create_schedule(
                id,
                CreateScheduleOptions::builder()
                    .action(action(id, task_queue))
                    .spec(ScheduleSpec::from_interval(every))
                    .overlap_policy(ScheduleOverlapPolicy::Skip)
                    .build(),
            )
            .await;
        let change = match created {
            Ok(_) => "created",
            Err(ScheduleError::Rpc(s))
                if s.code() == temporalio_client::tonic::Code::AlreadyExists =>
            {
                "updated"
            }
            Err(e) => return Err(e).with_context(|| format!("creating schedule {id}")),
        };
        let tq = task_queue.to_string();
        let sid = id.to_string();
        client
            .get_schedule_handle(id)
            .update(
                move |u| {
                    u.set_spec(ScheduleSpec::from_interval(every))
                        .set_action(action(&sid, &tq))
                        .set_overlap_policy(ScheduleOverlapPolicy::Skip)
                        .set_catchup_window(window);
                },
                Default::default(),
            )
            .await
            .with_context(|| format!("updating schedule {id}"))?;
        let timeout = execution_timeout(every);
        set_execution_timeout(client, id, timeout)
            .await
            .with_context(|| format!("setting the execution timeout of schedule {id}"))?;
        out.push(AppliedSchedule {
            id: id.into(),
            every_secs: every.as_secs(),
            catchup_window_secs: window.as_secs(),
            execution_timeout_secs: timeout.as_secs(),
            change: change.into(),
        });
    }
    Ok(out)
}

/// Which pass `starter run` starts.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Pass {
    /// The orphan watcher.
    OrphanWatcher,
    /// The campaign resume sweeper.
    CampaignSweeper,
    /// The account reconciler.
    AccountReconciler,
    /// The email sender.
    EmailSender,
    /// The outbound-event delivery.
    EventDelivery,
    /// The alert notifier.
    AlertNotifier,
}

/// Starts one orphan-watcher pass now with `input` (e.g. a shorter "stuck linking"
/// threshold for the demo), waits for it and returns its workflow id and summary.
pub async fn run_orphan_watcher(
    client: &Client,
    task_queue: &str,
    input: OrphanPassInput,
) -> anyhow::Result<(String, relink_domain::healing::OrphanPassSummary)> {
    let id = format!("{ORPHAN_WATCHER}-manual-{}", uuid::Uuid::new_v4().simple());
    let h = client
        .start_workflow(
            OrphanWatcherWorkflow::run,
            input,
            WorkflowStartOptions::new(task_queue.to_string(), id.clone()).build(),
        )
        .await?;
    Ok((id, h.get_result(WorkflowGetResultOptions::default()).await?))
}

/// Starts one pass now as a workflow (`<schedule id>-manual-<uuid>`, visible in the UI),
/// waits for it and returns its workflow id and JSON summary.
pub async fn run_pass(
    client: &Client,
    task_queue: &str,
    pass: Pass,
    dry_run: bool,
) -> anyhow::Result<(String, serde_json::Value)> {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let opts = |base: &str| {
        WorkflowStartOptions::new(task_queue.to_string(), format!("{base}-manual-{suffix}")).build()
    };
    let get = WorkflowGetResultOptions::default;
    let (id, summary) = match pass {
        Pass::OrphanWatcher => {
            let h = client
                .start_workflow(
                    OrphanWatcherWorkflow::run,
                    OrphanPassInput::default(),
                    opts(ORPHAN_WATCHER),
                )
                .await?;
            (
                format!("{ORPHAN_WATCHER}-manual-{suffix}"),
                serde_json::to_value(h.get_result(get()).await?)?,
            )
        }
        Pass::CampaignSweeper => {
            let h = client
                .start_workflow(
                    CampaignSweeperWorkflow::run,
                    SweepInput::default(),
                    opts(CAMPAIGN_SWEEPER),
                )
                .await?;
            (
                format!("{CAMPAIGN_SWEEPER}-manual-{suffix}"),
                serde_json::to_value(h.get_result(get()).await?)?,
            )
        }
        Pass::EmailSender => {
            let h = client
                .start_workflow(
                    EmailSenderWorkflow::run,
                    EmailPassInput::default(),
                    opts(EMAIL_SENDER),
                )
                .await?;
            (
                format!("{EMAIL_SENDER}-manual-{suffix}"),
                serde_json::to_value(h.get_result(get()).await?)?,
            )
        }
        Pass::AlertNotifier => {
            let h = client
                .start_workflow(
                    AlertNotifierWorkflow::run,
                    AlertPassInput::default(),
                    opts(ALERT_NOTIFIER),
                )
                .await?;
            (
                format!("{ALERT_NOTIFIER}-manual-{suffix}"),
                serde_json::to_value(h.get_result(get()).await?)?,
            )
        }
        Pass::EventDelivery => {
            let h = client
                .start_workflow(
                    EventDeliveryWorkflow::run,
                    EventPassInput::default(),
                    opts(EVENT_DELIVERY),
                )
                .await?;
            (
                format!("{EVENT_DELIVERY}-manual-{suffix}"),
                serde_json::to_value(h.get_result(get()).await?)?,
            )
        }
        Pass::AccountReconciler => {
            let h = client
                .start_workflow(
                    AccountReconcilerWorkflow::run,
                    ReconcileInput { dry_run },
                    opts(ACCOUNT_RECONCILER),
                )
                .await?;
            (
                format!("{ACCOUNT_RECONCILER}-manual-{suffix}"),
                serde_json::to_value(h.get_result(get()).await?)?,
            )
        }
    };
    Ok((id, summary))
}

/// Starts (or joins: a second request for the same account joins the running one) the
/// Safe delete of one Unipile account. Returns the workflow id.
pub async fn start_safe_delete(
    client: &Client,
    task_queue: &str,
    input: relink_domain::deletes::SafeDeleteInput,
) -> anyhow::Result<String> {
    let id = relink_domain::deletes::delete_workflow_id(&input.unipile_account_id);
    let opts = WorkflowStartOptions::new(task_queue.to_string(), id.clone())
        .id_conflict_policy(temporalio_client::WorkflowIdConflictPolicy::UseExisting)
        .id_reuse_policy(temporalio_client::WorkflowIdReusePolicy::AllowDuplicate)
        .build();
    client
        .start_workflow(relink_workflows::SafeDeleteWorkflow::run, input, opts)
        .await?;
    Ok(id)
}

/// Starts (or joins) the subscription end of workspace `ws`: its campaigns pause now and
/// its accounts disconnect after `grace_secs` without a renewal. Returns the workflow id
/// (`subscription-end:<workspace_id>`).
pub async fn start_subscription_end(
    client: &Client,
    task_queue: &str,
    ws: relink_domain::WorkspaceId,
    grace_secs: u64,
) -> anyhow::Result<String> {
    let id = relink_domain::subscriptions::subscription_workflow_id(ws);
    let opts = WorkflowStartOptions::new(task_queue.to_string(), id.clone())
        .id_conflict_policy(temporalio_client::WorkflowIdConflictPolicy::UseExisting)
        .build();
    client
        .start_workflow(
            relink_workflows::SubscriptionEndWorkflow::run,
            relink_domain::subscriptions::SubscriptionEndInput {
                workspace_id: ws,
                grace_secs,
            },
            opts,
        )
        .await?;
    Ok(id)
}
