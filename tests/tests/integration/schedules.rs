//! `starter schedules apply`: idempotent, overlap Skip, and a catch-up window of under
//! one interval, so that an outage of any length yields at most one catch-up run.

use relink_starter::ops::{apply_schedules, catchup_window};
use relink_tests::{AppOptions, spawn_app};
use std::time::Duration;

#[test]
fn the_catch_up_window_holds_at_most_one_missed_run() {
    for every in [300u64, 900, 3600] {
        let w = catchup_window(Duration::from_secs(every));
        assert!(w < Duration::from_secs(every), "{every}: {w:?}");
        assert!(w >= Duration::from_secs(10));
    }
}

#[tokio::test]
async fn schedules_apply_is_idempotent_with_skip_and_a_short_catch_up_window() {
    let app = spawn_app(AppOptions::default()).await;
    let first = apply_schedules(&app.temporal, &app.task_queue, Duration::from_secs(900))
        .await
        .unwrap();
    let second = apply_schedules(&app.temporal, &app.task_queue, Duration::from_secs(600))
        .await
        .unwrap();
    assert!(second.iter().all(|s| s.change == "updated"), "{second:?}");
    assert_eq!(first.len(), 6);
    for (id, every) in [
        ("orphan-watcher", 3600u64),
        ("campaign-sweeper", 300),
        ("account-reconciler", 600),
        ("email-sender", 60),
        ("event-delivery", 10),
        ("alert-notifier", 30),
    ] {
        let handle = app.temporal.get_schedule_handle(id);
        let desc = handle.describe(Default::default()).await.unwrap();
        let schedule = desc.raw().schedule.clone().expect("schedule");
        let policies = schedule.policies.expect("policies");
        // ScheduleOverlapPolicy::Skip is 1 in Temporal's API.
        assert_eq!(policies.overlap_policy, 1, "{id}");
        let window = policies.catchup_window.expect("catch-up window");
        assert_eq!(
            window.seconds as u64,
            (every - 1).max(10),
            "{id}: just under one interval, at least the server's 10 s"
        );
        // Each run ends before the next is due (a hung pass cannot stall the Schedule).
        let start = match schedule.action.as_ref().and_then(|a| a.action.as_ref()) {
            Some(temporalio_common::protos::temporal::api::schedule::v1::schedule_action::Action::StartWorkflow(s)) => s.clone(),
            other => panic!("{id}: not a start-workflow action: {other:?}"),
        };
        let timeout = start
            .workflow_execution_timeout
            .expect("an execution timeout")
            .seconds as u64;
        assert!(
            timeout < every && timeout >= every / 2,
            "{id}: {timeout} s of {every} s"
        );
        let interval = &schedule.spec.expect("spec").interval[0];
        assert_eq!(
            interval.interval.as_ref().expect("interval").seconds as u64,
            every,
            "{id}"
        );
        handle.delete(Default::default()).await.unwrap();
    }
}
