//! Activity declarations: the typed contract between workflow code and the
//! `activities` crate (which implements each with `#[activity(definition = ...)]`),
//! plus the named timeout/retry options every call uses.

#![allow(clippy::unused_async)]

use relink_domain::alerts::{AlertPassInput, AlertPassSummary};
use relink_domain::deletes::{
    DeleteOutcome, DeleteRequester, EnvCheck, ExecuteDeleteInput, PollObservation,
    RecordDeleteInput,
};
use relink_domain::emails::{EmailPassInput, EmailPassSummary};
use relink_domain::events::{EventPassInput, EventPassSummary};
use relink_domain::healing::{
    AccountStatusSyncInput, BlipCheck, OrphanPassInput, OrphanPassSummary, ReconcileInput,
    ReconcileReport, SweepInput, SweepSummary, SyncResult,
};
use relink_domain::reconnect::{
    AbandonLinkInput, CreateLinkInput, CreatedLink, FindLiveSessionInput, LinkAccountInput,
    LinkResult, MarkConnectingInput, PreparedLink,
};
use relink_domain::{AccountId, WorkspaceId};
use std::time::Duration;
use temporalio_common::{ActivityCloseTimeouts, RetryPolicy};
use temporalio_macros::activity_definitions;
use temporalio_sdk::{ActivityOptions, LocalActivityOptions, activities::ActivityError};

/// Error type name of failures that must not be retried (bad input, unknown row,
/// Unipile rejecting our request): listed as non-retryable in every retry policy.
pub const NON_RETRYABLE: &str = "relink.NonRetryable";

/// Activity type names, shared by the declarations below and the implementations in
/// the `activities` crate (one source of truth for what the worker registers).
pub mod names {
    /// Activity type name of `prepare_link`.
    pub const PREPARE_LINK: &str = "prepare_link";
    /// Activity type name of `create_hosted_link`.
    pub const CREATE_HOSTED_LINK: &str = "create_hosted_link";
    /// Activity type name of `mark_connecting`.
    pub const MARK_CONNECTING: &str = "mark_connecting";
    /// Activity type name of `link_account`.
    pub const LINK_ACCOUNT: &str = "link_account";
    /// Activity type name of `find_live_session`.
    pub const FIND_LIVE_SESSION: &str = "find_live_session";
    /// Activity type name of `abandon_link`.
    pub const ABANDON_LINK: &str = "abandon_link";
    /// Activity type name of `orphan_pass`.
    pub const ORPHAN_PASS: &str = "orphan_pass";
    /// Activity type name of `sweep_campaigns`.
    pub const SWEEP_CAMPAIGNS: &str = "sweep_campaigns";
    /// Activity type name of `reconcile_pass`.
    pub const RECONCILE_PASS: &str = "reconcile_pass";
    /// Activity type name of `sync_account_status`.
    pub const SYNC_ACCOUNT_STATUS: &str = "sync_account_status";
    /// Activity type name of `check_blip`.
    pub const CHECK_BLIP: &str = "check_blip";
    /// Activity type name of `delete_env_check`.
    pub const DELETE_ENV_CHECK: &str = "delete_env_check";
    /// Activity type name of `delete_poll`.
    pub const DELETE_POLL: &str = "delete_poll";
    /// Activity type name of `execute_delete`.
    pub const EXECUTE_DELETE: &str = "execute_delete";
    /// Activity type name of `record_delete`.
    pub const RECORD_DELETE: &str = "record_delete";
    /// Activity type name of `subscription_ended`.
    pub const SUBSCRIPTION_ENDED: &str = "subscription_ended";
    /// Activity type name of `subscription_renewed`.
    pub const SUBSCRIPTION_RENEWED: &str = "subscription_renewed";
    /// Activity type name of `disconnect_workspace`.
    pub const DISCONNECT_WORKSPACE: &str = "disconnect_workspace";
    /// Activity type name of `send_due_emails`.
    pub const SEND_DUE_EMAILS: &str = "send_due_emails";
    /// Activity type name of `deliver_due_events`.
    pub const DELIVER_DUE_EVENTS: &str = "deliver_due_events";
    /// Activity type name of `notify_alerts`.
    pub const NOTIFY_ALERTS: &str = "notify_alerts";
}

/// Declarations of every relink activity.
pub struct RelinkActivities;

#[activity_definitions]
impl RelinkActivities {
    /// Reads the row and mints a fresh link token (writes nothing).
    #[activity(name = names::PREPARE_LINK)]
    pub fn prepare_link(account: AccountId) -> Result<PreparedLink, ActivityError> {
        unimplemented!()
    }

    /// `POST /api/v1/hosted/accounts/link`; returns the wizard url and the kind created
    /// (a reconnect link for a session Unipile no longer has falls back to create).
    #[activity(name = names::CREATE_HOSTED_LINK)]
    pub fn create_hosted_link(input: CreateLinkInput) -> Result<CreatedLink, ActivityError> {
        unimplemented!()
    }

    /// Row → `connecting` (audited) with the new token.
    #[activity(name = names::MARK_CONNECTING)]
    pub fn mark_connecting(input: MarkConnectingInput) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// Reads the account from Unipile and, when live, relinks the row (audited) and
    /// resumes its campaigns in one transaction.
    #[activity(name = names::LINK_ACCOUNT)]
    pub fn link_account(input: LinkAccountInput) -> Result<LinkResult, ActivityError> {
        unimplemented!()
    }

    /// At link expiry without callback: the Unipile account id of a live session for
    /// this linking attempt, if one can be told apart unambiguously.
    #[activity(name = names::FIND_LIVE_SESSION)]
    pub fn find_live_session(input: FindLiveSessionInput) -> Result<Option<String>, ActivityError> {
        unimplemented!()
    }

    /// Puts an abandoned linking row back to its previous status (audited).
    #[activity(name = names::ABANDON_LINK)]
    pub fn abandon_link(input: AbandonLinkInput) -> Result<bool, ActivityError> {
        unimplemented!()
    }

    /// One orphan-watcher pass: relinks rows stuck `connecting` whose session is live.
    #[activity(name = names::ORPHAN_PASS)]
    pub fn orphan_pass(input: OrphanPassInput) -> Result<OrphanPassSummary, ActivityError> {
        unimplemented!()
    }

    /// One sweeper pass in bounded batches; heartbeats after every batch.
    #[activity(name = names::SWEEP_CAMPAIGNS)]
    pub fn sweep_campaigns(input: SweepInput) -> Result<SweepSummary, ActivityError> {
        unimplemented!()
    }

    /// One reconciler pass (complete listing, sanity gate, compare-and-set flips).
    #[activity(name = names::RECONCILE_PASS)]
    pub fn reconcile_pass(input: ReconcileInput) -> Result<ReconcileReport, ActivityError> {
        unimplemented!()
    }

    /// Re-reads one Unipile account and applies its status to the linked row.
    #[activity(name = names::SYNC_ACCOUNT_STATUS)]
    pub fn sync_account_status(input: AccountStatusSyncInput) -> Result<SyncResult, ActivityError> {
        unimplemented!()
    }

    /// After the blip tolerance: re-reads the account and, when it is still `ERROR`/
    /// `STOPPED` since longer than the tolerance, pauses its campaigns.
    #[activity(name = names::CHECK_BLIP)]
    pub fn check_blip(input: AccountStatusSyncInput) -> Result<BlipCheck, ActivityError> {
        unimplemented!()
    }

    /// Gate 1: reads the env kill switches now; `Some(why)` when they block.
    #[activity(name = names::DELETE_ENV_CHECK)]
    pub fn delete_env_check(requester: DeleteRequester) -> Result<EnvCheck, ActivityError> {
        unimplemented!()
    }

    /// Gate 3: one GET of the account, with the time the activity observed it.
    #[activity(name = names::DELETE_POLL)]
    pub fn delete_poll(unipile_account_id: String) -> Result<PollObservation, ActivityError> {
        unimplemented!()
    }

    /// Gates 1, 5 and 4 again, the intent audit row, then the DELETE; logs
    /// `[SENSITIVE-OP]` and writes an admin alert.
    #[activity(name = names::EXECUTE_DELETE)]
    pub fn execute_delete(input: ExecuteDeleteInput) -> Result<DeleteOutcome, ActivityError> {
        unimplemented!()
    }

    /// Records a blocked or cancelled attempt: `[SENSITIVE-OP]` line and admin alert.
    #[activity(name = names::RECORD_DELETE)]
    pub fn record_delete(input: RecordDeleteInput) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// Pauses every campaign of the workspace with `subscription_inactive`.
    #[activity(name = names::SUBSCRIPTION_ENDED)]
    pub fn subscription_ended(workspace: WorkspaceId) -> Result<u64, ActivityError> {
        unimplemented!()
    }

    /// Removes `subscription_inactive`; returns how many campaigns became active.
    #[activity(name = names::SUBSCRIPTION_RENEWED)]
    pub fn subscription_renewed(workspace: WorkspaceId) -> Result<usize, ActivityError> {
        unimplemented!()
    }

    /// Grace over: the workspace's accounts become `disconnected` (audited).
    #[activity(name = names::DISCONNECT_WORKSPACE)]
    pub fn disconnect_workspace(workspace: WorkspaceId) -> Result<u64, ActivityError> {
        unimplemented!()
    }

    /// One email-sender pass: claims the due outbox rows and sends them over SMTP,
    /// recording each attempt.
    #[activity(name = names::SEND_DUE_EMAILS)]
    pub fn send_due_emails(input: EmailPassInput) -> Result<EmailPassSummary, ActivityError> {
        unimplemented!()
    }

    /// One event-delivery pass: claims the due outbound-event deliveries and posts them,
    /// signed, to their endpoints, recording each attempt.
    #[activity(name = names::DELIVER_DUE_EVENTS)]
    pub fn deliver_due_events(input: EventPassInput) -> Result<EventPassSummary, ActivityError> {
        unimplemented!()
    }

    /// One alert-notifier pass: posts the new admin alerts to the operator channel,
    /// once per notification key and hour.
    #[activity(name = names::NOTIFY_ALERTS)]
    pub fn notify_alerts(input: AlertPassInput) -> Result<AlertPassSummary, ActivityError> {
        unimplemented!()
    }
}

fn both(schedule_to_close_secs: u64, start_to_close_secs: u64) -> ActivityCloseTimeouts {
    ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: Duration::from_secs(schedule_to_close_secs),
        start_to_close: Duration::from_secs(start_to_close_secs),
    }
}

fn retry(max_attempts: u32, max_interval: Duration) -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_millis(500))
        .backoff_coefficient(2.0)
        .maximum_interval(max_interval)
        .maximum_attempts(max_attempts)
        .non_retryable_error_types([NON_RETRYABLE])
        .build()
}

/// Database-only activities: 15 s per attempt (a healthy transaction takes
/// milliseconds; 15 s covers a pool wait), retried for a few minutes so a PostgreSQL
/// restart heals without operator help.
pub fn db_activity() -> ActivityOptions {
    ActivityOptions::with_close_timeouts(both(300, 15))
        .retry_policy(retry(0, Duration::from_secs(30)))
        .build()
}

/// Activities that call Unipile on a user's click: 20 s per attempt (the client's own
/// timeout is 10 s) and at most 3 attempts, so a click fails within a minute instead of
/// hanging; the user can simply click again (failed links are never cached).
pub fn interactive_unipile_activity() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(20))
        .retry_policy(retry(3, Duration::from_secs(5)))
        .build()
}

/// A click's database step (`prepare_link`, `mark_connecting`) as a local activity: it
/// runs inside the workflow task that handles the click, so the click waits for no
/// activity task round trip through the server (issue 14, "first click near its
/// floor"). 15 s per attempt, retried for up to a minute; the arguments stay out of the
/// marker recorded in history.
pub fn click_db_local_activity() -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(15))
        .schedule_to_close_timeout(Duration::from_secs(60))
        .retry_policy(retry(0, Duration::from_secs(5)))
        .build()
}

/// A click's Unipile step (`create_hosted_link`) as a local activity: the same budget as
/// [`interactive_unipile_activity`] (20 s per attempt, at most 3 attempts, a minute in
/// all), without the activity task round trips.
pub fn click_unipile_local_activity() -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(20))
        .schedule_to_close_timeout(Duration::from_secs(60))
        .retry_policy(retry(3, Duration::from_secs(5)))
        .build()
}

/// Background activities that call Unipile and the database: 30 s per attempt,
/// retried for up to 30 minutes (Unipile outages are usually short).
pub fn background_unipile_activity() -> ActivityOptions {
    ActivityOptions::with_close_timeouts(both(1800, 30))
        .retry_policy(retry(0, Duration::from_secs(60)))
        .build()
}

/// Putting a row back after an abandoned link: 15 s per attempt, retried without limit
/// (the pill must not stay on "Linking"; a database outage only delays it).
pub fn revert_activity() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(15))
        .retry_policy(retry(0, Duration::from_secs(60)))
        .build()
}

/// The DELETE step: 30 s per attempt, retried for up to an hour; safe to retry (the
/// intent row is keyed by workflow id, and a 404 on a retried DELETE means done).
pub fn delete_activity() -> ActivityOptions {
    ActivityOptions::with_close_timeouts(both(3600, 30))
        .retry_policy(retry(0, Duration::from_secs(60)))
        .build()
}

/// What is left of this run's workflow execution timeout, from history (deterministic):
/// the timeout less the workflow time since the run started. `None` without a timeout
/// (a manual `starter run`). A pass's activity budget is taken from this, so a first
/// workflow task that started late (a worker restart, a backlog) shortens the budget
/// instead of pushing the activity's deadline past the run's.
pub fn run_time_left<W>(ctx: &temporalio_sdk::WorkflowContext<W>) -> Option<Duration> {
    let info = ctx.info();
    let timeout = info.execution_timeout()?;
    let elapsed = match (ctx.workflow_time(), info.start_time()) {
        (Some(now), Some(start)) => now.duration_since(start).unwrap_or_default(),
        _ => Duration::ZERO,
    };
    Some(timeout.saturating_sub(elapsed))
}

/// Long passes over the whole fleet (listing every Unipile page, sweeping every batch).
///
/// `execution_timeout` is what is left of the pass's own workflow execution timeout
/// ([`run_time_left`]): a Schedule gives each run nine tenths of its interval
/// (`starter schedules apply`). Then the activity must end well inside it:
/// its schedule-to-close (all attempts) is four fifths of the run's timeout, each
/// attempt at most 10 minutes, the heartbeat timeout at most 60 s; the activity reads
/// the resulting deadline (`ActivityInfo::deadline`) and stops taking new work before
/// it, so a pass ends by itself and the workflow never times out mid-activity. Without
/// one (a manual `starter run`): 10 minutes per attempt, retried for up to an hour.
/// An error on any listing page fails the attempt and the pass is retried whole
/// (never run over a partial listing).
pub fn pass_activity(execution_timeout: Option<Duration>) -> ActivityOptions {
    let (all, attempt) = match execution_timeout {
        Some(t) => {
            let all = (t * 4 / 5).max(Duration::from_secs(2));
            (all, all.min(Duration::from_secs(600)))
        }
        None => (Duration::from_secs(3600), Duration::from_secs(600)),
    };
    ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: all,
        start_to_close: attempt,
    })
    .heartbeat_timeout(attempt.min(Duration::from_secs(60)))
    .retry_policy(retry(0, Duration::from_secs(60)))
    .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduled_pass_activity_ends_inside_its_run() {
        for every in [10u64, 30, 60, 300, 3600] {
            let run = Duration::from_secs(every) * 9 / 10;
            let o = pass_activity(Some(run));
            let ActivityCloseTimeouts::ScheduleAndStartToClose {
                schedule_to_close,
                start_to_close,
            } = o.close_timeouts
            else {
                panic!("both close timeouts are set");
            };
            assert!(schedule_to_close < run, "{every} s: {schedule_to_close:?}");
            assert!(start_to_close <= schedule_to_close);
            assert!(o.heartbeat_timeout.is_some_and(|h| h <= start_to_close));
        }
    }
}
