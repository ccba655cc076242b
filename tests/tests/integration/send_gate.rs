//! The send gate on a real database: atomic under concurrency, per action type, within
//! the window, and never for a paused campaign or a disconnected account.

use chrono::{NaiveTime, Weekday};
use relink_domain::{
    AccountStatus,
    pacing::{ActionType, Caps},
};
use relink_tests::{AppOptions, Seeded, TestApp, spawn_app};
use serde_json::{Value, json};

const ALL_DAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

async fn reserve(app: &TestApp, s: &Seeded, body: Value) -> (u16, Value) {
    let r = app
        .http
        .post(format!(
            "{}/api/accounts/{}/send-reservations",
            app.web_url, s.account
        ))
        .bearer_auth(&s.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn always_open(app: &TestApp, s: &Seeded) {
    let midnight = NaiveTime::from_hms_opt(0, 0, 0).unwrap();
    app.store
        .set_send_settings(s.account, "UTC", midnight, midnight, &ALL_DAYS, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn fifty_concurrent_reservations_never_exceed_the_daily_cap() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    always_open(&app, &s).await;
    app.store
        .set_caps(
            s.account,
            ActionType::Invite,
            Caps {
                daily: 10,
                weekly: 40,
            },
        )
        .await
        .unwrap();
    let calls = (0..50).map(|_| reserve(&app, &s, json!({"action": "invite"})));
    let answers = futures::future::join_all(calls).await;
    let granted = answers
        .iter()
        .filter(|(c, b)| *c == 200 && b["reserved"] == true)
        .count();
    assert_eq!(granted, 10);
    let denied: Vec<_> = answers
        .iter()
        .filter(|(_, b)| b["reserved"] == false)
        .collect();
    assert_eq!(denied.len(), 40);
    assert!(
        denied
            .iter()
            .all(|(_, b)| b["reason"] == "daily_cap" && b["retry_at"].is_string()),
        "{denied:?}"
    );
    let sent: i32 = sqlx::query_scalar(
        "SELECT sent FROM account_send_counters WHERE account_id = $1 AND action = 'invite'",
    )
    .bind(s.account.0)
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(sent, 10);
}

#[tokio::test]
async fn each_action_type_has_its_own_budget_and_the_weekly_cap_counts_earlier_days() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    always_open(&app, &s).await;
    app.store
        .set_caps(
            s.account,
            ActionType::Inmail,
            Caps {
                daily: 0,
                weekly: 0,
            },
        )
        .await
        .unwrap();
    app.store
        .set_caps(
            s.account,
            ActionType::Message,
            Caps {
                daily: 50,
                weekly: 12,
            },
        )
        .await
        .unwrap();
    let (_, b) = reserve(&app, &s, json!({"action": "inmail"})).await;
    assert_eq!(b["reserved"], false);
    let (_, b) = reserve(&app, &s, json!({"action": "invite"})).await;
    assert_eq!(
        b["reserved"], true,
        "an exhausted InMail budget stops nothing else"
    );
    // 10 messages sent over the last days: 2 left this rolling week.
    sqlx::query("INSERT INTO account_send_counters (account_id, action, day, sent) VALUES ($1, 'message', current_date - 3, 10)")
        .bind(s.account.0).execute(app.store.pool()).await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            reserve(&app, &s, json!({"action": "message"})).await.1["reserved"],
            true
        );
    }
    let (_, b) = reserve(&app, &s, json!({"action": "message"})).await;
    assert_eq!(
        (b["reserved"].clone(), b["reason"].clone()),
        (json!(false), json!("weekly_cap"))
    );
}

#[tokio::test]
async fn closed_windows_paused_campaigns_and_disconnected_accounts_get_no_slot() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    // A window on no day but today's weekday + 3 is closed now.
    let today = chrono::Utc::now().date_naive();
    use chrono::Datelike;
    let other = (today + chrono::Duration::days(3)).weekday();
    let t = NaiveTime::from_hms_opt(0, 0, 0).unwrap();
    app.store
        .set_send_settings(s.account, "Asia/Kolkata", t, t, &[other], None)
        .await
        .unwrap();
    let (_, b) = reserve(&app, &s, json!({"action": "invite"})).await;
    assert_eq!(b["reason"], "outside_sending_window", "{b}");
    always_open(&app, &s).await;
    let (_, b) = reserve(
        &app,
        &s,
        json!({"action": "invite", "campaign_id": s.paused_also_manual}),
    )
    .await;
    assert_eq!(b["reason"], "campaign_paused");
    let (_, b) = reserve(
        &app,
        &s,
        json!({"action": "invite", "campaign_id": s.paused_for_disconnect}),
    )
    .await;
    assert_eq!(b["reserved"], true);
    // Bad input: unknown action, unknown field → 400.
    assert_eq!(reserve(&app, &s, json!({"action": "poke"})).await.0, 400);
    assert_eq!(
        reserve(&app, &s, json!({"action": "invite", "burst": true}))
            .await
            .0,
        400
    );
    let d = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    always_open(&app, &d).await;
    let (_, b) = reserve(&app, &d, json!({"action": "invite"})).await;
    assert_eq!(b["reason"], "account_not_connected");
}

#[tokio::test]
async fn the_gate_fails_closed_when_the_database_cannot_answer() {
    use sqlx::Connection;
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    always_open(&app, &s).await;
    // The database goes away under the running web tier.
    let admin = std::env::var("RELINK_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap();
    let name = app.database_url.rsplit('/').next().unwrap().to_string();
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (code, b) = reserve(&app, &s, json!({"action": "invite"})).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["reserved"], false);
    assert_eq!(b["reason"], "deferred_internal");
    assert!(b["retry_at"].is_string());
}

#[tokio::test]
async fn a_resume_after_a_long_disconnect_spreads_the_backlog_through_the_pacer() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    always_open(&app, &s).await;
    app.store
        .set_caps(
            s.account,
            ActionType::Invite,
            Caps {
                daily: 20,
                weekly: 100,
            },
        )
        .await
        .unwrap();
    let big = app
        .store
        .create_campaign(
            s.workspace,
            s.account,
            "Backlog",
            50,
            &[relink_domain::PauseReason::LinkedinAccountDisconnected],
        )
        .await
        .unwrap();
    // Every prospect waits for its invite (step 0), due since the disconnect weeks ago.
    sqlx::query("UPDATE campaign_enrollments SET current_step = 0, next_due_at = now() - interval '20 days' WHERE campaign_id = $1")
        .bind(big).execute(app.store.pool()).await.unwrap();
    let audit = relink_store::AuditContext {
        action: "t".into(),
        actor: "t".into(),
        ..Default::default()
    };
    app.store
        .recover_connected(
            s.account,
            relink_domain::SourceStatus::Ok,
            relink_domain::truth::RelinkPath::AccountStatusSync,
            &audit,
        )
        .await
        .unwrap();
    // The account's invite budget is shared by all its campaigns: the seeded "Outreach"
    // campaign resumes too, with one prospect waiting for an invite.
    let per_day: Vec<(chrono::NaiveDate, i64)> = sqlx::query_as(
        "SELECT (e.next_due_at AT TIME ZONE 'UTC')::date AS d, count(*) FROM campaign_enrollments e \
         JOIN campaigns c ON c.id = e.campaign_id \
         WHERE c.account_id = $1 AND e.state = 'active' AND e.current_step = 0 GROUP BY d ORDER BY d")
        .bind(s.account.0).fetch_all(app.store.pool()).await.unwrap();
    let counts: Vec<i64> = per_day.iter().map(|(_, n)| *n).collect();
    assert_eq!(counts.iter().sum::<i64>(), 51, "{per_day:?}");
    assert!(
        counts.iter().all(|n| *n <= 20),
        "never more than the daily cap on a day: {per_day:?}"
    );
    assert_eq!(counts, vec![20, 20, 11], "spread over three days, no burst");
    let early: i64 = sqlx::query_scalar("SELECT count(*) FROM campaign_enrollments WHERE campaign_id = $1 AND next_due_at < now() - interval '1 minute'")
        .bind(big).fetch_one(app.store.pool()).await.unwrap();
    assert_eq!(early, 0, "nothing is scheduled in the past");
    let steps: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM campaign_enrollments WHERE campaign_id = $1 AND current_step <> 0",
    )
    .bind(big)
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(steps, 0, "steps unchanged");
}

async fn report_outcome(app: &TestApp, token: &str, account: &str, body: Value) -> (u16, Value) {
    let r = app
        .http
        .post(format!(
            "{}/api/accounts/{account}/send-outcomes",
            app.web_url
        ))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn failed_sends_past_the_rate_pause_the_campaign_and_sent_ones_do_not() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let (c, acct) = (s.paused_for_disconnect, s.account.to_string());
    // Bad input changes nothing.
    let (code, _) = report_outcome(
        &app,
        &s.token,
        &acct,
        json!({"campaign_id": c, "action": "invite", "outcome": "maybe"}),
    )
    .await;
    assert_eq!(code, 400);
    let other = app.seed_account(AccountStatus::Connected, "OK").await;
    let (code, _) = report_outcome(
        &app,
        &other.token,
        &acct,
        json!({"campaign_id": c, "action": "invite", "outcome": "failed"}),
    )
    .await;
    assert_eq!(code, 404, "another workspace's account");
    // 16 sent, then failures: the 5th failure is 5 of the last 20 (25 %): still active;
    // the 6th is 6 of 20 (30 %): paused.
    for _ in 0..16 {
        let (code, body) = report_outcome(
            &app,
            &s.token,
            &acct,
            json!({"campaign_id": c, "action": "message", "outcome": "sent"}),
        )
        .await;
        assert_eq!((code, body["campaign_paused"].clone()), (200, json!(false)));
    }
    for i in 1..=6 {
        let (code, body) = report_outcome(&app, &s.token, &acct, json!({"campaign_id": c, "action": "message", "outcome": "failed", "provider_error": "errors/too_many_requests"})).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(
            body["campaign_paused"],
            json!(i == 6),
            "failure {i}: {body}"
        );
        assert_eq!(body["account_recheck"], json!(false));
    }
    let (status, reasons) = app.campaign(c).await;
    assert_eq!(
        (status.as_str(), reasons),
        ("paused", vec!["linkedin_high_failure_rate".to_string()])
    );
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Connected
    );
}

#[tokio::test]
async fn a_disconnected_account_error_rereads_the_account_and_flips_it_when_unipile_agrees() {
    let app = spawn_app(AppOptions::default()).await;
    app.unregister_webhooks().await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let uid = s.unipile_id.clone().unwrap();
    let (c, acct) = (s.paused_for_disconnect, s.account.to_string());
    // Unipile says nothing changed: the re-read flips nothing.
    let (code, body) = report_outcome(&app, &s.token, &acct, json!({"campaign_id": c, "action": "invite", "outcome": "failed", "provider_error": "errors/disconnected_account"})).await;
    assert_eq!(
        (code, body["account_recheck"].clone()),
        (200, json!(true)),
        "{body}"
    );
    let sync = format!("account-status:{uid}");
    eventually_closed(&app, &sync).await;
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Connected
    );
    // LinkedIn ended the session (no webhook reaches relink): the next failure's re-read flips it.
    app.sim_post(
        &format!("/_sim/accounts/{uid}/status"),
        json!({"status": "CREDENTIALS"}),
    )
    .await;
    report_outcome(&app, &s.token, &acct, json!({"campaign_id": c, "action": "invite", "outcome": "failed", "provider_error": "errors/disconnected_account"})).await;
    relink_tests::eventually(
        std::time::Duration::from_secs(30),
        "row reconnect_needed",
        || async {
            (app.account(s.account).await.status == AccountStatus::ReconnectNeeded).then_some(())
        },
    )
    .await;
}

/// Waits until the workflow `id` has closed (its re-read applied).
async fn eventually_closed(app: &TestApp, id: &str) {
    relink_tests::eventually(
        std::time::Duration::from_secs(30),
        "the account re-read done",
        || async {
            let d = app
                .temporal
                .get_workflow_handle::<temporalio_client::UntypedWorkflow>(id.to_string())
                .describe(Default::default())
                .await
                .ok()?;
            (d.raw_description.workflow_execution_info?.status != 1).then_some(())
        },
    )
    .await;
}
