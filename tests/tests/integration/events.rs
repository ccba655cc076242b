//! Outbound events to the platform, received by a real HTTP receiver that verifies
//! every request with the `standardwebhooks` crate (as any Standard Webhooks library
//! would, rejecting timestamps older than 5 minutes): signed events for a disconnect and
//! a reconnect, delivered once each and in sequence order across a receiver outage;
//! secret rotation signing with both secrets; event filters; removed endpoints.

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use relink_domain::{AccountStatus, events::EventType};
use relink_starter::ops::{Pass, run_pass};
use relink_tests::{AppOptions, TestApp, spawn_app};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// What the receiver does with a request.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Answers 503 (a receiver that is up but failing).
    Failing,
    /// Verifies and answers 204.
    Up,
}

/// One verified request.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: i64,
    received_at: i64,
    signature: String,
    raw: Vec<u8>,
    body: Value,
}

#[derive(Clone)]
struct Receiver {
    mode: Arc<Mutex<Mode>>,
    secrets: Arc<Mutex<Vec<String>>>,
    got: Arc<Mutex<Vec<Received>>>,
    rejected: Arc<Mutex<Vec<String>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if *r.mode.lock().unwrap() == Mode::Failing {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let secrets = r.secrets.lock().unwrap().clone();
    let verified = secrets.iter().any(|s| {
        standardwebhooks::Webhook::new(s)
            .and_then(|wh| wh.verify(&body, &headers))
            .is_ok()
    });
    let header = |h: &str| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    if !verified {
        r.rejected.lock().unwrap().push(header("webhook-id"));
        return StatusCode::UNAUTHORIZED;
    }
    r.got.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap_or_default(),
        received_at: chrono::Utc::now().timestamp(),
        signature: header("webhook-signature"),
        raw: body.to_vec(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    StatusCode::NO_CONTENT
}

impl Receiver {
    fn new() -> Self {
        Receiver {
            mode: Arc::new(Mutex::new(Mode::Up)),
            secrets: Arc::default(),
            got: Arc::default(),
            rejected: Arc::default(),
        }
    }

    /// Serves on `listener` until the test ends.
    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    fn types(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.body["type"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

async fn pass(app: &TestApp) -> Value {
    run_pass(&app.temporal, &app.task_queue, Pass::EventDelivery, false)
        .await
        .unwrap()
        .1
}

/// Makes every pending delivery due now (instead of waiting out its backoff).
async fn due_now(app: &TestApp) {
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE delivered_at IS NULL")
        .execute(app.store.pool())
        .await
        .unwrap();
}

/// Runs passes until no delivery is pending (at most 30 s: a pass may deliver nothing
/// while another test's transaction holds the horizon back).
async fn drain(app: &TestApp) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        pass(app).await;
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_deliveries WHERE delivered_at IS NULL AND given_up_at IS NULL",
        )
        .fetch_one(app.store.pool())
        .await
        .unwrap();
        if pending == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{pending} deliveries still pending after 30 s"
        );
    }
}

#[tokio::test]
async fn a_disconnect_and_a_reconnect_arrive_signed_once_each_in_order_across_an_outage() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    // The receiver's address is reserved but nothing listens yet: it is down.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/hooks");
    let (endpoint, secret) = app
        .store
        .add_webhook_endpoint(s.workspace, &url, None)
        .await
        .unwrap();
    assert!(secret.starts_with("whsec_"), "a Standard Webhooks secret");

    // Disconnect: account.disconnected and campaign.paused, written with the flip.
    let uid = s.unipile_id.clone().unwrap();
    app.set_sim_status(&uid, "CREDENTIALS").await;
    app.wait_status(s.account, AccountStatus::ReconnectNeeded)
        .await;
    let first = pass(&app).await;
    assert_eq!(
        first["failed"].as_array().map(Vec::len),
        Some(1),
        "down: one account's oldest event is tried, the rest wait behind it: {first}"
    );
    let state = app.store.deliveries_to(endpoint.id).await.unwrap();
    assert_eq!(state[0].attempts, 1);
    assert!(
        state[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("refused")),
        "{state:?}"
    );
    assert_eq!(pass(&app).await["failed"], json!([]), "backed off: not due");

    // Reconnect while the receiver is still down: two more events queue behind.
    let (status, link) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    assert_eq!(status, 200, "{link}");
    app.finish_hosted_auth(&link["url"], true).await;
    app.wait_status(s.account, AccountStatus::Connected).await;

    // Up but failing (503): still not delivered; only a 2xx counts.
    let receiver = Receiver::new();
    receiver.secrets.lock().unwrap().push(secret.clone());
    *receiver.mode.lock().unwrap() = Mode::Failing;
    receiver.serve(tokio::net::TcpListener::bind(addr).await.unwrap());
    due_now(&app).await;
    let failing = pass(&app).await;
    assert_eq!(failing["delivered"], json!([]), "{failing}");
    assert_eq!(
        app.store.deliveries_to(endpoint.id).await.unwrap()[0].last_status,
        Some(503)
    );

    // Up: every event arrives, once each, in sequence order, each signature verified
    // with a fresh timestamp (the events and their first attempts are put 10 minutes in
    // the past: a signature stamped then would fail the receiver's 5-minute window).
    sqlx::query("UPDATE outbound_events SET occurred_at = occurred_at - interval '10 minutes'")
        .execute(app.store.pool())
        .await
        .unwrap();
    sqlx::query(
        "UPDATE webhook_deliveries SET first_attempt_at = first_attempt_at - interval '10 minutes'",
    )
    .execute(app.store.pool())
    .await
    .unwrap();
    *receiver.mode.lock().unwrap() = Mode::Up;
    due_now(&app).await;
    drain(&app).await;
    assert_eq!(
        receiver.types(),
        [
            "account.disconnected",
            "campaign.paused",
            "account.reconnected",
            "campaign.resumed"
        ],
        "{:?}",
        receiver.got.lock().unwrap()
    );
    let got = receiver.got.lock().unwrap().clone();
    assert!(receiver.rejected.lock().unwrap().is_empty());
    let ids: std::collections::HashSet<_> = got.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 4, "once each");
    let seqs: Vec<i64> = got
        .iter()
        .map(|r| r.body["data"]["sequence"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    for r in &got {
        assert_eq!(r.body["id"], json!(r.id), "the body's id is the webhook-id");
        assert_eq!(r.body["workspace_id"], json!(s.workspace.to_string()));
        assert_eq!(r.body["data"]["account_id"], json!(s.account.to_string()));
        assert!(r.body["occurred_at"].is_string());
        assert!(
            (r.received_at - r.timestamp).abs() <= 5,
            "signed when sent, not when first tried"
        );
    }
    assert_eq!(got[0].body["data"]["status"], "reconnect_needed");
    assert_eq!(got[0].body["data"]["previous_status"], "connected");
    assert_eq!(got[2].body["data"]["first_connection"], false);
    assert_eq!(
        got[1].body["data"]["campaign_id"],
        json!(s.paused_for_disconnect.to_string())
    );
    assert_eq!(
        got[1].body["data"]["pause_reasons"],
        json!(["linkedin_account_disconnected"])
    );
    let states = app.store.deliveries_to(endpoint.id).await.unwrap();
    assert!(
        states.iter().all(|d| d.delivered_at.is_some()),
        "{states:?}"
    );
    // Nothing is sent twice.
    due_now(&app).await;
    assert_eq!(pass(&app).await["delivered"], json!([]));
    assert_eq!(receiver.got.lock().unwrap().len(), 4);

    // A replay of a delivered request signed 6 minutes ago is refused by the receiver's
    // library (relink signs each attempt when it sends it).
    let old = chrono::Utc::now().timestamp() - 360;
    let body = got[0].raw.clone();
    let sig = relink_activities::signature_header(&[&secret], &got[0].id, old, &body).unwrap();
    let r = reqwest::Client::new()
        .post(&url)
        .header("webhook-id", &got[0].id)
        .header("webhook-timestamp", old.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(receiver.got.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_old_one_filters_hold_and_a_removed_endpoint_gets_nothing()
 {
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let receiver = Receiver::new();
    receiver.serve(listener);
    let (all, old_secret) = app
        .store
        .add_webhook_endpoint(s.workspace, &url, None)
        .await
        .unwrap();
    let (only_accounts, filtered_secret) = app
        .store
        .add_webhook_endpoint(
            s.workspace,
            &url,
            Some(&[
                EventType::AccountDisconnected,
                EventType::AccountReconnected,
            ]),
        )
        .await
        .unwrap();
    // The receiver knows only the new secret of `all` and the filtered endpoint's.
    let new_secret = app.store.rotate_webhook_secret(all.id, 3600).await.unwrap();
    assert_ne!(new_secret, old_secret);
    receiver
        .secrets
        .lock()
        .unwrap()
        .extend([new_secret.clone(), filtered_secret.clone()]);

    app.set_sim_status(s.unipile_id.as_deref().unwrap(), "CREDENTIALS")
        .await;
    app.wait_status(s.account, AccountStatus::ReconnectNeeded)
        .await;
    drain(&app).await;
    let got = receiver.got.lock().unwrap().clone();
    assert!(receiver.rejected.lock().unwrap().is_empty());
    // `all` got both events; the filtered endpoint only the account's.
    assert_eq!(
        app.store.deliveries_to(all.id).await.unwrap().len(),
        2,
        "account.disconnected and campaign.paused"
    );
    let filtered = app.store.deliveries_to(only_accounts.id).await.unwrap();
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0].kind, "account.disconnected");
    assert_eq!(got.len(), 3);
    // During the grace period each request carries both signatures: a receiver still on
    // the old secret verifies too.
    let from_all: Vec<_> = got
        .iter()
        .filter(|r| r.signature.split(' ').count() == 2)
        .collect();
    assert_eq!(from_all.len(), 2, "{got:?}");
    let old_only = standardwebhooks::Webhook::new(&old_secret).unwrap();
    for r in from_all {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", r.id.parse().unwrap());
        headers.insert(
            "webhook-timestamp",
            r.timestamp.to_string().parse().unwrap(),
        );
        headers.insert("webhook-signature", r.signature.parse().unwrap());
        old_only
            .verify(&r.raw, &headers)
            .expect("the old secret still signs");
    }

    // A removed endpoint gets no new event.
    app.store.remove_webhook_endpoint(all.id).await.unwrap();
    assert!(
        app.store
            .webhook_endpoints(Some(s.workspace))
            .await
            .unwrap()
            .iter()
            .all(|e| e.id != all.id)
    );
    app.store
        .user_resume(s.workspace, s.paused_also_manual)
        .await
        .unwrap();
    drain(&app).await;
    assert_eq!(app.store.deliveries_to(all.id).await.unwrap().len(), 2);
    assert_eq!(receiver.got.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn an_event_committed_late_is_not_overtaken_by_a_later_sequence_number() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let receiver = Receiver::new();
    receiver.serve(listener);
    let (_, secret) = app
        .store
        .add_webhook_endpoint(s.workspace, &url, None)
        .await
        .unwrap();
    receiver.secrets.lock().unwrap().push(secret);

    // Transaction A pauses one campaign (its event takes the lower sequence number) and
    // stays open; transaction B resumes the account's other campaign and commits first.
    let mut a = app.store.pool().begin().await.unwrap();
    sqlx::query("INSERT INTO campaign_pauses (campaign_id, reason) VALUES ($1, 'manual')")
        .bind(s.paused_for_disconnect)
        .execute(&mut *a)
        .await
        .unwrap();
    sqlx::query("UPDATE campaigns SET status = 'paused' WHERE id = $1")
        .bind(s.paused_for_disconnect)
        .execute(&mut *a)
        .await
        .unwrap();
    app.store
        .user_resume(s.workspace, s.paused_also_manual)
        .await
        .unwrap();
    // B's event is visible, but A could still commit a lower number: nothing goes out.
    let held = pass(&app).await;
    assert_eq!(held["delivered"], json!([]), "{held}");
    assert!(receiver.got.lock().unwrap().is_empty());

    a.commit().await.unwrap();
    drain(&app).await;
    let got = receiver.got.lock().unwrap().clone();
    let seen: Vec<_> = got
        .iter()
        .map(|r| {
            (
                r.body["type"].as_str().unwrap().to_string(),
                r.body["data"]["campaign_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "campaign.paused".to_string(),
                s.paused_for_disconnect.to_string()
            ),
            (
                "campaign.resumed".to_string(),
                s.paused_also_manual.to_string()
            )
        ],
        "in sequence order, though committed in the other order"
    );
}

/// A scheduled pass ends inside the execution timeout its Schedule gives it (nine
/// tenths of 10 s), even against an endpoint that accepts the connection and never
/// answers: the POST is cut at the pass's deadline and recorded as a failed attempt
/// (retried later), instead of the run timing out with the outcome unwritten.
#[tokio::test]
async fn a_scheduled_pass_against_a_receiver_that_never_answers_ends_inside_its_run() {
    use relink_domain::events::{EVENT_DELIVERY_INTERVAL_SECS, EventPassInput, EventPassSummary};
    use relink_workflows::EventDeliveryWorkflow;
    use std::time::Duration;
    use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};

    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    // Accepts connections and holds them open, silent.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let (endpoint, _) = app
        .store
        .add_webhook_endpoint(s.workspace, &url, Some(&[EventType::AccountDisconnected]))
        .await
        .unwrap();
    app.set_sim_status(s.unipile_id.as_deref().unwrap(), "CREDENTIALS")
        .await;
    app.wait_status(s.account, AccountStatus::ReconnectNeeded)
        .await;

    let run_timeout =
        relink_starter::ops::execution_timeout(Duration::from_secs(EVENT_DELIVERY_INTERVAL_SECS));
    assert!(run_timeout < Duration::from_secs(EVENT_DELIVERY_INTERVAL_SECS));
    let started = std::time::Instant::now();
    let run_id = format!("event-delivery-test-{}", uuid::Uuid::new_v4().simple());
    let handle = app
        .temporal
        .start_workflow(
            EventDeliveryWorkflow::run,
            EventPassInput::default(),
            WorkflowStartOptions::new(app.task_queue.clone(), run_id.clone())
                .execution_timeout(run_timeout)
                .build(),
        )
        .await
        .unwrap();
    let summary: EventPassSummary = handle
        .get_result(WorkflowGetResultOptions::default())
        .await
        .expect("the pass completes instead of timing out");
    app.record_history("event_delivery_deadline", &run_id).await;
    assert!(started.elapsed() < run_timeout, "{:?}", started.elapsed());
    assert_eq!(summary.failed.len(), 1, "{summary:?}");
    assert!(summary.delivered.is_empty());
    let d = &app.store.deliveries_to(endpoint.id).await.unwrap()[0];
    assert_eq!(d.attempts, 1, "the cut POST is recorded as one attempt");
    assert!(d.delivered_at.is_none() && d.given_up_at.is_none());
}
