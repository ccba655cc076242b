//! The healing loops against real Temporal, PostgreSQL and unipile-sim: the
//! account-status webhook, the orphan watcher, the sweeper, the user's Resume and the
//! reconciler with its sanity gate.

use relink_domain::{AccountStatus, PauseReason};
use relink_starter::ops::{Pass, run_pass};
use relink_tests::{AppOptions, Seeded, TestApp, WEBHOOK_SECRET, eventually, spawn_app};
use serde_json::{Value, json};
use std::time::Duration;

async fn webhook(app: &TestApp, secret: Option<&str>, body: &[u8]) -> u16 {
    let mut req = app
        .http
        .post(format!("{}/webhooks/unipile/account-status", app.web_url))
        .body(body.to_vec());
    if let Some(s) = secret {
        req = req.header("Unipile-Auth", s);
    }
    req.send().await.unwrap().status().as_u16()
}

fn status_body(id: &str, message: &str) -> Vec<u8> {
    relink_tests::account_status_body(id, message)
}

async fn emails(app: &TestApp, s: &Seeded) -> Vec<(Option<chrono::DateTime<chrono::Utc>>,)> {
    sqlx::query_as("SELECT withdrawn_at FROM email_outbox WHERE account_id = $1 ORDER BY id")
        .bind(s.account.0)
        .fetch_all(app.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn credentials_webhook_pauses_once_and_ok_resumes_and_withdraws_the_email() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let uid = s.unipile_id.clone().unwrap();

    // Wrong or missing secret: 401, nothing changed.
    assert_eq!(
        webhook(&app, None, &status_body(&uid, "CREDENTIALS")).await,
        401
    );
    assert_eq!(
        webhook(
            &app,
            Some("wrong-secret-wrong-secret"),
            &status_body(&uid, "CREDENTIALS")
        )
        .await,
        401
    );
    // Malformed body: 400.
    assert_eq!(webhook(&app, Some(WEBHOOK_SECRET), b"{nope").await, 400);
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Connected
    );

    // Unipile moves the source to CREDENTIALS; its own webhook delivery (no content type)
    // and two duplicates of ours arrive.
    app.sim_post(
        &format!("/_sim/accounts/{uid}/status"),
        json!({"status": "CREDENTIALS"}),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(
            webhook(
                &app,
                Some(WEBHOOK_SECRET),
                &status_body(&uid, "CREDENTIALS")
            )
            .await,
            200
        );
    }
    eventually(Duration::from_secs(30), "row reconnect_needed", || async {
        (app.account(s.account).await.status == AccountStatus::ReconnectNeeded).then_some(())
    })
    .await;
    app.wait_status_sync_applied(&uid).await;
    assert_eq!(
        app.audit_count(s.account, "reconnect_needed").await,
        1,
        "duplicates flip once"
    );
    assert_eq!(
        emails(&app, &s).await.len(),
        1,
        "one reconnect email per episode"
    );
    let (st, reasons) = app.campaign(s.paused_for_disconnect).await;
    assert_eq!(
        (st.as_str(), reasons),
        ("paused", vec!["linkedin_account_disconnected".to_string()])
    );
    let soft: i64 = sqlx::query_scalar("SELECT count(*) FROM campaign_enrollments WHERE campaign_id = $1 AND state = 'soft_paused'")
        .bind(s.paused_for_disconnect).fetch_one(app.store.pool()).await.unwrap();
    assert_eq!(soft, 3);

    // Out of order: a late OK webhook while Unipile still says CREDENTIALS changes nothing.
    assert_eq!(
        webhook(&app, Some(WEBHOOK_SECRET), &status_body(&uid, "OK")).await,
        200
    );
    app.wait_status_sync_applied(&uid).await;
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::ReconnectNeeded,
        "the webhook is re-read, not trusted"
    );

    // Fixed elsewhere: Unipile says OK → connected, campaigns resumed, email withdrawn.
    app.sim_post(
        &format!("/_sim/accounts/{uid}/status"),
        json!({"status": "OK"}),
    )
    .await;
    eventually(Duration::from_secs(30), "row connected again", || async {
        (app.account(s.account).await.status == AccountStatus::Connected).then_some(())
    })
    .await;
    assert_eq!(app.campaign(s.paused_for_disconnect).await.0, "active");
    assert_eq!(
        app.campaign(s.paused_also_manual).await.1,
        vec!["manual".to_string()]
    );
    let mails = emails(&app, &s).await;
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].0.is_some(),
        "the unsent reconnect email was withdrawn"
    );
}

#[tokio::test]
async fn a_short_error_blip_pauses_nothing_and_a_long_one_pauses_until_ok() {
    // Demo-sized tolerance: 3 s instead of 2 h.
    let app = spawn_app(AppOptions {
        blip_tolerance: Duration::from_secs(3),
        ..AppOptions::default()
    })
    .await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let uid = s.unipile_id.clone().unwrap();
    let pill = || async {
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
        v["accounts"][0]["pill"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    // Short: ERROR for about a second, then OK.
    app.sim_post(
        &format!("/_sim/accounts/{uid}/status"),
        json!({"status": "ERROR"}),
    )
    .await;
    eventually(Duration::from_secs(30), "pill sync_interrupted", || async {
        (pill().await == "sync_interrupted").then_some(())
    })
    .await;
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Connected
    );
    app.sim_post(
        &format!("/_sim/accounts/{uid}/status"),
        json!({"status": "OK"}),
    )
    .await;
    eventually(Duration::from_secs(30), "pill connected", || async {
        (pill().await == "connected").then_some(())
    })
    .await;
    // The sync run has closed: no blip check is left on a timer to pause anything.
    app.wait_status_sync_applied(&uid).await;
    app.record_history(
        "account_status_sync_blip",
        &relink_domain::account_status_workflow_id(&uid),
    )
    .await;
    assert_eq!(
        app.campaign(s.paused_for_disconnect).await.0,
        "active",
        "a short blip pauses nothing"
    );

    // Long: STOPPED past the tolerance pauses the campaigns (the row stays connected).
    app.sim_post(
        &format!("/_sim/accounts/{uid}/status"),
        json!({"status": "STOPPED"}),
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "campaign paused by the long blip",
        || async { (app.campaign(s.paused_for_disconnect).await.0 == "paused").then_some(()) },
    )
    .await;
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Connected
    );
    // The sweeper does not undo it while the blip lasts.
    let (sweep_id, sweep) = run_pass(&app.temporal, &app.task_queue, Pass::CampaignSweeper, false)
        .await
        .unwrap();
    app.record_history("campaign_sweeper", &sweep_id).await;
    assert_eq!(sweep["reasons_cleared"], 0, "{sweep}");
    // Back to OK: resumed.
    app.sim_post(
        &format!("/_sim/accounts/{uid}/status"),
        json!({"status": "OK"}),
    )
    .await;
    eventually(Duration::from_secs(30), "campaign resumed", || async {
        (app.campaign(s.paused_for_disconnect).await.0 == "active").then_some(())
    })
    .await;
    assert_eq!(
        app.campaign(s.paused_also_manual).await.1,
        vec!["manual".to_string()]
    );
}

async fn make_stuck_connecting(app: &TestApp, s: &Seeded) {
    // A reconnect that lost its callback: the row is linking and the session is live.
    let (code, body) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    assert_eq!(code, 200, "{body}");
    app.sim_post(
        "/_sim/hosted/complete",
        json!({"url": body["url"], "notify": false}),
    )
    .await;
    sqlx::query("UPDATE linkedin_accounts SET connecting_since = now() - interval '10 minutes' WHERE id = $1")
        .bind(s.account.0).execute(app.store.pool()).await.unwrap();
}

#[tokio::test]
async fn the_orphan_watcher_heals_a_lost_callback_once() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    make_stuck_connecting(&app, &s).await;
    let (orphan_id, summary) = run_pass(&app.temporal, &app.task_queue, Pass::OrphanWatcher, false)
        .await
        .unwrap();
    app.record_history("orphan_watcher_relinked", &orphan_id)
        .await;
    assert_eq!(
        summary["relinked"],
        json!([s.account.to_string()]),
        "{summary}"
    );
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Connected
    );
    assert_eq!(app.audit_count(s.account, "connected").await, 1);
    assert_eq!(app.campaign(s.paused_for_disconnect).await.0, "active");
    // A second pass over the same state changes nothing.
    let (_, again) = run_pass(&app.temporal, &app.task_queue, Pass::OrphanWatcher, false)
        .await
        .unwrap();
    assert_eq!(again["examined"], 0);
    assert_eq!(app.audit_count(s.account, "connected").await, 1);
}

#[tokio::test]
async fn an_ambiguous_first_connection_alerts_and_links_nothing() {
    let app = spawn_app(AppOptions::default()).await;
    let (ws, _token) = app.store.create_workspace("W").await.unwrap();
    let a = app
        .store
        .create_account(
            ws,
            "New seat A",
            AccountStatus::Connecting,
            None,
            None,
            "test",
        )
        .await
        .unwrap();
    let b = app
        .store
        .create_account(
            ws,
            "New seat B",
            AccountStatus::Connecting,
            None,
            None,
            "test",
        )
        .await
        .unwrap();
    sqlx::query("UPDATE linkedin_accounts SET connecting_since = now() - interval '10 minutes' WHERE id = ANY($1)")
        .bind(vec![a.0, b.0]).execute(app.store.pool()).await.unwrap();
    // One new LinkedIn account appeared: it could be either seat's.
    app.sim_post("/_sim/accounts", json!({"name": "Someone", "status": "OK"}))
        .await;
    let (_, summary) = run_pass(&app.temporal, &app.task_queue, Pass::OrphanWatcher, false)
        .await
        .unwrap();
    assert_eq!(summary["relinked"], json!([]), "{summary}");
    assert_eq!(summary["ambiguous"].as_array().unwrap().len(), 2);
    assert_eq!(app.account(a).await.status, AccountStatus::Connecting);
    assert_eq!(app.account(b).await.status, AccountStatus::Connecting);
    let alerts = app.store.alerts().await.unwrap();
    assert_eq!(
        alerts
            .iter()
            .filter(|x| x.kind == "orphan.ambiguous_match")
            .count(),
        2
    );
    // The platform hears that both seats are stuck linking.
    let stuck = |events: Vec<(String, Value)>| {
        events
            .into_iter()
            .filter(|(t, _)| t == "account.linking_stuck")
            .count()
    };
    assert_eq!(stuck(app.events_of(ws).await), 2);
    // The same alerts are not raised again within the hour, nor the events for the same
    // linking attempt.
    run_pass(&app.temporal, &app.task_queue, Pass::OrphanWatcher, false)
        .await
        .unwrap();
    assert_eq!(app.store.alerts().await.unwrap().len(), 2);
    assert_eq!(
        stuck(app.events_of(ws).await),
        2,
        "once per linking attempt"
    );
}

#[tokio::test]
async fn the_sweeper_clears_only_the_disconnect_reason_of_connected_accounts() {
    let app = spawn_app(AppOptions::default()).await;
    // Connected account with campaigns still carrying the disconnect reason (the relink
    // transaction's resume was missed), one of them also paused manual.
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let only = app
        .store
        .create_campaign(
            s.workspace,
            s.account,
            "Only disconnect",
            2,
            &[PauseReason::LinkedinAccountDisconnected],
        )
        .await
        .unwrap();
    let mixed = app
        .store
        .create_campaign(
            s.workspace,
            s.account,
            "Also manual",
            2,
            &[
                PauseReason::LinkedinAccountDisconnected,
                PauseReason::Manual,
            ],
        )
        .await
        .unwrap();
    // A still-disconnected account's campaign must stay paused.
    let d = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let (_, summary) = run_pass(&app.temporal, &app.task_queue, Pass::CampaignSweeper, false)
        .await
        .unwrap();
    assert_eq!(summary["reasons_cleared"], 2, "{summary}");
    assert_eq!(summary["campaigns_resumed"], 1);
    assert_eq!(summary["still_paused"], 1);
    assert_eq!(app.campaign(only).await, ("active".to_string(), vec![]));
    assert_eq!(
        app.campaign(mixed).await,
        ("paused".to_string(), vec!["manual".to_string()])
    );
    assert_eq!(
        app.campaign(d.paused_for_disconnect).await.1,
        vec!["linkedin_account_disconnected".to_string()]
    );
    let (_, again) = run_pass(&app.temporal, &app.task_queue, Pass::CampaignSweeper, false)
        .await
        .unwrap();
    assert_eq!(again["reasons_cleared"], 0, "idempotent");
}

#[tokio::test]
async fn the_users_resume_never_clears_a_reason_whose_cause_persists() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let resume = |id: uuid::Uuid| {
        let app = &app;
        let token = s.token.clone();
        async move {
            let r = app
                .http
                .post(format!("{}/api/campaigns/{id}/resume", app.web_url))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (code, body) = resume(s.paused_also_manual).await;
    assert_eq!(code, 200);
    assert_eq!(body["status"], "paused");
    assert_eq!(body["cleared"], json!(["manual"]));
    assert_eq!(
        body["remaining_reasons"],
        json!(["linkedin_account_disconnected"])
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("linkedin_account_disconnected")
    );
    let steps_before: Vec<i32> = sqlx::query_scalar("SELECT current_step FROM campaign_enrollments WHERE campaign_id = $1 ORDER BY prospect_ref")
        .bind(s.paused_also_manual).fetch_all(app.store.pool()).await.unwrap();
    // Once the account is back, the Resume clears what is left.
    let a = relink_store::AuditContext {
        action: "t".into(),
        actor: "t".into(),
        ..Default::default()
    };
    app.store
        .recover_connected(
            s.account,
            relink_domain::SourceStatus::Ok,
            relink_domain::truth::RelinkPath::AccountStatusSync,
            &a,
        )
        .await
        .unwrap();
    let m = app
        .store
        .create_campaign(
            s.workspace,
            s.account,
            "Manual only",
            2,
            &[PauseReason::Manual],
        )
        .await
        .unwrap();
    let (_, body) = resume(m).await;
    assert_eq!(body["status"], "active");
    let steps_after: Vec<i32> = sqlx::query_scalar("SELECT current_step FROM campaign_enrollments WHERE campaign_id = $1 ORDER BY prospect_ref")
        .bind(s.paused_also_manual).fetch_all(app.store.pool()).await.unwrap();
    assert_eq!(steps_before, steps_after, "resuming never changes a step");
    // Another workspace's campaign, or garbage: 404.
    let other = app.seed_account(AccountStatus::Connected, "OK").await;
    assert_eq!(resume(other.paused_also_manual).await.0, 404);
}

async fn fleet(app: &TestApp, n: usize) -> Vec<Seeded> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(app.seed_account(AccountStatus::Connected, "OK").await);
    }
    v
}

#[tokio::test]
async fn the_reconciler_flips_a_few_but_the_sanity_gate_holds_for_many() {
    let app = spawn_app(AppOptions::default()).await;
    app.unregister_webhooks().await;
    let rows = fleet(&app, 12).await;
    // One CREDENTIALS out of 12: flipped.
    let one = rows[0].unipile_id.clone().unwrap();
    app.sim_post(
        &format!("/_sim/accounts/{one}/status"),
        json!({"status": "CREDENTIALS"}),
    )
    .await;
    // Dry run first: plan only.
    let (_, dry) = run_pass(
        &app.temporal,
        &app.task_queue,
        Pass::AccountReconciler,
        true,
    )
    .await
    .unwrap();
    assert_eq!(dry["plan"].as_array().unwrap().len(), 1, "{dry}");
    assert_eq!(dry["planned"], 1, "{dry}");
    assert_eq!(
        app.account(rows[0].account).await.status,
        AccountStatus::Connected,
        "dry run wrote nothing"
    );
    let (reconciler_id, rep) = run_pass(
        &app.temporal,
        &app.task_queue,
        Pass::AccountReconciler,
        false,
    )
    .await
    .unwrap();
    app.record_history("account_reconciler_applied", &reconciler_id)
        .await;
    assert_eq!(
        (rep["applied"].as_u64(), rep["gated"].as_bool()),
        (Some(1), Some(false)),
        "{rep}"
    );
    assert_eq!(
        app.account(rows[0].account).await.status,
        AccountStatus::ReconnectNeeded
    );

    // Now 6 vanish at once (a Unipile incident): more than 5 → nothing flips, one alert.
    for r in &rows[1..7] {
        let uid = r.unipile_id.clone().unwrap();
        app.http
            .delete(format!("{}/_sim/accounts/{uid}", app.sim_url))
            .send()
            .await
            .unwrap();
    }
    // ... while the first one recovered: recovery is not held back by the gate.
    app.sim_post(
        &format!("/_sim/accounts/{one}/status"),
        json!({"status": "OK"}),
    )
    .await;
    let (gated_id, rep) = run_pass(
        &app.temporal,
        &app.task_queue,
        Pass::AccountReconciler,
        false,
    )
    .await
    .unwrap();
    app.record_history("account_reconciler_gated", &gated_id)
        .await;
    assert_eq!(rep["gated"], true, "{rep}");
    assert_eq!(rep["applied"], 1, "only the recovery");
    for r in &rows[1..7] {
        assert_eq!(
            app.account(r.account).await.status,
            AccountStatus::Connected
        );
    }
    assert_eq!(
        app.account(rows[0].account).await.status,
        AccountStatus::Connected
    );
    let alerts = app.store.alerts().await.unwrap();
    let gate: Vec<_> = alerts
        .iter()
        .filter(|a| a.kind == "reconciler.sanity_gate")
        .collect();
    assert_eq!(gate.len(), 1);
    assert_eq!(gate[0].payload["would_flip"], 6);
    assert_eq!(gate[0].payload["fleet"], 12);
}

#[tokio::test]
async fn the_reconciler_never_flips_over_a_partial_listing() {
    let app = spawn_app(AppOptions::default()).await;
    app.unregister_webhooks().await;
    // 600 accounts on Unipile → 3 pages of 250; the second page fails for good.
    let rows = fleet(&app, 2).await;
    for i in 0..598 {
        app.sim_post(
            "/_sim/accounts",
            json!({"name": format!("Other {i}"), "status": "OK"}),
        )
        .await;
    }
    let uid = rows[0].unipile_id.clone().unwrap();
    app.sim_post(
        &format!("/_sim/accounts/{uid}/status"),
        json!({"status": "CREDENTIALS"}),
    )
    .await;
    app.sim_post(
        "/_sim/faults",
        json!({"route": "GET /api/v1/accounts", "status": 500, "skip": 1, "count": 1000}),
    )
    .await;
    let (_, report) = run_pass(
        &app.temporal,
        &app.task_queue,
        Pass::AccountReconciler,
        false,
    )
    .await
    .unwrap();
    assert!(
        report["aborted"].is_string(),
        "the pass gives up after its attempts rather than acting on a partial list: {report}"
    );
    assert_eq!(report["applied"], 0);
    assert_eq!(
        app.account(rows[0].account).await.status,
        AccountStatus::Connected,
        "nothing flipped"
    );
    let alerts = app.store.alerts().await.unwrap();
    let aborted: Vec<_> = alerts
        .iter()
        .filter(|a| a.kind == "healing.pass_aborted")
        .collect();
    assert_eq!(aborted.len(), 1, "one admin alert for the aborted pass");
    assert_eq!(aborted[0].payload["attempts"], 3);
    let pages: Vec<Value> = app
        .sim_requests()
        .await
        .into_iter()
        .filter(|r| r["route"] == "GET /api/v1/accounts")
        .collect();
    assert_eq!(
        pages.len(),
        4,
        "three attempts: the first read two pages, the others one"
    );
}

#[tokio::test]
async fn a_stale_reconciler_write_loses_to_a_reconnect() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    // The pass read the row at this version, then a disconnect moved the row on.
    let read = app.account(s.account).await.version;
    let a = relink_store::AuditContext {
        action: "t".into(),
        actor: "t".into(),
        ..Default::default()
    };
    assert!(
        app.store
            .mark_reconnect_needed(s.account, relink_domain::SourceStatus::Credentials, &a)
            .await
            .unwrap()
    );
    let wrote = app
        .store
        .apply_decision(
            s.account,
            read,
            relink_domain::truth::Decision::Gone,
            relink_domain::truth::RelinkPath::Reconciler,
            &a,
        )
        .await
        .unwrap();
    assert_eq!(
        wrote,
        relink_store::Applied::Moved {
            status: AccountStatus::ReconnectNeeded
        }
    );
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::ReconnectNeeded
    );
}

#[tokio::test]
async fn a_401_on_our_own_api_key_flips_nothing_and_alerts() {
    let app = spawn_app(AppOptions::default()).await;
    app.unregister_webhooks().await;
    let rows = fleet(&app, 3).await;
    let uid = rows[0].unipile_id.clone().unwrap();
    app.sim_post(
        &format!("/_sim/accounts/{uid}/status"),
        json!({"status": "CREDENTIALS"}),
    )
    .await;
    app.sim_post(
        "/_sim/faults",
        json!({"route": "GET /api/v1/accounts", "status": 401, "count": 5}),
    )
    .await;
    let (_, rep) = run_pass(
        &app.temporal,
        &app.task_queue,
        Pass::AccountReconciler,
        false,
    )
    .await
    .unwrap();
    assert_eq!(rep["unauthorized"], true, "{rep}");
    assert_eq!(rep["applied"], 0);
    assert_eq!(
        app.account(rows[0].account).await.status,
        AccountStatus::Connected
    );
    let alerts = app.store.alerts().await.unwrap();
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a.kind == "unipile.unauthorized")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_401_about_the_account_itself_is_its_login_not_our_key() {
    let app = spawn_app(AppOptions::default()).await;
    app.unregister_webhooks().await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let uid = s.unipile_id.clone().unwrap();
    // Unipile answers the account read with 401 errors/disconnected_account: that
    // account needs a fresh login (unipile-api.md §6.3); our key is fine.
    app.sim_post(
        "/_sim/faults",
        json!({"route": "GET /api/v1/accounts/{id}", "status": 401, "error_type": "errors/disconnected_account", "count": 5}),
    )
    .await;
    assert_eq!(
        webhook(
            &app,
            Some(WEBHOOK_SECRET),
            &status_body(&uid, "CREDENTIALS")
        )
        .await,
        200
    );
    eventually(Duration::from_secs(30), "row reconnect_needed", || async {
        (app.account(s.account).await.status == AccountStatus::ReconnectNeeded).then_some(())
    })
    .await;
    let alerts = app.store.alerts().await.unwrap();
    assert!(
        !alerts.iter().any(|a| a.kind == "unipile.unauthorized"),
        "not an alert about our API key: {alerts:?}"
    );
}

/// A bad day at scale: every linked account reads CREDENTIALS. The gate holds, and the
/// pass's report (its activity result, recorded in history) lists only the first
/// `PLAN_SHOWN` planned flips while counting them all.
#[tokio::test]
async fn a_pass_that_plans_a_flip_for_most_of_the_fleet_reports_a_bounded_plan() {
    let app = spawn_app(AppOptions::default()).await;
    app.unregister_webhooks().await;
    let n = relink_domain::healing::PLAN_SHOWN + 50;
    let (_, _, fleet) = app.seed_fleet("P", n, "CREDENTIALS").await;
    let (_, rep) = run_pass(
        &app.temporal,
        &app.task_queue,
        Pass::AccountReconciler,
        false,
    )
    .await
    .unwrap();
    assert_eq!(rep["gated"], true, "{rep}");
    assert_eq!(rep["planned"], n, "{rep}");
    assert_eq!(
        rep["plan"].as_array().unwrap().len(),
        relink_domain::healing::PLAN_SHOWN
    );
    assert_eq!(rep["applied"], 0);
    assert_eq!(
        app.account(fleet[0].0).await.status,
        AccountStatus::Connected,
        "the gate held"
    );
}

/// An account the listing names twice is decided on its last entry, as a map built from
/// the listing would: a stale `OK` before a `CREDENTIALS` does not relink the row.
#[tokio::test]
async fn a_staged_listing_decides_an_account_listed_twice_on_its_last_entry() {
    use relink_domain::{SourceStatus, truth::decision_table};
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let uid = s.unipile_id.clone().unwrap();
    let (mut stage, fleet) = app.store.stage_reconcile().await.unwrap();
    assert_eq!(fleet, 1);
    stage
        .add_listing_page(&[(&uid, SourceStatus::Ok), (&uid, SourceStatus::Credentials)])
        .await
        .unwrap();
    let counts = stage.plan(&decision_table()).await.unwrap();
    assert_eq!((counts.flips, counts.records), (0, 1), "{counts:?}");
    stage.close().await.unwrap();

    // Across pages too: the later page's OK wins.
    let (mut stage, _) = app.store.stage_reconcile().await.unwrap();
    stage
        .add_listing_page(&[(&uid, SourceStatus::Credentials)])
        .await
        .unwrap();
    stage
        .add_listing_page(&[(&uid, SourceStatus::Ok)])
        .await
        .unwrap();
    let counts = stage.plan(&decision_table()).await.unwrap();
    assert_eq!((counts.flips, counts.away), (1, 0), "{counts:?}");
}
