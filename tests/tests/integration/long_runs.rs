//! Long runs stay small: the account-status sync continues as new after a bounded
//! number of activities, carrying its input, with no flip lost or repeated across the
//! boundary.

use relink_domain::AccountStatus;
use relink_domain::healing::AccountStatusSyncInput;
use relink_tests::{AppOptions, drills::GET_ROUTE, eventually, spawn_app};
use relink_workflows::AccountStatusSyncWorkflow;
use serde_json::json;
use std::time::Duration;
use temporalio_client::{WorkflowIdConflictPolicy, WorkflowStartOptions};

/// Every GET of the account takes this long: a poke sent once the GET has arrived lands
/// while that sync runs, so the run loops again.
const GET_LATENCY_MS: u64 = 1500;
const INJECTED: u64 = 1000;

#[tokio::test]
async fn a_sync_run_continues_as_new_past_its_boundary_with_no_lost_or_repeated_flip() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let uid = s.unipile_id.clone().unwrap();
    app.sim_post(
        "/_sim/faults",
        json!({"route": GET_ROUTE, "status": 0, "count": INJECTED, "latency_ms": GET_LATENCY_MS}),
    )
    .await;
    // GETs that have arrived so far (the fault's count drops on arrival).
    let arrived = || async { INJECTED - app.sim_fault_calls_left(GET_ROUTE).await };

    let id = relink_domain::account_status_workflow_id(&uid);
    let first = app
        .temporal
        .signal_with_start_workflow(
            AccountStatusSyncWorkflow::run,
            AccountStatusSyncInput {
                unipile_account_id: uid.clone().into(),
                blip_tolerance_secs: 7200,
                continue_as_new_after: 2,
            },
            AccountStatusSyncWorkflow::poke,
            "webhook 0".to_string(),
            WorkflowStartOptions::new(app.task_queue.clone(), id.clone())
                .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
                .build(),
        )
        .await
        .unwrap();
    let first_run = first.run_id().map(str::to_string).expect("a run id");
    let latest = app
        .temporal
        .get_workflow_handle::<AccountStatusSyncWorkflow>(id.clone());

    // Seven syncs, each poked while it runs; the session expires during the third (the
    // run that continued as new after the first two).
    for n in 1..=7u64 {
        eventually(
            Duration::from_secs(30),
            &format!("sync {n} in flight"),
            || async { (arrived().await >= n).then_some(()) },
        )
        .await;
        if n == 3 {
            app.set_sim_status(&uid, "CREDENTIALS").await;
        }
        if n < 7 {
            latest
                .signal(
                    AccountStatusSyncWorkflow::poke,
                    format!("webhook {n}"),
                    Default::default(),
                )
                .await
                .unwrap();
        }
    }
    app.wait_status_sync_applied(&uid).await;
    relink_tests::record_history(
        "account_status_sync_continued_as_new",
        first.fetch_history(Default::default()),
    )
    .await;
    app.record_history("account_status_sync_last_run", &id)
        .await;

    let d = latest.describe(Default::default()).await.unwrap();
    let info = d.raw_description.workflow_execution_info.expect("info");
    let last_run = info.execution.map(|e| e.run_id).unwrap_or_default();
    assert_ne!(last_run, first_run, "the run continued as new");
    // Seven syncs at two per run: at least three runs under the one workflow id
    // (visibility may trail the last run by a moment).
    eventually(Duration::from_secs(10), "three runs listed", || async {
        use futures::StreamExt;
        let runs = app
            .temporal
            .list_workflows(format!("WorkflowId = '{id}'"), Default::default())
            .filter(|w| std::future::ready(w.is_ok()))
            .count()
            .await;
        (runs >= 3).then_some(())
    })
    .await;

    // The flip happened once, and stands.
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::ReconnectNeeded
    );
    assert_eq!(app.audit_count(s.account, "reconnect_needed").await, 1);
}
