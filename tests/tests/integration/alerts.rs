//! Admin alerts reach a person: the alert notifier posts each new alert to the operator
//! channel (`ALERT_WEBHOOK_URL`; here a real HTTP receiver taking Slack-compatible JSON),
//! once per notification key and hour, and alerts are acknowledged by themselves when
//! their condition heals — one loop's success never acknowledges another loop's alert.

use axum::{Json, Router, extract::State, routing::post};
use relink_domain::AccountStatus;
use relink_starter::ops::{Pass, run_pass};
use relink_store::StoreError;
use relink_tests::{AppOptions, TestApp, spawn_app};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

type Inbox = Arc<Mutex<Vec<Value>>>;

async fn slack(State(inbox): State<Inbox>, Json(body): Json<Value>) -> &'static str {
    inbox.lock().unwrap().push(body);
    "ok"
}

async fn pass(app: &TestApp, p: Pass) -> Value {
    run_pass(&app.temporal, &app.task_queue, p, false)
        .await
        .unwrap()
        .1
}

async fn aborted_alerts(app: &TestApp) -> Vec<relink_store::Alert> {
    app.store
        .alerts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == "healing.pass_aborted")
        .collect()
}

#[tokio::test]
async fn an_alert_reaches_the_operator_channel_once_an_hour_and_is_acknowledged_when_healed() {
    let inbox: Inbox = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slack", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/slack", post(slack))
        .with_state(inbox.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let app = spawn_app(AppOptions {
        alert_webhook_url: Some(url),
        ..AppOptions::default()
    })
    .await;
    app.unregister_webhooks().await;
    app.seed_account(AccountStatus::Connected, "OK").await;

    // Unipile's listing fails for good: the reconciler's pass aborts and alerts.
    app.sim_post(
        "/_sim/faults",
        json!({"route": "GET /api/v1/accounts", "status": 500, "count": 1000}),
    )
    .await;
    assert!(pass(&app, Pass::AccountReconciler).await["aborted"].is_string());
    let first = aborted_alerts(&app).await;
    assert_eq!(first.len(), 1);
    let (notifier_id, sent) = run_pass(&app.temporal, &app.task_queue, Pass::AlertNotifier, false)
        .await
        .unwrap();
    app.record_history("alert_notifier_sent", &notifier_id)
        .await;
    assert_eq!(sent["notified"], json!([first[0].id]), "{sent}");
    {
        let got = inbox.lock().unwrap();
        assert_eq!(got.len(), 1);
        let text = got[0]["text"].as_str().unwrap();
        assert!(
            text.contains("[CRITICAL]")
                && text.contains("healing.pass_aborted")
                && text.contains(&first[0].message),
            "{text}"
        );
    }

    // The next aborted pass of the same loop is a new alert row, but not a second
    // message within the hour.
    assert!(pass(&app, Pass::AccountReconciler).await["aborted"].is_string());
    let both = aborted_alerts(&app).await;
    assert_eq!(both.len(), 2);
    let again = pass(&app, Pass::AlertNotifier).await;
    assert_eq!(again["suppressed"], json!([both[0].id]), "{again}");
    assert_eq!(inbox.lock().unwrap().len(), 1);
    assert_eq!(
        pass(&app, Pass::AlertNotifier).await["notified"],
        json!([]),
        "nothing is sent twice"
    );

    // Unipile answers again. Another loop reading the listing does not heal the
    // reconciler's alerts; the reconciler's own complete pass does.
    app.http
        .delete(format!("{}/_sim/faults", app.sim_url))
        .send()
        .await
        .unwrap();
    let (ws, _) = app.store.create_workspace("W").await.unwrap();
    let seat = app
        .store
        .create_account(ws, "Seat", AccountStatus::Connecting, None, None, "test")
        .await
        .unwrap();
    sqlx::query(
        "UPDATE linkedin_accounts SET connecting_since = now() - interval '10 minutes' WHERE id = $1",
    )
    .bind(seat.0)
    .execute(app.store.pool())
    .await
    .unwrap();
    let orphan = pass(&app, Pass::OrphanWatcher).await;
    assert!(orphan["aborted"].is_null(), "{orphan}");
    assert_eq!(orphan["examined"], 1, "the orphan watcher read the listing");
    assert!(
        aborted_alerts(&app)
            .await
            .iter()
            .all(|a| a.acknowledged_at.is_none()),
        "the orphan watcher's success is not the reconciler's"
    );
    let healed = pass(&app, Pass::AccountReconciler).await;
    assert!(healed["aborted"].is_null(), "{healed}");
    let after = aborted_alerts(&app).await;
    assert!(
        after
            .iter()
            .all(|a| a.acknowledged_by.as_deref() == Some("system:healed")),
        "{after:?}"
    );

    // An operator acknowledges by id; twice or an unknown id is refused.
    assert!(app.store.open_alerts().await.unwrap().is_empty());
    let some = app.store.alerts().await.unwrap()[0].id;
    assert!(matches!(
        app.store.acknowledge_alert(some, "operator:test").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        app.store.acknowledge_alert(i64::MAX, "operator:test").await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn without_an_operator_channel_a_pass_says_so_and_sends_nothing() {
    let app = spawn_app(AppOptions::default()).await;
    let s = pass(&app, Pass::AlertNotifier).await;
    assert_eq!(s["not_configured"], true, "{s}");
}

#[tokio::test]
async fn a_loop_that_stopped_finishing_passes_raises_schedule_stale_until_it_runs_again() {
    let app = spawn_app(AppOptions::default()).await;
    let stale = |app: &TestApp| {
        let store = app.store.clone();
        async move {
            store
                .open_alerts()
                .await
                .unwrap()
                .into_iter()
                .filter(|a| a.kind == "schedule.stale")
                .collect::<Vec<_>>()
        }
    };
    // The sweeper (every 5 min) last finished a pass 15 minutes ago (stale after two
    // intervals and the 2-minute grace).
    sqlx::query(
        "INSERT INTO schedule_runs (schedule, last_success_at) VALUES ('campaign-sweeper', now() - interval '15 minutes')",
    )
    .execute(app.store.pool())
    .await
    .unwrap();
    pass(&app, Pass::AlertNotifier).await;
    let raised = stale(&app).await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0].payload["schedule"], "campaign-sweeper");
    // It runs again: healed.
    pass(&app, Pass::CampaignSweeper).await;
    pass(&app, Pass::AlertNotifier).await;
    assert!(stale(&app).await.is_empty());
    // It stops again within the hour: a new alert (a healed one does not mute it).
    sqlx::query(
        "UPDATE schedule_runs SET last_success_at = now() - interval '15 minutes' WHERE schedule = 'campaign-sweeper'",
    )
    .execute(app.store.pool())
    .await
    .unwrap();
    pass(&app, Pass::AlertNotifier).await;
    let again = stale(&app).await;
    assert_eq!(again.len(), 1, "{again:?}");
    assert_ne!(again[0].id, raised[0].id);
}
