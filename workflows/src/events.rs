//! The event delivery and the alert notifier as workflows: one pass per run, started by
//! their Schedules (every 10 s and 30 s) or by `starter run event-delivery|alert-notifier`,
//! so the Temporal UI shows each pass with what it delivered, failed or gave up.

use relink_domain::alerts::{AlertPassInput, AlertPassSummary};
use relink_domain::events::{EventPassInput, EventPassSummary};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

use crate::activities::{RelinkActivities, pass_activity, run_time_left};

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
            .execute_activity(
                RelinkActivities::deliver_due_events,
                input,
                pass_activity(run_time_left(ctx)),
            )
            .await?)
    }
}

/// Alert notifier: posts the new admin alerts to the operator channel.
#[workflow]
#[derive(Default)]
pub struct AlertNotifierWorkflow;

#[workflow_methods]
impl AlertNotifierWorkflow {
    /// One pass; returns what it sent, suppressed and skipped as healed.
    #[run(name = "AlertNotifier")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: AlertPassInput,
    ) -> WorkflowResult<AlertPassSummary> {
        Ok(ctx
            .execute_activity(
                RelinkActivities::notify_alerts,
                input,
                pass_activity(run_time_left(ctx)),
            )
            .await?)
    }
}
