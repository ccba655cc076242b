//! `/metrics` and `/readyz` on both processes: the web tier and the worker
//! (`WORKER_METRICS_ADDR`) render relink's own metrics in the Prometheus text format, the
//! worker also the Temporal SDK's (`temporal_…`); readiness answers 503 unless
//! PostgreSQL and Temporal answer, and on the worker unless a task poll is in flight.

use relink_domain::AccountStatus;
use relink_tests::{AppOptions, eventually, spawn_app};
use serde_json::Value;
use std::time::Duration;

/// The value of the sample `name{labels}` (labels as rendered, e.g. `state="connected"`).
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn both_processes_serve_metrics_and_readiness() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    app.seed_account(AccountStatus::Connected, "OK").await;

    // A Reconnect click and its relink show in the counters. The recorder is the test
    // process's, shared by every test: what this test shows is that its own click moved
    // the counter.
    let clicks = || async {
        let text = app
            .http
            .get(format!("{}/metrics", app.web_url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        sample(&text, "relink_reconnect_clicks_total", "outcome=\"link\"").unwrap_or(0.0)
    };
    let before = clicks().await;
    let (status, link) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    assert_eq!(status, 200, "{link}");
    app.finish_hosted_auth(&link["url"], true).await;
    app.wait_status(s.account, AccountStatus::Connected).await;

    let web = app
        .http
        .get(format!("{}/metrics", app.web_url))
        .send()
        .await
        .unwrap();
    assert_eq!(web.status(), 200);
    let text = web.text().await.unwrap();
    assert!(
        // A gauge the process's tests all set: present, whatever another test set last.
        sample(&text, "relink_accounts", "state=\"connected\"").is_some(),
        "{text}"
    );
    assert!(
        sample(&text, "relink_reconnect_clicks_total", "outcome=\"link\"")
            .is_some_and(|n| n > before),
        "{text}"
    );
    assert!(
        text.contains("relink_reconnect_click_seconds_bucket"),
        "a histogram: {text}"
    );
    assert!(
        sample(
            &text,
            "relink_relinks_total",
            "path=\"hosted_auth_callback\""
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "relink_unipile_requests_total",
            "route=\"POST /api/v1/hosted/accounts/link\""
        )
        .is_some(),
        "{text}"
    );

    let ready = app
        .http
        .get(format!("{}/readyz", app.web_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    assert_eq!(body["checks"]["temporal"], "ok", "{body}");

    // The worker: ready once a task poll was seen in flight; relink's metrics and the
    // SDK's on one page.
    let worker = app
        .worker_metrics_url()
        .expect("the worker's metrics address");
    let body: Value = eventually(Duration::from_secs(20), "the worker is ready", || async {
        let r = app.http.get(format!("{worker}/readyz")).send().await.ok()?;
        (r.status() == 200).then_some(())?;
        r.json().await.ok()
    })
    .await;
    assert_eq!(body["checks"]["task_poll"], "ok", "{body}");
    let text = app
        .http
        .get(format!("{worker}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("relink_accounts"), "relink's own: {text}");
    assert!(
        text.contains("temporal_"),
        "the SDK's worker metrics: {text}"
    );
}

#[tokio::test]
async fn readiness_says_503_when_postgresql_is_gone() {
    let app = spawn_app(AppOptions::default()).await;
    // The test's own database disappears under the web tier.
    let admin = std::env::var("RELINK_TEST_DATABASE_URL").unwrap();
    let name = app.database_url.rsplit('/').next().unwrap().to_string();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    let r = eventually(Duration::from_secs(20), "readyz says 503", || async {
        let r = app
            .http
            .get(format!("{}/readyz", app.web_url))
            .send()
            .await
            .ok()?;
        (r.status() == 503).then_some(r)
    })
    .await;
    let body: Value = r.json().await.unwrap();
    assert_ne!(body["checks"]["database"], "ok", "{body}");
    assert_eq!(body["checks"]["temporal"], "ok", "{body}");
    assert_eq!(body["ready"], false);
    // Liveness is not readiness.
    let live = app
        .http
        .get(format!("{}/healthz", app.web_url))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
}

#[tokio::test]
async fn one_request_id_per_request_is_echoed_and_carried_into_the_workflow_it_starts() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let r = app
        .http
        .post(format!(
            "{}/api/accounts/{}/reconnect",
            app.web_url, s.account
        ))
        .bearer_auth(&s.token)
        .header("x-request-id", "req-observability-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "req-observability-test-1");
    // A request without one gets a fresh id.
    let r = app
        .http
        .get(format!("{}/healthz", app.web_url))
        .send()
        .await
        .unwrap();
    let fresh = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&fresh).is_ok(), "{fresh}");

    let d = app
        .temporal
        .get_workflow_handle::<temporalio_client::UntypedWorkflow>(
            relink_domain::reconnect_workflow_id(s.account),
        )
        .describe(Default::default())
        .await
        .unwrap();
    let memo = d
        .raw_description
        .workflow_execution_info
        .and_then(|i| i.memo)
        .expect("a memo");
    let payload = &memo.fields["request_id"];
    let id: String = serde_json::from_slice(&payload.data).unwrap();
    assert_eq!(id, "req-observability-test-1");
}
