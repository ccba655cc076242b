//! Replay: every history saved under `tests/histories/` (recorded by `./dev histories`
//! from the scenario tests) replays against the current workflow code, as the new
//! worker of a deploy replays the runs in flight. A deliberately changed copy of a
//! workflow fails with a nondeterminism error, so the check is real.

use relink_domain::healing::{OrphanPassInput, OrphanPassSummary};
use relink_workflows::{
    AccountReconcilerWorkflow, AccountStatusSyncWorkflow, AlertNotifierWorkflow,
    CampaignSweeperWorkflow, EmailSenderWorkflow, EventDeliveryWorkflow, OrphanWatcherWorkflow,
    ReconnectWorkflow, SafeDeleteWorkflow, SubscriptionEndWorkflow,
    activities::{RelinkActivities, pass_activity},
};
use std::path::PathBuf;
use std::time::Duration;
use temporalio_client::WorkflowHistory;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::workflow_replayer::{
    WorkflowReplayError, WorkflowReplayFailure, WorkflowReplayer, WorkflowReplayerOptions,
};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

/// The situations that must keep replaying (`<name>.json` each).
const REQUIRED: &[&str] = &[
    "reconnect_link_then_callback",
    "reconnect_dedup_clicks",
    "reconnect_expiry_with_live_session",
    "reconnect_expiry_abandoned",
    // Frozen (never re-recorded): a run from before link references, which carried the
    // token and url in history; today's code still replays it.
    "reconnect_before_link_refs",
    // Frozen: a run from before the link's steps became local activities (the
    // `reconnect-link-local-activities` patch returns false on it).
    "reconnect_before_local_activities",
    "account_status_sync_blip",
    "account_status_sync_continued_as_new",
    "account_status_sync_last_run",
    "orphan_watcher_relinked",
    "campaign_sweeper",
    "account_reconciler_applied",
    "account_reconciler_gated",
    "safe_delete_deleted",
    "safe_delete_blocked",
    "safe_delete_parked_between_polls",
    "subscription_end_renewed",
    "subscription_end_expired",
    "event_delivery_deadline",
    "email_sender_sent",
    "alert_notifier_sent",
];

fn histories_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("histories")
}

fn history(name: &str) -> WorkflowHistory {
    let path = histories_dir().join(format!("{name}.json"));
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run ./dev histories)", path.display()));
    WorkflowHistory::from_json(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every relink workflow, as the worker registers them.
fn current_code() -> WorkflowReplayer {
    let options = WorkflowReplayerOptions::new()
        .register_workflow::<ReconnectWorkflow>()
        .and_then(|o| o.register_workflow::<OrphanWatcherWorkflow>())
        .and_then(|o| o.register_workflow::<CampaignSweeperWorkflow>())
        .and_then(|o| o.register_workflow::<AccountReconcilerWorkflow>())
        .and_then(|o| o.register_workflow::<AccountStatusSyncWorkflow>())
        .and_then(|o| o.register_workflow::<SafeDeleteWorkflow>())
        .and_then(|o| o.register_workflow::<SubscriptionEndWorkflow>())
        .and_then(|o| o.register_workflow::<EmailSenderWorkflow>())
        .and_then(|o| o.register_workflow::<EventDeliveryWorkflow>())
        .and_then(|o| o.register_workflow::<AlertNotifierWorkflow>())
        .unwrap()
        .build();
    WorkflowReplayer::new(options).unwrap()
}

#[tokio::test]
async fn every_saved_history_replays_against_the_current_code() {
    let replayer = current_code();
    let results = replayer
        .replay_workflows(REQUIRED.iter().map(|n| history(n)))
        .await
        .unwrap();
    assert_eq!(results.len(), REQUIRED.len());
    let failed: Vec<_> = REQUIRED
        .iter()
        .zip(&results)
        .filter_map(|(n, r)| r.replay_failure.as_ref().map(|f| format!("{n}: {f}")))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

/// `OrphanWatcher` as a careless change would make it: a timer before the pass.
#[workflow]
#[derive(Default)]
struct ChangedOrphanWatcher;

#[workflow_methods]
impl ChangedOrphanWatcher {
    #[run(name = "OrphanWatcher")]
    async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: OrphanPassInput,
    ) -> WorkflowResult<OrphanPassSummary> {
        ctx.timer(Duration::from_secs(1)).await;
        Ok(ctx
            .execute_activity(RelinkActivities::orphan_pass, input, pass_activity(None))
            .await?)
    }
}

#[tokio::test]
async fn a_changed_workflow_fails_replay_with_a_nondeterminism_error() {
    let changed = WorkflowReplayer::new(
        WorkflowReplayerOptions::new()
            .register_workflow::<ChangedOrphanWatcher>()
            .unwrap()
            .build(),
    )
    .unwrap();
    let err = changed
        .replay_workflow(history("orphan_watcher_relinked"))
        .await
        .expect_err("a changed command sequence does not replay");
    assert!(
        matches!(
            err,
            WorkflowReplayError::Replay(WorkflowReplayFailure::Nondeterminism { .. })
        ),
        "{err:?}"
    );
    // The same history replays against the real code.
    current_code()
        .replay_workflow(history("orphan_watcher_relinked"))
        .await
        .unwrap();
}
