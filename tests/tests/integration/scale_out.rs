//! More than one of each process (issue 14): two web tiers and two workers on one
//! Temporal server, one PostgreSQL and one task queue, as `./dev up --workers 2 --webs 2`
//! runs them.

use relink_domain::AccountStatus;
use relink_tests::{AppOptions, eventually, spawn_app};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

const LINK: &str = "POST /api/v1/hosted/accounts/link";
const GET_ACCOUNT: &str = "GET /api/v1/accounts/{id}";

#[tokio::test]
async fn a_hundred_clicks_over_two_web_tiers_and_two_workers_open_one_hosted_link() {
    let app = spawn_app(AppOptions::default()).await;
    let other_web = app.start_another_web().await;
    let other_worker = app.start_another_worker().await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let id = s.account.to_string();
    let clicks = (0..100).map(|i| {
        let web = if i % 2 == 0 {
            app.web_url.clone()
        } else {
            other_web.clone()
        };
        relink_tests::click_reconnect(app.http.clone(), web, s.token.clone(), id.clone())
    });
    let answers = futures::future::join_all(clicks).await;
    let urls: HashSet<String> = answers
        .iter()
        .map(|(code, body)| {
            assert_eq!(*code, 200, "{body}");
            body["url"].as_str().expect("a url").to_string()
        })
        .collect();
    assert_eq!(
        urls.len(),
        1,
        "every click, on either web tier, sees one url"
    );
    assert_eq!(
        app.sim_count(LINK).await,
        1,
        "one hosted-auth session at Unipile"
    );
    assert_eq!(app.audit_count(s.account, "connecting").await, 1);
    other_worker.kill();
}

#[tokio::test]
async fn a_worker_killed_mid_run_leaves_every_run_completed_once() {
    let mut app = spawn_app(AppOptions::default()).await;
    let survivor = app.start_another_worker().await;
    let mut seeded = Vec::new();
    for _ in 0..8 {
        let s = app
            .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
            .await;
        let (code, link) = app.click_reconnect(&s.token, &s.account.to_string()).await;
        assert_eq!(code, 200, "{link}");
        seeded.push((s, link));
    }
    // Each relink re-reads the account on Unipile first: those reads take 1.5 s, so
    // relinks are in flight on both workers when one of them dies.
    let slow = seeded.len() as u64;
    app.sim_post(
        "/_sim/faults",
        json!({"route": GET_ACCOUNT, "status": 0, "count": slow, "latency_ms": 1500}),
    )
    .await;
    for (_, link) in &seeded {
        let done = app.finish_hosted_auth(&link["url"], true).await;
        assert_eq!(done["notify"]["first_status"], 200, "{done}");
    }
    eventually(Duration::from_secs(30), "relinks in flight", || async {
        (app.sim_fault_calls_left(GET_ACCOUNT).await < slow).then_some(())
    })
    .await;
    app.kill_worker();
    for (s, _) in &seeded {
        let wf = relink_domain::reconnect_workflow_id(s.account);
        let status = app
            .wait_workflow_closed(&wf, Duration::from_secs(120))
            .await;
        assert!(status.contains("Completed"), "{wf}: {status}");
        assert_eq!(
            app.account(s.account).await.status,
            AccountStatus::Connected
        );
        assert_eq!(
            app.audit_count(s.account, "connected").await,
            1,
            "{wf}: relinked exactly once"
        );
        assert_eq!(app.campaign(s.paused_for_disconnect).await.0, "active");
    }
    survivor.kill();
}
