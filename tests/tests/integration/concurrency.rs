//! Two things at once (issue 9): a healing loop reads Unipile while a user, a webhook or
//! another loop changes the row; the loop's write must never undo them, never cross
//! tenants, and never ask to delete a live session. Real Temporal, PostgreSQL and
//! unipile-sim; the races are forced with the simulator's latency faults.

use relink_domain::{AccountStatus, PauseReason, healing::OrphanPassInput};
use relink_starter::ops::{Pass, run_orphan_watcher, run_pass};
use relink_tests::{AppOptions, TestApp, eventually, spawn_app, test_audit};
use serde_json::{Value, json};
use std::time::Duration;

const LIST_ROUTE: &str = "GET /api/v1/accounts";

/// Seeds 300 connected accounts whose ids sort after every id the simulator mints, so
/// that the listing's second page holds only them and a session created while the pass
/// waits for that page sorts before its cursor: absent from the listing.
async fn big_fleet(app: &TestApp) {
    app.seed_fleet("zzzz", 300, "OK").await;
}

/// How long the listing's second page is held back: long enough for a user to finish
/// hosted auth meanwhile, and shorter than the worker's Unipile timeout in these tests
/// (a timed-out page would retry the whole listing and read the new state).
const PAGE_TWO_DELAY_MS: u64 = 15_000;

/// An app whose worker waits up to 30 s for Unipile (so the held page is not retried).
async fn app() -> TestApp {
    spawn_app(AppOptions {
        unipile_timeout_secs: 30,
        ..AppOptions::default()
    })
    .await
}

/// Panics unless the pass is still waiting for page 2: the race was produced.
async fn assert_page_two_still_held(app: &TestApp, listed_before: usize) {
    assert_eq!(
        app.sim_count(LIST_ROUTE).await,
        listed_before + 1,
        "the interleaving under test did not happen: page 2 was served before the action"
    );
}

/// Delays the listing's second page and starts a reconciler pass; returns once the
/// first page has been served (the pass is now waiting for page 2) and the number of
/// listing calls before it.
async fn pass_waiting_for_page_two(
    app: &TestApp,
) -> (
    tokio::task::JoinHandle<anyhow::Result<(String, Value)>>,
    usize,
) {
    app.sim_post(
        "/_sim/faults",
        json!({"route": LIST_ROUTE, "status": 0, "skip": 1, "count": 1, "latency_ms": PAGE_TWO_DELAY_MS}),
    )
    .await;
    let before = app.sim_count(LIST_ROUTE).await;
    let (client, tq) = (app.temporal.clone(), app.task_queue.clone());
    let pass =
        tokio::spawn(async move { run_pass(&client, &tq, Pass::AccountReconciler, false).await });
    eventually(Duration::from_secs(30), "page 1 served", || async {
        (app.sim_count(LIST_ROUTE).await > before).then_some(())
    })
    .await;
    (pass, before)
}

async fn pending_emails(app: &TestApp, account: relink_domain::AccountId) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM email_outbox WHERE account_id = $1 AND sent_at IS NULL AND withdrawn_at IS NULL",
    )
    .bind(account.0)
    .fetch_one(app.store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn a_reconnect_finished_while_the_reconciler_pages_is_not_undone() {
    let app = app().await;
    app.unregister_webhooks().await;
    big_fleet(&app).await;
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let flips_before = app.audit_count(s.account, "reconnect_needed").await;
    let (pass, listed_before) = pass_waiting_for_page_two(&app).await;
    // Page 1 said CREDENTIALS for Sam; Sam finishes hosted auth now.
    let (code, link) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    assert_eq!(code, 200, "{link}");
    app.finish_hosted_auth(&link["url"], true).await;
    app.wait_status(s.account, AccountStatus::Connected).await;
    assert_page_two_still_held(&app, listed_before).await;
    let (_, report) = pass.await.unwrap().unwrap();
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Connected,
        "the pass must not undo the reconnect: {report}"
    );
    assert_eq!(
        app.audit_count(s.account, "reconnect_needed").await,
        flips_before
    );
    assert_eq!(app.campaign(s.paused_for_disconnect).await.0, "active");
    assert_eq!(pending_emails(&app, s.account).await, 0);
}

#[tokio::test]
async fn a_first_connection_finished_while_the_reconciler_pages_is_not_disconnected_or_deleted() {
    let app = app().await;
    app.unregister_webhooks().await;
    big_fleet(&app).await;
    let (ws, token) = app.store.create_workspace("New seat").await.unwrap();
    let seat = app
        .store
        .create_account(
            ws,
            "Nia New",
            AccountStatus::Disconnected,
            None,
            None,
            "test",
        )
        .await
        .unwrap();
    let (code, link) = app.click_reconnect(&token, &seat.to_string()).await;
    assert_eq!(code, 200, "{link}");
    let flips_before = app.audit_count(seat, "disconnected").await;
    let (pass, listed_before) = pass_waiting_for_page_two(&app).await;
    app.sim_post(
        "/_sim/hosted/complete",
        json!({"url": link["url"], "notify": true, "name": "Nia New"}),
    )
    .await;
    let row = app.wait_status(seat, AccountStatus::Connected).await;
    assert_page_two_still_held(&app, listed_before).await;
    let (_, report) = pass.await.unwrap().unwrap();
    assert_eq!(
        app.account(seat).await.status,
        AccountStatus::Connected,
        "{report}"
    );
    assert_eq!(app.audit_count(seat, "disconnected").await, flips_before);
    let uid = row.unipile_account_id.unwrap();
    assert!(
        !report["delete_requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == uid.as_str()),
        "no Safe delete of a live session: {report}"
    );
}

#[tokio::test]
async fn a_stale_ok_listing_does_not_recover_a_row_that_just_lost_its_session() {
    let app = app().await;
    app.unregister_webhooks().await;
    big_fleet(&app).await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let uid = s.unipile_id.clone().unwrap();
    let (pass, listed_before) = pass_waiting_for_page_two(&app).await;
    // Page 1 said OK; now LinkedIn ends the session and the webhook flips the row.
    app.set_sim_status(&uid, "CREDENTIALS").await;
    let a = test_audit("test.webhook");
    assert!(
        app.store
            .mark_reconnect_needed(s.account, relink_domain::SourceStatus::Credentials, &a)
            .await
            .unwrap()
    );
    assert_page_two_still_held(&app, listed_before).await;
    let (_, report) = pass.await.unwrap().unwrap();
    let row = app.account(s.account).await;
    assert_eq!(row.status, AccountStatus::ReconnectNeeded, "{report}");
    assert_eq!(
        row.provider_status,
        Some(relink_domain::SourceStatus::Credentials),
        "no stale provider status written"
    );
}

#[tokio::test]
async fn a_listing_and_a_fresh_read_that_disagree_write_nothing_and_alert_once() {
    let app = spawn_app(AppOptions::default()).await;
    app.unregister_webhooks().await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let uid = s.unipile_id.clone().unwrap();
    // The listing says CREDENTIALS, but the fresh read right before the write answers
    // 404: the two reads of Unipile disagree.
    app.set_sim_status(&uid, "CREDENTIALS").await;
    app.sim_post(
        "/_sim/faults",
        json!({"route": "GET /api/v1/accounts/{id}", "status": 404, "count": 1}),
    )
    .await;
    let (client, tq) = (app.temporal.clone(), app.task_queue.clone());
    let pass =
        tokio::spawn(async move { run_pass(&client, &tq, Pass::AccountReconciler, false).await });
    let (_, report) = pass.await.unwrap().unwrap();
    assert_eq!(report["disagreed"], 1, "{report}");
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Connected
    );
    let alerts = app.store.alerts().await.unwrap();
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a.kind == relink_domain::AlertKind::ListingDisagrees)
            .count(),
        1
    );
}

#[tokio::test]
async fn a_session_created_while_two_workspaces_link_is_given_to_neither() {
    let app = spawn_app(AppOptions::default()).await;
    app.unregister_webhooks().await;
    let mut seats = Vec::new();
    for (name, minutes) in [("Seat A", 25), ("Seat B", 6)] {
        let (ws, _) = app.store.create_workspace(name).await.unwrap();
        let id = app
            .store
            .create_account(ws, name, AccountStatus::Disconnected, None, None, "test")
            .await
            .unwrap();
        // The seat has been linking for `minutes`: its flip to `connecting` (and its
        // audit row) happened that long ago.
        let mut tx = app.store.pool().begin().await.unwrap();
        sqlx::query(
            "INSERT INTO linkedin_account_audit_log (account_id, action, from_status, to_status, actor, created_at) \
             VALUES ($1, 'reconnect.link_issued', 'disconnected', 'connecting', 'test', now() - make_interval(mins => $2))",
        )
        .bind(id.0)
        .bind(minutes)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "UPDATE linkedin_accounts SET status = 'connecting', connecting_since = now() - make_interval(mins => $2) WHERE id = $1",
        )
        .bind(id.0)
        .bind(minutes)
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        seats.push(id);
    }
    // A's user just created a session on Unipile; its notify callback was lost.
    app.sim_post(
        "/_sim/accounts",
        json!({"name": "Alex from A", "status": "OK"}),
    )
    .await;
    let (_, summary) =
        run_orphan_watcher(&app.temporal, &app.task_queue, OrphanPassInput::default())
            .await
            .unwrap();
    assert!(summary.relinked.is_empty(), "{summary:?}");
    assert_eq!(summary.ambiguous.len(), 2, "{summary:?}");
    for seat in &seats {
        let row = app.account(*seat).await;
        assert_eq!(row.status, AccountStatus::Connecting);
        assert_eq!(row.unipile_account_id, None);
    }
}

#[tokio::test]
async fn a_disconnected_row_whose_session_is_listed_ok_again_recovers() {
    let app = spawn_app(AppOptions::default()).await;
    app.unregister_webhooks().await;
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let uid = s.unipile_id.clone().unwrap();
    // One pass while the account is missing from Unipile: disconnected.
    app.vanish(&uid).await;
    run_pass(
        &app.temporal,
        &app.task_queue,
        Pass::AccountReconciler,
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        app.account(s.account).await.status,
        AccountStatus::Disconnected
    );
    assert_eq!(app.campaign(s.paused_for_disconnect).await.0, "paused");
    // The account is listed OK again: the next pass brings the row back.
    app.sim_post(
        "/_sim/accounts",
        json!({"id": uid, "name": "Sam Sample", "status": "OK"}),
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
    let row = app.account(s.account).await;
    assert_eq!(row.status, AccountStatus::Connected, "{report}");
    assert_eq!(row.unipile_account_id.as_deref(), Some(uid.as_str()));
    assert_eq!(app.campaign(s.paused_for_disconnect).await.0, "active");
    assert_eq!(
        app.campaign(s.paused_also_manual).await.1,
        vec!["manual".to_string()]
    );
}

/// The `type` and `reconnect_account` of every hosted-link request, in order.
async fn link_requests(app: &TestApp) -> Vec<(String, Option<String>)> {
    app.sim_requests()
        .await
        .into_iter()
        .filter(|r| r["route"] == "POST /api/v1/hosted/accounts/link")
        .map(|r| {
            (
                r["body"]["type"].as_str().unwrap_or_default().to_string(),
                r["body"]["reconnect_account"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[tokio::test]
async fn reconnect_of_a_row_that_names_a_session_asks_for_a_reconnect_link() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app
        .seed_account(AccountStatus::Disconnected, "CREDENTIALS")
        .await;
    let uid = s.unipile_id.clone().unwrap();
    let (code, body) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        link_requests(&app).await,
        vec![("reconnect".to_string(), Some(uid))],
        "a create link would mint a duplicate session"
    );
}

#[tokio::test]
async fn reconnect_of_a_session_unipile_no_longer_has_links_afresh() {
    let app = spawn_app(AppOptions::default()).await;
    let s = app.seed_account(AccountStatus::ReconnectNeeded, "OK").await;
    let uid = s.unipile_id.clone().unwrap();
    app.vanish(&uid).await;
    let (code, body) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        link_requests(&app).await,
        vec![
            ("reconnect".to_string(), Some(uid)),
            ("create".to_string(), None)
        ]
    );
    let row = app.account(s.account).await;
    assert_eq!(row.status, AccountStatus::Connecting);
    assert_eq!(row.unipile_account_id, None, "the dead session is let go");
}

#[tokio::test]
async fn a_relink_by_the_notify_callback_withdraws_the_pending_reconnect_email() {
    let app = spawn_app(AppOptions::default()).await;
    app.unregister_webhooks().await;
    let s = app
        .seed_account(AccountStatus::Connected, "CREDENTIALS")
        .await;
    let a = test_audit("test.webhook");
    app.store
        .mark_reconnect_needed(s.account, relink_domain::SourceStatus::Credentials, &a)
        .await
        .unwrap();
    assert_eq!(pending_emails(&app, s.account).await, 1);
    let (_, link) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    app.finish_hosted_auth(&link["url"], true).await;
    app.wait_status(s.account, AccountStatus::Connected).await;
    assert_eq!(
        pending_emails(&app, s.account).await,
        0,
        "a repaired account gets no reconnect email"
    );
}

#[tokio::test]
async fn resume_keeps_the_disconnect_pause_while_the_sync_is_interrupted() {
    let app = spawn_app(AppOptions::default()).await;
    app.unregister_webhooks().await;
    let s = app.seed_account(AccountStatus::Connected, "ERROR").await;
    // A blip that outlasted its tolerance paused the campaign.
    sqlx::query("UPDATE linkedin_accounts SET provider_status = 'ERROR', provider_status_since = now() - interval '3 hours' WHERE id = $1")
        .bind(s.account.0)
        .execute(app.store.pool())
        .await
        .unwrap();
    let paused = app.store.pause_for_blip(s.account, 7200).await.unwrap();
    assert!(paused.is_some());
    let out = app
        .store
        .user_resume(s.workspace, s.paused_for_disconnect)
        .await
        .unwrap();
    assert_eq!(out.status, "paused");
    assert_eq!(
        out.remaining,
        vec![PauseReason::LinkedinAccountDisconnected]
    );
}
