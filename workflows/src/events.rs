//! The event delivery as a workflow: one pass per run, started every 10 seconds by its
//! Schedule (or by `starter run event-delivery`), so the Temporal UI shows each pass
//! with what it delivered, what failed and what was given up.

use relink_domain::events::{EventPassInput, EventPassSummary};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

use crate::activities::{RelinkActivities, pass_activity};

/// Event delivery: posts the due outbound events to their webhook endpoints.
#[workflow]
#[derive(Default)]
pub struct EventDeliveryWorkflow;

#[workflow_methods]
impl EventDeliveryWorkflow {
    /// One pass; returns what it delivered.
    #[run(name = "EventDelivery")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: EventPassInput,
    ) -> WorkflowResult<EventPassSummary> {
        Ok(ctx
            .execute_activity(RelinkActivities::deliver_due_events, input, pass_activity())
            .await?)
    }
}
