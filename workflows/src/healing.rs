//! The healing loops as workflows: each pass is one activity (so the Temporal UI shows
//! its input, result and retries), started by a Schedule or by `starter run`.

use relink_domain::deletes::{DeleteKind, DeleteRequester, SafeDeleteInput, delete_workflow_id};
use relink_domain::healing::{
    AccountStatusSyncInput, OrphanPassInput, OrphanPassSummary, ReconcileInput, ReconcileReport,
    SweepInput, SweepSummary, SyncResult,
};
use std::time::Duration;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ChildWorkflowOptions, ContinueAsNewOptions, ParentClosePolicy, SyncWorkflowContext,
    WorkflowContext, WorkflowContextView, WorkflowResult, workflows::select,
};

use crate::{
    SafeDeleteWorkflow,
    activities::{RelinkActivities, background_unipile_activity, pass_activity, run_time_left},
};

/// Orphan watcher: relinks rows left `connecting` whose session is live on Unipile.
#[workflow]
#[derive(Default)]
pub struct OrphanWatcherWorkflow;

#[workflow_methods]
impl OrphanWatcherWorkflow {
    /// One pass; returns its summary.
    #[run(name = "OrphanWatcher")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: OrphanPassInput,
    ) -> WorkflowResult<OrphanPassSummary> {
        Ok(ctx
            .execute_activity(
                RelinkActivities::orphan_pass,
                input,
                pass_activity(run_time_left(ctx)),
            )
            .await?)
    }
}

/// Campaign resume sweeper: the backstop behind the resume in the relink transaction.
#[workflow]
#[derive(Default)]
pub struct CampaignSweeperWorkflow;

#[workflow_methods]
impl CampaignSweeperWorkflow {
    /// One pass; returns its totals.
    #[run(name = "CampaignSweeper")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: SweepInput,
    ) -> WorkflowResult<SweepSummary> {
        Ok(ctx
            .execute_activity(
                RelinkActivities::sweep_campaigns,
                input,
                pass_activity(run_time_left(ctx)),
            )
            .await?)
    }
}

/// Account reconciler: compares every linked row with Unipile's complete listing.
#[workflow]
#[derive(Default)]
pub struct AccountReconcilerWorkflow;

#[workflow_methods]
impl AccountReconcilerWorkflow {
    /// One pass; returns its plan and what it applied. For every row it tore down
    /// because its Unipile account is gone, it requests a Safe delete (a child workflow
    /// that outlives the pass; all six gates apply, and one already running is joined).
    #[run(name = "AccountReconciler")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: ReconcileInput,
    ) -> WorkflowResult<ReconcileReport> {
        let report = ctx
            .execute_activity(
                RelinkActivities::reconcile_pass,
                input,
                pass_activity(run_time_left(ctx)),
            )
            .await?;
        for uid in &report.delete_requests {
            let request = SafeDeleteInput {
                unipile_account_id: uid.clone().into(),
                requester: DeleteRequester::Reconciler {
                    reason: relink_domain::deletes::RECONCILER_DELETE_REASON.into(),
                },
                kind: DeleteKind::Gone,
                poll_spacing_secs: relink_domain::deletes::RECONCILER_POLL_SPACING_SECS,
                undo_window_secs: relink_domain::deletes::RECONCILER_UNDO_WINDOW_SECS,
            };
            let opts = ChildWorkflowOptions::builder()
                .workflow_id(delete_workflow_id(uid))
                .parent_close_policy(ParentClosePolicy::Abandon)
                .build();
            // Already running for this account (or refused): that run stands.
            let _ = ctx
                .start_child_workflow(SafeDeleteWorkflow::run, request, opts)
                .await;
        }
        Ok(report)
    }
}

/// The patch id guarding [`AccountStatusSyncWorkflow`]'s continue-as-new
/// (`WorkflowContext::patched`).
pub const SYNC_CONTINUE_AS_NEW_PATCH: &str = "account-status-sync-continue-as-new";

/// Account-status sync, id `account-status:<unipile_account_id>`, started by the
/// account-status webhook with signal-with-start. Webhooks arrive late, twice or out of
/// order and carry no event id, so each one only says "look again": the run re-reads
/// the account from Unipile and applies what it finds, and looks once more for every
/// poke that arrived meanwhile. Duplicates collapse; the last read wins.
#[workflow]
pub struct AccountStatusSyncWorkflow {
    input: AccountStatusSyncInput,
    pokes: u64,
}

#[workflow_methods]
impl AccountStatusSyncWorkflow {
    /// Keeps the input.
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: AccountStatusSyncInput) -> Self {
        Self { input, pokes: 0 }
    }

    /// Syncs until no poke is pending; returns the last sync's result. A blip
    /// (`ERROR`/`STOPPED`) is then watched on a durable timer: if no webhook arrives
    /// within the tolerance, the blip check runs (a later webhook restarts the loop).
    /// After `continue_as_new_after` activities the run continues as new with the same
    /// input: the next run begins with a sync, which covers every poke still pending.
    #[run(name = "AccountStatusSync")]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<SyncResult> {
        let mut activities: u32 = 0;
        loop {
            let seen = ctx.state(|s| s.pokes);
            let input = ctx.state(|s| s.input.clone());
            // Versioned: runs recorded before this change replay without the marker and
            // keep looping; new runs record it (see README, "Changing a deployed
            // workflow").
            if activities >= input.continue_as_new_after.max(1)
                && ctx.patched(SYNC_CONTINUE_AS_NEW_PATCH)
            {
                ctx.continue_as_new(input.clone(), ContinueAsNewOptions::default())?;
            }
            let result = ctx
                .execute_activity(
                    RelinkActivities::sync_account_status,
                    input.clone(),
                    background_unipile_activity(),
                )
                .await?;
            activities += 1;
            if ctx.state(|s| s.pokes) != seen {
                continue;
            }
            if !result.is_blip() {
                return Ok(result);
            }
            let tolerance = Duration::from_secs(input.blip_tolerance_secs.max(1));
            let mut poked = false;
            select! {
                _ = ctx.timer(tolerance) => {}
                _ = ctx.wait_condition(move |s| s.pokes != seen) => { poked = true; }
            };
            if poked {
                continue;
            }
            ctx.execute_activity(
                RelinkActivities::check_blip,
                input,
                background_unipile_activity(),
            )
            .await?;
            activities += 1;
            if ctx.state(|s| s.pokes) == seen {
                return Ok(result);
            }
        }
    }

    /// A webhook arrived for this account.
    #[signal]
    pub fn poke(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _message: String) {
        self.pokes += 1;
    }
}
