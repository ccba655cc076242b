//! Safe delete, id `unipile-delete:<unipile_account_id>`: the only path to a Unipile
//! `DELETE` (DESIGN.md, "Safe delete"). Gates run in order and any one stops it: env
//! kill switches, three polls on durable timers spaced by at least the poll spacing as
//! recorded by the activity itself, an undo window (`cancel` signal), then the env,
//! the DB flag and the 24 h hard cap re-checked right before the call. The `gates`
//! query shows every gate's state while it runs; the result names the outcome.

use chrono::Duration as ChronoDuration;
use relink_domain::deletes::{
    DeleteGate, DeleteGates, DeleteOutcome, EnvCheck, ExecuteDeleteInput, GateState,
    RecordDeleteInput, SafeDeleteInput,
};
use std::time::Duration;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult, workflows::select,
};

use crate::activities::{
    RelinkActivities, db_activity, delete_activity, interactive_unipile_activity,
};

/// Safe delete state.
#[workflow]
pub struct SafeDeleteWorkflow {
    input: SafeDeleteInput,
    gates: DeleteGates,
    cancelled: Option<String>,
}

#[workflow_methods]
impl SafeDeleteWorkflow {
    /// Keeps the input.
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: SafeDeleteInput) -> Self {
        // Gate 2 is decided by the pass that requests deletes (the reconciler requests
        // none when too many would go); a run exists only once it passed.
        let gates = DeleteGates {
            sanity: GateState::Passed,
            ..DeleteGates::default()
        };
        Self {
            input,
            gates,
            cancelled: None,
        }
    }

    /// Runs the gates and, when all pass, the DELETE.
    #[run(name = "SafeDelete")]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<DeleteOutcome> {
        let input = ctx.state(|s| s.input.clone());
        // Gate 1. An activity that cannot answer blocks too: every attempt ends recorded.
        let env = ctx
            .execute_activity(
                RelinkActivities::delete_env_check,
                input.requester.clone(),
                db_activity(),
            )
            .await
            .unwrap_or_else(|e| EnvCheck::Legacy(Some(format!("the env check failed: {e}"))));
        if let Some(why) = env.blocked() {
            return Self::stop(ctx, DeleteGate::Env, why).await;
        }
        ctx.state_mut(|s| s.gates.env = GateState::Passed);
        // The poll spacing and the undo window never go below the worker's floors
        // (60 s each by default), whoever started this run and with what input.
        let (poll_spacing_secs, undo_window_secs) = env.timings(&input);

        // Gate 3: three observations, each at least `spacing` after the previous one as
        // the activity recorded it; late timers after an outage cannot compress them.
        let spacing = ChronoDuration::seconds(poll_spacing_secs as i64);
        let mut last_at = None;
        let mut seen = 0;
        let mut early = 0;
        while seen < 3 {
            if last_at.is_some() {
                ctx.timer(Duration::from_secs(poll_spacing_secs)).await;
            }
            let obs = match ctx
                .execute_activity(
                    RelinkActivities::delete_poll,
                    input.unipile_account_id.clone(),
                    interactive_unipile_activity(),
                )
                .await
            {
                Ok(o) => o,
                Err(e) => {
                    return Self::stop(
                        ctx,
                        DeleteGate::Polls,
                        format!("poll {} failed: {e}", seen + 1),
                    )
                    .await;
                }
            };
            // Every observation counts against the delete; only a good one that came too
            // early (by the activity's clock) fails to count toward the three.
            let ok = obs.result.counts_for(input.kind, obs.referenced);
            let detail = format!(
                "poll {} observed {}{}",
                seen + 1,
                obs.result,
                if obs.referenced {
                    " (referenced by a row)"
                } else {
                    ""
                }
            );
            let too_early = last_at.is_some_and(|prev| obs.at - prev < spacing);
            ctx.state_mut(|s| s.gates.observations.push(obs.clone()));
            if !ok {
                return Self::stop(ctx, DeleteGate::Polls, detail).await;
            }
            if too_early {
                early += 1;
                if early > 5 {
                    return Self::stop(
                        ctx,
                        DeleteGate::Polls,
                        "polls keep landing too early by the activity's clock".into(),
                    )
                    .await;
                }
                continue;
            }
            last_at = Some(obs.at);
            seen += 1;
        }
        ctx.state_mut(|s| s.gates.polls = GateState::Passed);

        // Undo window.
        select! {
            _ = ctx.timer(Duration::from_secs(undo_window_secs)) => {}
            _ = ctx.wait_condition(|s| s.cancelled.is_some()) => {}
        };
        if let Some(who) = ctx.state(|s| s.cancelled.clone()) {
            ctx.state_mut(|s| s.gates.undo = GateState::Blocked(format!("cancelled by {who}")));
            Self::record(ctx, DeleteOutcome::Cancelled).await?;
            return Ok(DeleteOutcome::Cancelled);
        }
        ctx.state_mut(|s| s.gates.undo = GateState::Passed);

        // Gates 1, 5 and 4 again, intent, DELETE.
        let exec = ExecuteDeleteInput {
            request: input,
            workflow_id: ctx.workflow_id().to_string(),
            run_id: ctx.run_id().to_string(),
            gates: ctx.state(|s| s.gates.clone()),
        };
        let outcome = match ctx
            .execute_activity(RelinkActivities::execute_delete, exec, delete_activity())
            .await
        {
            Ok(o) => o,
            Err(e) => {
                // Out of retries (Unipile refusing the DELETE, or down for an hour): the
                // intent may already count; record the failed attempt.
                return Self::stop(
                    ctx,
                    DeleteGate::DeleteCall,
                    format!("the DELETE step failed: {e}"),
                )
                .await;
            }
        };
        ctx.state_mut(|s| s.gates.record(&outcome));
        Ok(outcome)
    }

    async fn stop(
        ctx: &mut WorkflowContext<Self>,
        gate: DeleteGate,
        detail: String,
    ) -> WorkflowResult<DeleteOutcome> {
        ctx.state_mut(|s| s.gates.block(gate, detail.clone()));
        let outcome = DeleteOutcome::Blocked { gate, detail };
        Self::record(ctx, outcome.clone()).await?;
        Ok(outcome)
    }

    async fn record(ctx: &mut WorkflowContext<Self>, outcome: DeleteOutcome) -> WorkflowResult<()> {
        let (request, gates) = ctx.state(|s| (s.input.clone(), s.gates.clone()));
        ctx.execute_activity(
            RelinkActivities::record_delete,
            RecordDeleteInput {
                request,
                outcome,
                gates,
            },
            db_activity(),
        )
        .await?;
        Ok(())
    }

    /// `starter deletes cancel <id>`: stops the delete if it is still in its undo window
    /// (or before); has no effect once the DELETE step has begun.
    #[signal]
    pub fn cancel(&mut self, _ctx: &mut SyncWorkflowContext<Self>, operator: String) {
        if self.cancelled.is_none() {
            self.cancelled = Some(operator);
        }
    }

    /// Every gate's state.
    #[query]
    pub fn gates(&self, _ctx: &WorkflowContextView) -> DeleteGates {
        self.gates.clone()
    }
}
