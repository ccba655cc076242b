//! Graceful shutdown: a worker (the real `worker` binary, as a child process) that gets
//! SIGTERM in the middle of an activity stops polling, lets the activity finish, and
//! exits 0; the run then completes on the next worker, with the activity run once.

use relink_domain::AccountStatus;
use relink_starter::ops::{Pass, run_pass};
use relink_tests::{
    AppOptions, WorkerProcess, drills::LIST_ROUTE, eventually, spawn_app, worker_exe,
};
use serde_json::json;
use std::time::Duration;

/// How long Unipile's listing takes to answer: the activity is in flight this long.
const LISTING_LATENCY_MS: u64 = 3000;

#[tokio::test]
async fn sigterm_mid_activity_lets_it_finish_exits_0_and_the_run_completes_once() {
    // `./dev test` builds the binaries (cargo build --bins) beside the test's `deps/`.
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("worker")));
    let exe = worker_exe(exe).expect("the worker binary (cargo build --bins)");
    let log = std::env::temp_dir().join(format!("relink-shutdown-{}.log", uuid::Uuid::new_v4()));
    let mut app = spawn_app(AppOptions {
        worker_process: Some(WorkerProcess {
            exe,
            rust_log: "info".into(),
            log: log.clone(),
        }),
        ..AppOptions::default()
    })
    .await;
    app.seed_account(AccountStatus::Connected, "OK").await;
    app.sim_post(
        "/_sim/faults",
        json!({"route": LIST_ROUTE, "status": 0, "count": 1, "latency_ms": LISTING_LATENCY_MS}),
    )
    .await;
    let (client, tq) = (app.temporal.clone(), app.task_queue.clone());
    let pass =
        tokio::spawn(async move { run_pass(&client, &tq, Pass::AccountReconciler, false).await });

    // The listing request has arrived (the one-shot fault is used up): the reconciler's
    // activity is in flight, waiting for the answer.
    eventually(Duration::from_secs(60), "the listing in flight", || async {
        (app.sim_fault_calls_left(LIST_ROUTE).await == 0).then_some(())
    })
    .await;
    assert_eq!(app.sim_count(LIST_ROUTE).await, 0, "not answered yet");
    let pid = app.worker_pid().expect("a worker process");
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());

    let status = app
        .wait_worker_exit(Duration::from_secs(45))
        .await
        .unwrap_or_else(|| panic!("the worker did not exit; log: {}", log.display()));
    assert!(
        status.success(),
        "exit status {status}; log: {}",
        log.display()
    );
    assert_eq!(
        app.sim_count(LIST_ROUTE).await,
        1,
        "the in-flight listing was answered before the worker exited"
    );

    // The next worker finishes the run; the activity is not run again.
    app.start_worker().await;
    let (_, report) = tokio::time::timeout(Duration::from_secs(60), pass)
        .await
        .expect("the run completes")
        .unwrap()
        .unwrap();
    assert_eq!(report["fleet"], 1, "{report}");
    assert!(report["aborted"].is_null(), "{report}");
    assert_eq!(app.sim_count(LIST_ROUTE).await, 1, "the activity ran once");
    let _ = std::fs::remove_file(&log);
}
