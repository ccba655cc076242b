//! Safe delete: every gate blocking on its own, the hard cap under 20 concurrent
//! deletes, and the undo window (short timings: polls 1 s apart, undo 1 s).

use relink_domain::{
    AccountStatus,
    deletes::{DeleteGates, DeleteKind, DeleteOutcome, DeleteRequester, SafeDeleteInput},
};
use relink_starter::ops::start_safe_delete;
use relink_tests::{AppOptions, TestApp, eventually, spawn_app};
use relink_workflows::SafeDeleteWorkflow;
use serde_json::json;
use std::time::Duration;

const DELETE: &str = "DELETE /api/v1/accounts/{id}";

fn open_env() -> AppOptions {
    AppOptions {
        delete_env: vec![("RELINK_UNIPILE_DELETES", "enabled")],
        ..AppOptions::default()
    }
}

fn input(uid: &str, kind: DeleteKind, undo: u64) -> SafeDeleteInput {
    SafeDeleteInput {
        unipile_account_id: uid.into(),
        requester: DeleteRequester::Operator {
            name: "ops".into(),
            reason: "inert duplicate after a double reconnect".into(),
        },
        kind,
        poll_spacing_secs: 1,
        undo_window_secs: undo,
    }
}

async fn duplicate(app: &TestApp) -> String {
    let v = app
        .sim_post(
            "/_sim/accounts",
            json!({"name": "Sam Sample (duplicate)", "status": "OK"}),
        )
        .await;
    v["id"].as_str().unwrap().to_string()
}

async fn run(app: &TestApp, i: SafeDeleteInput) -> DeleteOutcome {
    let id = start_safe_delete(&app.temporal, &app.task_queue, i)
        .await
        .unwrap();
    app.temporal
        .get_workflow_handle::<SafeDeleteWorkflow>(id)
        .get_result(Default::default())
        .await
        .unwrap()
}

async fn enable_flag(app: &TestApp, secs: i64) {
    app.store
        .enable_delete_flag(chrono::Duration::seconds(secs), "ops", "test")
        .await
        .unwrap();
}

/// Waits until the run's `gates` query satisfies `done`.
async fn wait_for_gates(
    handle: &temporalio_client::WorkflowHandle<temporalio_client::Client, SafeDeleteWorkflow>,
    what: &str,
    done: impl Fn(&DeleteGates) -> bool,
) {
    eventually(Duration::from_secs(30), what, || async {
        let g: DeleteGates = handle
            .query(SafeDeleteWorkflow::gates, (), Default::default())
            .await
            .ok()?;
        done(&g).then_some(())
    })
    .await;
}

fn blocked_by(o: &DeleteOutcome) -> &str {
    match o {
        DeleteOutcome::Blocked { gate, .. } => gate.as_str(),
        DeleteOutcome::Deleted => "deleted",
        DeleteOutcome::Cancelled => "cancelled",
    }
}

#[tokio::test]
async fn with_every_gate_open_an_inert_duplicate_is_deleted_once_and_audited() {
    let app = spawn_app(open_env()).await;
    enable_flag(&app, 3600).await;
    let uid = duplicate(&app).await;
    let out = run(&app, input(&uid, DeleteKind::InertDuplicate, 1)).await;
    assert_eq!(out, DeleteOutcome::Deleted);
    app.record_history(
        "safe_delete_deleted",
        &relink_domain::deletes::delete_workflow_id(&uid),
    )
    .await;
    assert_eq!(app.sim_count(DELETE).await, 1);
    assert_eq!(app.store.deletes_last_24h().await.unwrap(), 1);
    let alerts = app.store.alerts().await.unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a.kind == "unipile.delete" && a.message.starts_with("[SENSITIVE-OP]"))
    );
    // The polls were spaced by the activity's own clock.
    let gets: Vec<_> = app
        .sim_requests()
        .await
        .into_iter()
        .filter(|r| r["route"] == "GET /api/v1/accounts/{id}")
        .collect();
    assert_eq!(gets.len(), 3);
}

#[tokio::test]
async fn each_gate_blocks_on_its_own_and_nothing_is_deleted() {
    // Gate 1: env switch off.
    let app = spawn_app(AppOptions::default()).await;
    enable_flag(&app, 3600).await;
    let uid = duplicate(&app).await;
    let out = run(&app, input(&uid, DeleteKind::InertDuplicate, 1)).await;
    assert_eq!(blocked_by(&out), "env", "{out:?}");
    // Reconciler deletes need the second switch too.
    let app2 = spawn_app(open_env()).await;
    enable_flag(&app2, 3600).await;
    let uid2 = duplicate(&app2).await;
    let mut i = input(&uid2, DeleteKind::InertDuplicate, 1);
    i.requester = DeleteRequester::Reconciler {
        reason: "gone".into(),
    };
    assert_eq!(blocked_by(&run(&app2, i).await), "env");
    // Gate 3: a duplicate still referenced by a row is not inert.
    let s = app2.seed_account(AccountStatus::Connected, "OK").await;
    let out = run(
        &app2,
        input(
            s.unipile_id.as_deref().unwrap(),
            DeleteKind::InertDuplicate,
            1,
        ),
    )
    .await;
    assert_eq!(blocked_by(&out), "polls", "{out:?}");
    app2.record_history(
        "safe_delete_blocked",
        &relink_domain::deletes::delete_workflow_id(s.unipile_id.as_deref().unwrap()),
    )
    .await;
    // Gate 5: flag closed.
    app2.store.disable_delete_flag("ops").await.unwrap();
    let uid3 = duplicate(&app2).await;
    assert_eq!(
        blocked_by(&run(&app2, input(&uid3, DeleteKind::InertDuplicate, 1)).await),
        "flag"
    );
    assert_eq!(
        app.sim_count(DELETE).await + app2.sim_count(DELETE).await,
        0,
        "DELETE never called"
    );
    let blocked = app2
        .store
        .alerts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == "unipile.delete")
        .count();
    assert_eq!(blocked, 3, "one alert row per blocked attempt");
}

#[tokio::test]
async fn a_200_between_two_404s_stops_a_gone_delete() {
    let app = spawn_app(open_env()).await;
    enable_flag(&app, 3600).await;
    let uid = "Gone0000000000000000ab";
    let id = start_safe_delete(
        &app.temporal,
        &app.task_queue,
        input(uid, DeleteKind::Gone, 1),
    )
    .await
    .unwrap();
    let handle = app.temporal.get_workflow_handle::<SafeDeleteWorkflow>(id);
    wait_for_gates(&handle, "first 404 observed", |g| {
        !g.observations.is_empty()
    })
    .await;
    // Parked on the timer before the second poll: a run in flight at a deploy.
    app.record_history(
        "safe_delete_parked_between_polls",
        &relink_domain::deletes::delete_workflow_id(uid),
    )
    .await;
    // The account reappears before the second poll.
    app.sim_post(
        "/_sim/accounts",
        json!({"id": uid, "name": "Back", "status": "OK"}),
    )
    .await;
    let out = handle.get_result(Default::default()).await.unwrap();
    assert_eq!(blocked_by(&out), "polls", "{out:?}");
    assert_eq!(app.sim_count(DELETE).await, 0);
}

#[tokio::test]
async fn a_flag_that_expires_during_the_polls_stops_the_delete() {
    let app = spawn_app(open_env()).await;
    enable_flag(&app, 2).await;
    let uid = duplicate(&app).await;
    let out = run(&app, input(&uid, DeleteKind::InertDuplicate, 1)).await;
    assert_eq!(blocked_by(&out), "flag", "{out:?}");
    assert_eq!(app.sim_count(DELETE).await, 0);
}

#[tokio::test]
async fn cancel_during_the_undo_window_stops_it() {
    let app = spawn_app(open_env()).await;
    enable_flag(&app, 3600).await;
    let uid = duplicate(&app).await;
    let id = start_safe_delete(
        &app.temporal,
        &app.task_queue,
        input(&uid, DeleteKind::InertDuplicate, 60),
    )
    .await
    .unwrap();
    let handle = app.temporal.get_workflow_handle::<SafeDeleteWorkflow>(id);
    wait_for_gates(&handle, "polls passed", |g| {
        g.polls == relink_domain::deletes::GateState::Passed
    })
    .await;
    handle
        .signal(
            SafeDeleteWorkflow::cancel,
            "ops".to_string(),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        handle.get_result(Default::default()).await.unwrap(),
        DeleteOutcome::Cancelled
    );
    assert_eq!(app.sim_count(DELETE).await, 0);
}

#[tokio::test]
async fn twenty_concurrent_deletes_make_at_most_three_delete_calls() {
    let app = spawn_app(open_env()).await;
    enable_flag(&app, 3600).await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(duplicate(&app).await);
    }
    let runs = ids
        .iter()
        .map(|u| run(&app, input(u, DeleteKind::InertDuplicate, 1)));
    let outcomes = futures::future::join_all(runs).await;
    let deleted = outcomes
        .iter()
        .filter(|o| **o == DeleteOutcome::Deleted)
        .count();
    assert_eq!(deleted, 3);
    assert!(
        outcomes
            .iter()
            .filter(|o| **o != DeleteOutcome::Deleted)
            .all(|o| blocked_by(o) == "hard_cap")
    );
    assert_eq!(app.sim_count(DELETE).await, 3);
    assert_eq!(app.store.deletes_last_24h().await.unwrap(), 3);
}

#[tokio::test]
async fn the_reconciler_requests_a_safe_delete_for_a_gone_account_and_gate_one_holds_it() {
    let app = spawn_app(open_env()).await; // RELINK_RECONCILER_DELETES stays off
    app.unregister_webhooks().await;
    let mut rows = Vec::new();
    for _ in 0..8 {
        rows.push(app.seed_account(AccountStatus::Connected, "OK").await);
    }
    let gone = rows[0].unipile_id.clone().unwrap();
    app.http
        .delete(format!("{}/_sim/accounts/{gone}", app.sim_url))
        .send()
        .await
        .unwrap();
    let (_, rep) = relink_starter::ops::run_pass(
        &app.temporal,
        &app.task_queue,
        relink_starter::ops::Pass::AccountReconciler,
        false,
    )
    .await
    .unwrap();
    assert_eq!(rep["delete_requests"], json!([gone]), "{rep}");
    assert_eq!(
        app.account(rows[0].account).await.status,
        AccountStatus::Disconnected
    );
    let h = app.temporal.get_workflow_handle::<SafeDeleteWorkflow>(
        relink_domain::deletes::delete_workflow_id(&gone),
    );
    let out = h.get_result(Default::default()).await.unwrap();
    assert_eq!(blocked_by(&out), "env", "{out:?}");
    assert_eq!(app.sim_count(DELETE).await, 0);
    // The platform hears all of it, for the workspace of the row that held the session.
    let events = app.events_of(rows[0].workspace).await;
    let types: Vec<_> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "account.disconnected",
            "campaign.paused",
            "safe_delete.requested",
            "safe_delete.blocked"
        ],
        "{events:?}"
    );
    assert_eq!(events[2].1["requester"]["by"], "reconciler");
    assert_eq!(events[3].1["gate"], "env");
    assert_eq!(events[3].1["unipile_account_id"], json!(gone));
    assert!(app.events_of(rows[1].workspace).await.is_empty());
}

#[tokio::test]
async fn two_rows_of_one_identity_merge_into_the_live_row() {
    let app = spawn_app(AppOptions::default()).await;
    // Row A: the old seat, reconnect needed, with its campaigns paused.
    let a = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let member = app.account(a.account).await.linkedin_member_id.unwrap();
    // Row B in the same workspace connects the same LinkedIn identity as a new account.
    let b = app
        .store
        .create_account(
            a.workspace,
            "Sam (new seat)",
            AccountStatus::Disconnected,
            None,
            None,
            "test",
        )
        .await
        .unwrap();
    let (code, link) = app.click_reconnect(&a.token, &b.to_string()).await;
    assert_eq!(code, 200, "{link}");
    app.sim_post(
        "/_sim/hosted/complete",
        json!({"url": link["url"], "notify": true, "member_id": member}),
    )
    .await;
    eventually(Duration::from_secs(30), "row B connected", || async {
        (app.account(b).await.status == AccountStatus::Connected).then_some(())
    })
    .await;
    let old = app.account(a.account).await;
    assert_eq!(
        old.status,
        AccountStatus::Disconnected,
        "the old row is torn down (audited)"
    );
    assert!(
        old.unipile_account_id.is_none(),
        "its session is now an unreferenced duplicate"
    );
    let moved: i64 = sqlx::query_scalar("SELECT count(*) FROM campaigns WHERE account_id = $1")
        .bind(b.0)
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(moved, 2, "campaigns moved to the live row");
    assert_eq!(
        app.campaign(a.paused_for_disconnect).await.0,
        "active",
        "and resumed there"
    );
    assert_eq!(
        app.campaign(a.paused_also_manual).await.1,
        vec!["manual".to_string()]
    );
    assert_eq!(app.audit_count(a.account, "disconnected").await, 1);
}

#[tokio::test]
async fn a_worker_killed_between_polls_is_replaced_and_deletes_exactly_once() {
    let mut app = spawn_app(open_env()).await;
    enable_flag(&app, 3600).await;
    let uid = duplicate(&app).await;
    let mut i = input(&uid, DeleteKind::InertDuplicate, 1);
    i.poll_spacing_secs = 3;
    let id = start_safe_delete(&app.temporal, &app.task_queue, i)
        .await
        .unwrap();
    let handle = app.temporal.get_workflow_handle::<SafeDeleteWorkflow>(id);
    wait_for_gates(&handle, "first poll observed", |g| {
        !g.observations.is_empty()
    })
    .await;
    app.kill_worker();
    app.start_worker().await;
    let out = handle.get_result(Default::default()).await.unwrap();
    assert_eq!(out, DeleteOutcome::Deleted);
    assert_eq!(app.sim_count(DELETE).await, 1, "one DELETE call");
    assert_eq!(
        app.store.deletes_last_24h().await.unwrap(),
        1,
        "one intent row"
    );
    let gates: DeleteGates = handle
        .query(SafeDeleteWorkflow::gates, (), Default::default())
        .await
        .unwrap();
    let at: Vec<_> = gates.observations.iter().map(|o| o.at).collect();
    assert_eq!(at.len(), 3);
    assert!(
        at.windows(2)
            .all(|w| w[1] - w[0] >= chrono::Duration::seconds(3)),
        "spacing kept across the restart: {at:?}"
    );
}

#[tokio::test]
async fn a_worker_killed_during_the_delete_call_retries_into_done_without_counting_twice() {
    let mut app = spawn_app(open_env()).await;
    enable_flag(&app, 3600).await;
    let uid = duplicate(&app).await;
    // The DELETE takes 3 s at Unipile: the worker dies while it is in flight.
    app.sim_post(
        "/_sim/faults",
        json!({"route": DELETE, "status": 0, "latency_ms": 3000, "count": 1}),
    )
    .await;
    let id = start_safe_delete(
        &app.temporal,
        &app.task_queue,
        input(&uid, DeleteKind::InertDuplicate, 1),
    )
    .await
    .unwrap();
    let handle = app.temporal.get_workflow_handle::<SafeDeleteWorkflow>(id);
    eventually(Duration::from_secs(30), "intent recorded", || async {
        (app.store.deletes_last_24h().await.unwrap() == 1).then_some(())
    })
    .await;
    app.kill_worker();
    app.start_worker().await;
    let out = handle.get_result(Default::default()).await.unwrap();
    assert_eq!(
        out,
        DeleteOutcome::Deleted,
        "the retried DELETE found the account gone: done"
    );
    assert_eq!(
        app.store.deletes_last_24h().await.unwrap(),
        1,
        "counted once"
    );
    let alerts = app.store.alerts().await.unwrap();
    let a = alerts.iter().find(|a| a.kind == "unipile.delete").unwrap();
    assert_eq!(
        a.payload["gates"]["polls"]["state"], "passed",
        "{}",
        a.payload
    );
    assert_eq!(a.payload["requester"]["name"], "ops");
}

#[tokio::test]
async fn a_second_run_for_the_same_account_counts_again() {
    let app = spawn_app(open_env()).await;
    enable_flag(&app, 3600).await;
    let uid = duplicate(&app).await;
    assert_eq!(
        run(&app, input(&uid, DeleteKind::InertDuplicate, 1)).await,
        DeleteOutcome::Deleted
    );
    // The same session id shows up again later (restored at Unipile) and is removed again.
    app.sim_post(
        "/_sim/accounts",
        json!({"id": uid, "name": "Again", "status": "OK"}),
    )
    .await;
    assert_eq!(
        run(&app, input(&uid, DeleteKind::InertDuplicate, 1)).await,
        DeleteOutcome::Deleted
    );
    assert_eq!(
        app.store.deletes_last_24h().await.unwrap(),
        2,
        "each run's intent counts toward the cap"
    );
    assert_eq!(app.sim_count(DELETE).await, 2);
}

#[tokio::test]
async fn a_duplicate_linked_to_a_row_during_the_undo_window_is_not_deleted() {
    let app = spawn_app(open_env()).await;
    enable_flag(&app, 3600).await;
    let uid = duplicate(&app).await;
    let id = start_safe_delete(
        &app.temporal,
        &app.task_queue,
        input(&uid, DeleteKind::InertDuplicate, 4),
    )
    .await
    .unwrap();
    let handle = app.temporal.get_workflow_handle::<SafeDeleteWorkflow>(id);
    wait_for_gates(&handle, "polls passed", |g| {
        g.polls == relink_domain::deletes::GateState::Passed
    })
    .await;
    // During the undo window a row claims the session (e.g. a relink).
    let (ws, _) = app.store.create_workspace("W").await.unwrap();
    app.store
        .create_account(
            ws,
            "Claimer",
            AccountStatus::Connected,
            Some(&uid),
            None,
            "test",
        )
        .await
        .unwrap();
    let out = handle.get_result(Default::default()).await.unwrap();
    assert_eq!(blocked_by(&out), "polls", "{out:?}");
    assert_eq!(app.sim_count(DELETE).await, 0);
}

/// The spacing and undo window a run actually waits (its timers), read from history.
async fn timers_of(app: &TestApp, id: &str) -> Vec<u64> {
    use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
    let events = app
        .temporal
        .get_workflow_handle::<temporalio_client::UntypedWorkflow>(id)
        .fetch_history(temporalio_client::WorkflowFetchHistoryOptions::default())
        .into_events()
        .await
        .unwrap();
    events
        .into_iter()
        .filter_map(|e| match e.attributes {
            Some(Attributes::TimerStartedEventAttributes(t)) => {
                t.start_to_fire_timeout.map(|d| d.seconds as u64)
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_workflow_itself_keeps_polls_60_s_apart_whatever_its_input_asks() {
    // A worker with the production floors; a run started directly with 1 s spacing.
    let app = spawn_app(AppOptions {
        delete_env: vec![
            ("RELINK_UNIPILE_DELETES", "enabled"),
            (relink_domain::deletes::ENV_MIN_POLL_SPACING, "60"),
            (relink_domain::deletes::ENV_MIN_UNDO_WINDOW, "60"),
        ],
        ..AppOptions::default()
    })
    .await;
    let id = start_safe_delete(
        &app.temporal,
        &app.task_queue,
        input("Ugone000000000000000001", DeleteKind::Gone, 0),
    )
    .await
    .unwrap();
    let timers = eventually(
        Duration::from_secs(30),
        "the first poll's timer",
        || async {
            let t = timers_of(&app, &id).await;
            (!t.is_empty()).then_some(t)
        },
    )
    .await;
    assert_eq!(timers, vec![60], "the second poll waits the worker's floor");
    let _ = app
        .temporal
        .get_workflow_handle::<SafeDeleteWorkflow>(id)
        .terminate(Default::default())
        .await;
}

#[tokio::test]
async fn a_retried_delete_step_asks_still_gone_again_and_spares_an_account_that_came_back() {
    let app = spawn_app(open_env()).await;
    enable_flag(&app, 3600).await;
    let uid = "Ucameback0000000000001";
    const GET: &str = "GET /api/v1/accounts/{id}";
    // The first DELETE attempt hangs 3 s and fails: the step will be retried.
    app.sim_post(
        "/_sim/faults",
        json!({"route": DELETE, "status": 500, "count": 1, "latency_ms": 3000}),
    )
    .await;
    let id = start_safe_delete(
        &app.temporal,
        &app.task_queue,
        input(uid, DeleteKind::Gone, 0),
    )
    .await
    .unwrap();
    // Three polls and the DELETE step's own "still gone?" read: 404 each time.
    eventually(
        Duration::from_secs(60),
        "the DELETE step's first read",
        || async { (app.sim_count(GET).await >= 4).then_some(()) },
    )
    .await;
    // While that first DELETE hangs, the account answers again.
    app.sim_post(
        "/_sim/accounts",
        json!({"id": uid, "name": "Came back", "status": "OK"}),
    )
    .await;
    let outcome = app
        .temporal
        .get_workflow_handle::<SafeDeleteWorkflow>(id)
        .get_result(Default::default())
        .await
        .unwrap();
    assert_eq!(blocked_by(&outcome), "polls", "{outcome:?}");
    let deleted = app
        .sim_requests()
        .await
        .iter()
        .filter(|r| r["route"] == DELETE && r["status"] == 200)
        .count();
    assert_eq!(deleted, 0, "an account that answers again is never deleted");
    let present = app
        .http
        .get(format!("{}/api/v1/accounts/{uid}", app.sim_url))
        .header("X-API-KEY", relink_tests::SIM_KEY)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(present, 200);
}
