//! The email sender as a workflow: one pass per run, started every minute by its
//! Schedule (or by `starter run email-sender`), so the Temporal UI shows each pass with
//! what it sent and what failed.

use relink_domain::emails::{EmailPassInput, EmailPassSummary};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

use crate::activities::{RelinkActivities, pass_activity, run_time_left};

/// Email sender: delivers the due reconnect emails over SMTP.
#[workflow]
#[derive(Default)]
pub struct EmailSenderWorkflow;

#[workflow_methods]
impl EmailSenderWorkflow {
    /// One pass; returns what it sent.
    #[run(name = "EmailSender")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: EmailPassInput,
    ) -> WorkflowResult<EmailPassSummary> {
        Ok(ctx
            .execute_activity(
                RelinkActivities::send_due_emails,
                input,
                pass_activity(run_time_left(ctx)),
            )
            .await?)
    }
}
