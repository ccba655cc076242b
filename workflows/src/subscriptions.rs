//! Subscription end, id `subscription-end:<workspace_id>` (DESIGN.md, "Subscription
//! end"): campaigns get `subscription_inactive` and nothing is destroyed; a renewal
//! (signal `renew`) within the durable grace period removes the reason and ends the run;
//! without one, the workspace's accounts become `disconnected` (audited). Nothing is
//! deleted on this path; Unipile cleanup goes through Safe delete, asked separately.

use relink_domain::subscriptions::{SubscriptionEndInput, SubscriptionOutcome};
use std::time::Duration;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult, workflows::select,
};

use crate::activities::{RelinkActivities, db_activity};

/// Subscription end state.
#[workflow]
pub struct SubscriptionEndWorkflow {
    input: SubscriptionEndInput,
    renewed: bool,
}

#[workflow_methods]
impl SubscriptionEndWorkflow {
    /// Keeps the input.
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: SubscriptionEndInput) -> Self {
        Self {
            input,
            renewed: false,
        }
    }

    /// Pauses, waits for renewal or the end of the grace, then resumes or disconnects.
    #[run(name = "SubscriptionEnd")]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<SubscriptionOutcome> {
        let input = ctx.state(|s| s.input.clone());
        ctx.execute_activity(
            RelinkActivities::subscription_ended,
            input.workspace_id,
            db_activity(),
        )
        .await?;
        select! {
            _ = ctx.timer(Duration::from_secs(input.grace_secs)) => {}
            _ = ctx.wait_condition(|s| s.renewed) => {}
        };
        if ctx.state(|s| s.renewed) {
            let n = ctx
                .execute_activity(
                    RelinkActivities::subscription_renewed,
                    input.workspace_id,
                    db_activity(),
                )
                .await?;
            return Ok(SubscriptionOutcome::Renewed {
                campaigns_resumed: n,
            });
        }
        let accounts = ctx
            .execute_activity(
                RelinkActivities::disconnect_workspace,
                input.workspace_id,
                db_activity(),
            )
            .await?;
        if ctx.state(|s| s.renewed) {
            // Renewed while the accounts were being disconnected: the renewal still counts
            // (campaigns lose `subscription_inactive`; the accounts need a reconnect).
            ctx.execute_activity(
                RelinkActivities::subscription_renewed,
                input.workspace_id,
                db_activity(),
            )
            .await?;
        }
        Ok(SubscriptionOutcome::Disconnected { accounts })
    }

    /// The subscription was renewed.
    #[signal]
    pub fn renew(&mut self, _ctx: &mut SyncWorkflowContext<Self>) {
        self.renewed = true;
    }
}
