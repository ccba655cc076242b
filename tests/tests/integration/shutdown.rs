//! Graceful shutdown: a worker (the real `worker` binary, as a child process) that gets
//! SIGTERM in the middle of an activity stops polling, lets the activity finish, and
//! exits 0; the run then completes on the next worker, with the activity run once. The
//! web tier (the real `web` binary) answers the request in flight before it exits 0.

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

const LINK_ROUTE: &str = "POST /api/v1/hosted/accounts/link";

/// The web tier (the real `web` binary) that gets SIGTERM while a click waits for
/// Unipile answers that click, then exits 0.
#[tokio::test]
async fn sigterm_drains_the_web_tiers_request_in_flight_and_exits_0() {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("web")))
        .filter(|p| p.exists())
        .expect("the web binary (cargo build --bins)");
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let log = std::env::temp_dir().join(format!("relink-web-drain-{}.log", uuid::Uuid::new_v4()));
    let out = std::fs::File::create(&log).unwrap();
    let mut web = std::process::Command::new(exe)
        .env(
            "TEMPORAL_ADDRESS",
            std::env::var("TEMPORAL_ADDRESS").unwrap_or_else(|_| "127.0.0.1:7233".into()),
        )
        .env("TEMPORAL_TASK_QUEUE", &app.task_queue)
        .env(
            "DATABASE_URL",
            relink_tests::app_database_url(&app.database_url),
        )
        .env("MIGRATION_DATABASE_URL", &app.database_url)
        .env("WEB_ADDR", format!("127.0.0.1:{port}"))
        .env("WEBHOOK_SECRET", relink_tests::WEBHOOK_SECRET)
        .env("ACCOUNT_LINK_KEY", relink_tests::ACCOUNT_LINK_KEY)
        .env("SESSION_KEY", relink_tests::SESSION_KEY)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(60), "the web tier serving", || async {
        let r = app.http.get(format!("{url}/healthz")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    // Unipile takes 3 s to issue the link: the click is in flight that long.
    app.sim_post(
        "/_sim/faults",
        json!({"route": LINK_ROUTE, "status": 0, "count": 1, "latency_ms": LISTING_LATENCY_MS}),
    )
    .await;
    let click = {
        let (http, token) = (app.http.clone(), s.token.clone());
        let target = format!("{url}/api/accounts/{}/reconnect", s.account);
        tokio::spawn(async move {
            let r = http.post(target).bearer_auth(token).send().await?;
            Ok::<_, reqwest::Error>((r.status().as_u16(), r.json::<serde_json::Value>().await?))
        })
    };
    eventually(
        Duration::from_secs(60),
        "the click waiting for Unipile",
        || async { (app.sim_fault_calls_left(LINK_ROUTE).await == 0).then_some(()) },
    )
    .await;
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &web.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let (code, body) = tokio::time::timeout(Duration::from_secs(30), click)
        .await
        .expect("the click is answered")
        .unwrap()
        .unwrap_or_else(|e| {
            panic!(
                "the click in flight was dropped: {e}; log: {}",
                log.display()
            )
        });
    assert_eq!(code, 200, "{body}");
    assert!(
        body["url"].as_str().is_some_and(|u| u.contains("/hosted/")),
        "{body}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = web.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the web tier did not exit; log: {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status.success(),
        "exit status {status}; log: {}",
        log.display()
    );
    assert!(
        app.http.get(format!("{url}/healthz")).send().await.is_err(),
        "nothing listens any more"
    );
    let _ = std::fs::remove_file(&log);
}
