//! The Reconnect flow end to end: web tier → Temporal workflow → unipile-sim →
//! PostgreSQL, on a real Temporal dev server and a real database.

use relink_domain::AccountStatus;
use relink_tests::{AppOptions, eventually, spawn_app};
use serde_json::{Value, json};
use std::time::Duration;

const LINK: &str = "POST /api/v1/hosted/accounts/link";

/// The token (`name`) of the newest hosted-link request the simulator received.
fn newest_link_token(requests: &[Value]) -> String {
    requests
        .iter()
        .rfind(|r| r["route"] == LINK)
        .and_then(|r| r["body"]["name"].as_str())
        .expect("a link request with a name")
        .to_string()
}

#[tokio::test]
async fn a_double_click_gets_one_url_and_one_hosted_link() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let id = s.account.to_string();
    let (c1, b1) = app.click_reconnect(&s.token, &id).await;
    let (c2, b2) = app.click_reconnect(&s.token, &id).await;
    assert_eq!((c1, c2), (200, 200), "{b1} {b2}");
    assert_eq!(b1["url"], b2["url"]);
    assert_eq!(b1["workflow_id"], format!("reconnect:{id}"));
    assert_eq!(app.sim_count(LINK).await, 1);
    let row = app.account(s.account).await;
    assert_eq!(row.status, AccountStatus::Connecting);
    assert_eq!(app.audit_count(s.account, "connecting").await, 1);
    // Still waiting for the callback: replayed as a run in flight at a deploy.
    app.record_history(
        "reconnect_dedup_clicks",
        &relink_domain::reconnect_workflow_id(s.account),
    )
    .await;
    // The link request had the documented reconnect shape.
    let req = app
        .sim_requests()
        .await
        .into_iter()
        .find(|r| r["route"] == LINK)
        .unwrap();
    assert_eq!(req["body"]["type"], "reconnect");
    assert_eq!(
        req["body"]["reconnect_account"],
        s.unipile_id.clone().unwrap()
    );
    assert_eq!(
        req["body"]["name"],
        row.link_token.clone().unwrap().as_str()
    );
    let notify = req["body"]["notify_url"].as_str().unwrap();
    assert!(notify.ends_with(&format!(
        "/webhooks/unipile/hosted-auth/{}",
        row.link_token.unwrap()
    )));
}

#[tokio::test]
async fn a_fresh_link_is_answered_from_the_row_and_never_to_another_workspace() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let id = s.account.to_string();
    let (_, first) = app.click_reconnect(&s.token, &id).await;
    // The repeat click is served from the link the workflow recorded on the row.
    let row_url: Option<String> =
        sqlx::query_scalar("SELECT link_url FROM linkedin_accounts WHERE id = $1")
            .bind(s.account.0)
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    assert_eq!(row_url.as_deref(), first["url"].as_str());
    let (code, again) = app.click_reconnect(&s.token, &id).await;
    assert_eq!((code, &again["url"]), (200, &first["url"]));
    // Another workspace's token gets a 404, not the fresh link.
    let (_, other_token) = app.store.create_workspace("Other").await.unwrap();
    let (code, body) = app.click_reconnect(&other_token, &id).await;
    assert_eq!(code, 404, "{body}");
    assert!(body.get("url").is_none());
    assert_eq!(app.sim_count(LINK).await, 1);
}

#[tokio::test]
async fn ten_parallel_clicks_create_one_hosted_link() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let id = s.account.to_string();
    let clicks = (0..10).map(|_| app.click_reconnect(&s.token, &id));
    let answers = futures::future::join_all(clicks).await;
    let urls: std::collections::HashSet<_> = answers
        .iter()
        .map(|(c, b)| {
            assert_eq!(*c, 200, "{b}");
            b["url"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(urls.len(), 1, "all ten clicks see one url");
    assert_eq!(
        app.sim_count(LINK).await,
        1,
        "one hosted-auth session at Unipile"
    );
}

#[tokio::test]
async fn a_click_after_the_reuse_window_gets_a_fresh_link() {
    let opts = AppOptions {
        link_reuse_window: Duration::from_secs(2),
        ..AppOptions::default()
    };
    let app = spawn_app(opts).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let id = s.account.to_string();
    let (_, first) = app.click_reconnect(&s.token, &id).await;
    // The reuse window runs from the link's issue time (its expiry less the 600 s
    // lifetime): the second click comes just after the window has closed.
    let expires: chrono::DateTime<chrono::Utc> =
        first["expires_at"].as_str().unwrap().parse().unwrap();
    let window_closes = expires - chrono::Duration::seconds(600) + chrono::Duration::seconds(2);
    let wait = (window_closes - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(100)).await;
    let (code, second) = app.click_reconnect(&s.token, &id).await;
    assert_eq!(code, 200, "{second}");
    assert_ne!(first["url"], second["url"]);
    assert_eq!(app.sim_count(LINK).await, 2);
    // The row holds the newest token; the old link's callback is now stale.
    let requests = app.sim_requests().await;
    let newest = newest_link_token(&requests);
    assert_eq!(
        app.account(s.account).await.link_token.as_deref(),
        Some(newest.as_str())
    );
    let old = requests.iter().find(|r| r["route"] == LINK).unwrap()["body"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({"status": "RECONNECTED", "account_id": s.unipile_id.unwrap(), "name": old});
    assert_eq!(
        app.notify(&old, &body).await,
        404,
        "a stale link's callback changes nothing"
    );
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Connecting
    );
    // Still one flip to connecting for the whole linking attempt.
    assert_eq!(app.audit_count(s.account, "connecting").await, 1);
}

#[tokio::test]
async fn failed_link_creation_is_not_cached() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    // Every attempt of the first click fails (the activity makes 3 attempts).
    app.sim_post(
        "/_sim/faults",
        json!({"route": LINK, "status": 503, "count": 3}),
    )
    .await;
    let (code, body) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    assert_eq!(code, 502, "{body}");
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::ReconnectNeeded,
        "nothing changed"
    );
    let (code, body) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    assert_eq!(code, 200, "the next click tries again: {body}");
    assert!(body["url"].as_str().unwrap().contains("/hosted/"));
}

#[tokio::test]
async fn hosted_auth_completed_links_the_row_and_resumes_only_the_disconnect_pause() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let (_, link) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    let done = app
        .sim_post(
            "/_sim/hosted/complete",
            json!({"url": link["url"], "notify": true}),
        )
        .await;
    assert_eq!(done["notify"]["first_status"], 200);
    let row = eventually(Duration::from_secs(30), "row connected", || async {
        let r = app.account(s.account).await;
        (r.status == AccountStatus::Connected).then_some(r)
    })
    .await;
    let wf = relink_domain::reconnect_workflow_id(s.account);
    app.wait_workflow_closed(&wf, Duration::from_secs(30)).await;
    app.record_history("reconnect_link_then_callback", &wf)
        .await;
    assert_eq!(row.unipile_account_id, s.unipile_id.map(Into::into));
    assert!(row.first_connected_at.is_some());
    assert_eq!(
        app.audit_count(s.account, "connected").await,
        1,
        "exactly one relink flip"
    );
    assert_eq!(
        app.campaign(s.paused_for_disconnect).await,
        ("active".to_string(), vec![])
    );
    assert_eq!(
        app.campaign(s.paused_also_manual).await,
        ("paused".to_string(), vec!["manual".to_string()])
    );
    let enrollments: Vec<(String, i32)> = sqlx::query_as(
        "SELECT state, current_step FROM campaign_enrollments WHERE campaign_id = $1 ORDER BY prospect_ref",
    )
    .bind(s.paused_for_disconnect)
    .fetch_all(app.store.pool())
    .await
    .unwrap();
    assert_eq!(
        enrollments,
        vec![
            ("active".into(), 1),
            ("active".into(), 2),
            ("active".into(), 0)
        ],
        "woken at the step they were on"
    );
    // The API shows the pill and the pause hint.
    let v: Value = app
        .http
        .get(format!("{}/api/accounts", app.web_url))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["accounts"][0]["pill"]["state"], "connected");
    assert!(
        v["accounts"][0]["first_connected_on"]
            .as_str()
            .unwrap()
            .contains('/')
    );
}

/// Issue 13: a link's token (the callback's only credential) and its wizard url (a login
/// into the account) are not readable in the Reconnect run's history, through a first
/// click, a repeated click and the callback; the ids an operator searches by are.
#[tokio::test]
async fn a_links_token_and_url_stay_out_of_workflow_history() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let id = s.account.to_string();
    let (c1, link) = app.click_reconnect(&s.token, &id).await;
    let (c2, again) = app.click_reconnect(&s.token, &id).await;
    assert_eq!((c1, c2), (200, 200), "{link} {again}");
    assert_eq!(link["url"], again["url"], "the url comes back from the row");
    let url = link["url"].as_str().expect("a url").to_string();
    let token = newest_link_token(&app.sim_requests().await);
    let row = app.account(s.account).await;
    assert_eq!(row.link_token.as_deref(), Some(token.as_str()));
    let link_ref = row.link_ref.clone().expect("the row names its link");
    let done = app
        .sim_post("/_sim/hosted/complete", json!({"url": url, "notify": true}))
        .await;
    assert_eq!(done["notify"]["first_status"], 200, "{done}");
    let wf = relink_domain::reconnect_workflow_id(s.account);
    let closed = app.wait_workflow_closed(&wf, Duration::from_secs(30)).await;
    assert!(closed.contains("Completed"), "{closed}");
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Connected
    );
    let texts = app.history_texts(&wf).await;
    assert!(texts.len() > 10, "payloads were decoded: {}", texts.len());
    let url_secret = url.rsplit('/').next().expect("a path");
    for text in &texts {
        assert!(
            !text.contains(&token),
            "the link token is in history: {text}"
        );
        assert!(
            !text.contains(url_secret),
            "the hosted-auth url is in history: {text}"
        );
    }
    let all = texts.concat();
    assert!(
        all.contains(link_ref.as_str()),
        "history names the link by its reference"
    );
    assert!(all.contains(&id), "the account id stays searchable");
    assert!(
        all.contains(&s.workspace.to_string()),
        "so does the workspace id"
    );
}

#[tokio::test]
async fn callbacks_with_unknown_tokens_are_404_and_duplicates_flip_once() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let (_, _link) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    let token = app.account(s.account).await.link_token.unwrap();
    let unipile = s.unipile_id.clone().unwrap();
    let bogus = json!({"status": "RECONNECTED", "account_id": unipile, "name": "f".repeat(64)});
    assert_eq!(app.notify(&"f".repeat(64), &bogus).await, 404);
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Connecting,
        "nothing changed"
    );
    // The user finished the login; Unipile's notify was lost, so deliver it ourselves twice.
    app.sim_post(
        "/_sim/hosted/complete",
        json!({"url": _link["url"], "notify": false}),
    )
    .await;
    let body = json!({"status": "RECONNECTED", "account_id": unipile, "name": token});
    assert_eq!(app.notify(&token, &body).await, 200);
    assert_eq!(app.notify(&token, &body).await, 200);
    eventually(Duration::from_secs(30), "row connected", || async {
        (app.account(s.account).await.status == AccountStatus::Connected).then_some(())
    })
    .await;
    assert_eq!(
        app.notify(&token, &body).await,
        200,
        "a late duplicate still answers 200"
    );
    assert_eq!(
        app.audit_count(s.account, "connected").await,
        1,
        "one flip for two callbacks"
    );
}

#[tokio::test]
async fn a_worker_killed_while_waiting_for_the_callback_is_replaced_and_the_run_completes() {
    let mut app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let (code, link) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    assert_eq!(code, 200, "{link}");
    app.kill_worker();
    app.start_worker().await;
    app.sim_post(
        "/_sim/hosted/complete",
        json!({"url": link["url"], "notify": true}),
    )
    .await;
    eventually(
        Duration::from_secs(60),
        "row connected after the worker restart",
        || async {
            (app.account(s.account).await.status == AccountStatus::Connected).then_some(())
        },
    )
    .await;
    assert_eq!(app.audit_count(s.account, "connected").await, 1);
    assert_eq!(app.campaign(s.paused_for_disconnect).await.0, "active");
    assert_eq!(
        app.sim_count(LINK).await,
        1,
        "no second link after the restart"
    );
}

#[tokio::test]
async fn an_abandoned_link_puts_the_row_back_at_expiry() {
    let opts = AppOptions {
        link_reuse_window: Duration::from_secs(1),
        link_ttl: Duration::from_secs(3),
        ..AppOptions::default()
    };
    let app = spawn_app(opts).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let (code, _) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    assert_eq!(code, 200);
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Connecting
    );
    let row = eventually(
        Duration::from_secs(30),
        "row back to reconnect_needed",
        || async {
            let r = app.account(s.account).await;
            (r.status == AccountStatus::ReconnectNeeded).then_some(r)
        },
    )
    .await;
    let wf = relink_domain::reconnect_workflow_id(s.account);
    app.wait_workflow_closed(&wf, Duration::from_secs(30)).await;
    app.record_history("reconnect_expiry_abandoned", &wf).await;
    assert!(row.link_token.is_none(), "the expired token is void");
    assert!(row.link_ref.is_none(), "and so is its reference");
    assert_eq!(
        app.audit_count(s.account, "reconnect_needed").await,
        2,
        "the seed row and one revert"
    );
    assert_eq!(app.campaign(s.paused_for_disconnect).await.0, "paused");
}

#[tokio::test]
async fn a_lost_callback_is_healed_at_expiry_when_the_session_is_live() {
    let opts = AppOptions {
        link_reuse_window: Duration::from_secs(1),
        link_ttl: Duration::from_secs(3),
        ..AppOptions::default()
    };
    let app = spawn_app(opts).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let (_, link) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    app.sim_post(
        "/_sim/hosted/complete",
        json!({"url": link["url"], "notify": false}),
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "row relinked at expiry",
        || async {
            (app.account(s.account).await.status == AccountStatus::Connected).then_some(())
        },
    )
    .await;
    let wf = relink_domain::reconnect_workflow_id(s.account);
    app.wait_workflow_closed(&wf, Duration::from_secs(30)).await;
    app.record_history("reconnect_expiry_with_live_session", &wf)
        .await;
    assert_eq!(app.campaign(s.paused_for_disconnect).await.0, "active");
}

/// The workflow's own refusal (the web tier's pre-check bypassed, as when the account
/// became connected between that check and the click's update) reaches the caller as a
/// failure the web tier reads as `LinkRefusal::AlreadyConnected`, i.e. a 409.
#[tokio::test]
async fn the_workflows_already_connected_refusal_is_read_back_by_its_code() {
    use relink_domain::reconnect::{LinkRefusal, LinkRequest, ReconnectInput};
    use relink_workflows::ReconnectWorkflow;
    use temporalio_client::{
        WorkflowIdConflictPolicy, WorkflowUpdateWithStartOptions,
        errors::{WorkflowUpdateError, WorkflowUpdateWithStartError},
    };
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let opts = WorkflowUpdateWithStartOptions::new(
        app.task_queue.clone(),
        relink_domain::reconnect_workflow_id(s.account),
        WorkflowIdConflictPolicy::UseExisting,
    )
    .build();
    let err = app
        .temporal
        .execute_update_with_start_workflow(
            ReconnectWorkflow::run,
            ReconnectInput {
                account_id: s.account,
                workspace_id: s.workspace,
                link_reuse_window_ms: 90_000,
                link_ttl_ms: 600_000,
            },
            ReconnectWorkflow::request_link,
            LinkRequest {
                actor: "test".into(),
            },
            opts,
        )
        .await
        .expect_err("a connected account gets no link");
    let WorkflowUpdateWithStartError::Update(WorkflowUpdateError::Failed(failure)) = &err else {
        panic!("expected the update's failure, got {err:?}");
    };
    assert_eq!(
        LinkRefusal::from_failure_message(&failure.message),
        Some(LinkRefusal::AlreadyConnected),
        "{}",
        failure.message
    );
    assert_eq!(app.sim_count(LINK).await, 0, "nothing reached Unipile");
}
