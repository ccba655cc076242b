//! The interleaving checker (issue 9, item 7): a seeded generator of concurrent actors
//! over the real stack (unipile-sim, Temporal, PostgreSQL, worker, web tier) that, at
//! quiescence, checks the promises relink exists for.
//!
//! Each seed seeds three workspaces (two linked seats and one first connection each,
//! plus a filler fleet so the sanity gate sees a realistic fleet), then runs rounds of
//! 2–4 actors at once, each started after a random delay of 0–300 ms: Reconnect clicks,
//! hosted-auth completions with and without the notify callback, first connections,
//! Unipile status changes, accounts vanishing and coming back, late and duplicate
//! account-status webhooks, reconciler and orphan-watcher passes, sweeps, user Resumes
//! and send outcomes. Then it lets every link expire, runs one account-status re-read
//! per account and one reconciler pass (the loops a real installation runs anyway), and
//! checks:
//! 1. every linked row agrees with Unipile's source status (`OK` ⇔ `connected`,
//!    `CREDENTIALS` ⇔ `reconnect_needed`, gone ⇔ `disconnected`), and no row is left
//!    `connecting`;
//! 2. no row holds a session that another row's hosted auth created;
//! 3. no Safe delete was requested for an account the checker never made vanish;
//! 4. one reconnect email per disconnect episode (a flip `connected` →
//!    `reconnect_needed`; a link that expires unused continues the episode), none
//!    pending for a connected row;
//! 5. every row's status is the `to_status` of its last audit row;
//! 6. a campaign carries the disconnect pause exactly while its account is not
//!    connected;
//! 7. no action hit a deadlock or a 5xx.

use crate::{AppOptions, TestApp, account_status_body, spawn_app};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use relink_domain::{AccountId, AccountStatus, PauseReason, healing::OrphanPassInput};
use relink_starter::ops::{Pass, run_orphan_watcher, run_pass};
use serde_json::{Value, json};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Rounds of concurrent actors per seed.
pub const ROUNDS: usize = 12;

/// One seat of the scenario.
#[derive(Debug, Clone)]
struct Seat {
    account: AccountId,
    token: String,
    /// The Unipile session the seat was seeded with (`None`: a first connection).
    seeded_session: Option<String>,
}

/// What the actors did that the checks need.
#[derive(Default)]
struct Log {
    /// Session id → the seat whose hosted auth created it.
    created_by: HashMap<String, AccountId>,
    /// Sessions the checker made vanish at some point.
    vanished: HashSet<String>,
    /// Safe deletes the reconciler passes requested.
    delete_requests: Vec<String>,
    /// Actor failures that break a promise (a 5xx, a deadlock).
    failures: Vec<String>,
}

/// The outcome of one seed.
#[derive(Debug, Clone)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Actions run.
    pub actions: usize,
    /// Broken promises, empty when the seed passed.
    pub violations: Vec<String>,
    /// What the seed did: status changes audited, sessions created by hosted auth,
    /// and each seat's final status next to Unipile's.
    pub summary: String,
}

/// The command that replays one seed.
pub fn replay_command(seed: u64) -> String {
    format!("./dev drills --only interleavings --seed {seed}")
}

/// Runs one seed on a fresh app (own database, simulator and task queue) with the
/// Temporal server of `opts`.
pub async fn run_seed(opts: AppOptions, seed: u64) -> SeedResult {
    let app = spawn_app(AppOptions {
        link_reuse_window: Duration::from_secs(1),
        link_ttl: Duration::from_secs(6),
        ..opts
    })
    .await;
    let app = Arc::new(app);
    let mut rng = StdRng::seed_from_u64(seed);
    let log = Arc::new(Mutex::new(Log::default()));
    let seats = seed_seats(&app).await;
    app.seed_fleet("zzfill", 24, "OK").await;
    let mut actions = 0;
    for _ in 0..ROUNDS {
        let n = rng.random_range(2..=4);
        let mut round = Vec::new();
        for _ in 0..n {
            let delay = Duration::from_millis(rng.random_range(0..300));
            // Status changes at Unipile are the commonest event, as in production.
            let action = *[0u8, 0, 1, 1, 1, 2, 3, 3, 4, 5, 6, 6, 7, 7, 8, 9, 10, 11]
                .choose(&mut rng)
                .expect("actions");
            let seat = seats.choose(&mut rng).cloned().expect("seats");
            let coin = rng.random_bool(0.5);
            let (app, log) = (app.clone(), log.clone());
            actions += 1;
            round.push(tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                act(&app, &log, action, &seat, coin).await;
            }));
        }
        for r in round {
            if let Err(e) = r.await {
                log.lock()
                    .expect("log")
                    .failures
                    .push(format!("actor panicked: {e}"));
            }
        }
    }
    settle(&app, &log, &seats).await;
    let violations = check(&app, &log, &seats).await;
    let flips: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM linkedin_account_audit_log WHERE from_status IS NOT NULL AND to_status IS NOT NULL AND from_status <> to_status",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap_or(-1);
    let mut finals = Vec::new();
    for seat in &seats {
        if let Ok(r) = app.store.account(seat.account).await {
            let src = match &r.unipile_account_id {
                Some(u) => sim_status(&app, u).await.unwrap_or_else(|| "gone".into()),
                None => "-".into(),
            };
            finals.push(format!("{}/{src}", r.status));
        }
    }
    let created = log.lock().expect("log").created_by.len();
    // Many seeds run in one process: give this seed's connections back now (the web
    // tier shares this pool; the in-process worker closes its own when dropped).
    app.store.pool().close().await;
    SeedResult {
        seed,
        actions,
        violations,
        summary: format!(
            "{flips} status changes, {created} sessions created by hosted auth; seats {}",
            finals.join(" ")
        ),
    }
}

async fn seed_seats(app: &TestApp) -> Vec<Seat> {
    let mut seats = Vec::new();
    for w in 0..3 {
        let (ws, token) = app
            .store
            .create_workspace(&format!("Workspace {w}"))
            .await
            .expect("workspace");
        for i in 0..2 {
            let name = format!("Seat {w}.{i}");
            let v = app
                .sim_post("/_sim/accounts", json!({"name": name, "status": "OK"}))
                .await;
            let uid = v["id"].as_str().expect("sim id").to_string();
            let member = v["connection_params"]["im"]["id"]
                .as_str()
                .map(str::to_string);
            let account = app
                .store
                .create_account(
                    ws,
                    &name,
                    AccountStatus::Connected,
                    Some(&uid),
                    member.as_deref(),
                    "seed",
                )
                .await
                .expect("account");
            app.store
                .create_campaign(ws, account, &format!("Campaign {w}.{i}"), 2, &[])
                .await
                .expect("campaign");
            seats.push(Seat {
                account,
                token: token.clone(),
                seeded_session: Some(uid),
            });
        }
        let name = format!("New seat {w}");
        let account = app
            .store
            .create_account(ws, &name, AccountStatus::Disconnected, None, None, "seed")
            .await
            .expect("account");
        seats.push(Seat {
            account,
            token: token.clone(),
            seeded_session: None,
        });
    }
    seats
}

/// The session a seat names now (its row), or the one it was seeded with.
async fn session_of(app: &TestApp, seat: &Seat) -> Option<String> {
    match app.store.account(seat.account).await {
        Ok(r) => r
            .unipile_account_id
            .or_else(|| seat.seeded_session.clone().map(Into::into))
            .map(Into::into),
        Err(_) => seat.seeded_session.clone(),
    }
}

fn fail(log: &Mutex<Log>, what: String) {
    log.lock().expect("log").failures.push(what);
}

async fn act(app: &TestApp, log: &Mutex<Log>, action: u8, seat: &Seat, coin: bool) {
    let session = session_of(app, seat).await;
    match (action, session) {
        // The session expires at LinkedIn (Unipile sends the webhook).
        (0, Some(uid)) => {
            sim(
                app,
                log,
                &format!("/_sim/accounts/{uid}/status"),
                json!({"status": "CREDENTIALS"}),
            )
            .await;
        }
        // Fixed elsewhere: OK again.
        (1, Some(uid)) => {
            sim(
                app,
                log,
                &format!("/_sim/accounts/{uid}/status"),
                json!({"status": "OK"}),
            )
            .await;
        }
        // The account vanishes from Unipile for a while, then comes back.
        (2, Some(uid)) if seat.seeded_session.as_deref() == Some(uid.as_str()) => {
            let _ = app
                .http
                .delete(format!("{}/_sim/accounts/{uid}", app.sim_url))
                .send()
                .await;
            log.lock().expect("log").vanished.insert(uid.clone());
            if coin {
                tokio::time::sleep(Duration::from_millis(400)).await;
                sim(
                    app,
                    log,
                    "/_sim/accounts",
                    json!({"id": uid, "name": "Returned", "status": "OK"}),
                )
                .await;
            }
        }
        // Reconnect (or Connect): click twice, then finish hosted auth, with the notify
        // callback or without it (lost), or never.
        (3..=5, _) => {
            let (code, body) = app
                .click_reconnect(&seat.token, &seat.account.to_string())
                .await;
            let (code2, _) = app
                .click_reconnect(&seat.token, &seat.account.to_string())
                .await;
            for c in [code, code2] {
                if c >= 500 && c != 502 {
                    fail(log, format!("click answered {c}: {body}"));
                }
            }
            if code == 200 && action != 5 {
                let done = app
                    .http
                    .post(format!("{}/_sim/hosted/complete", app.sim_url))
                    .json(&json!({"url": body["url"], "notify": coin}))
                    .send()
                    .await;
                if let Ok(r) = done
                    && let Ok(v) = r.json::<Value>().await
                    && let Some(id) = v["account_id"].as_str()
                    && v["status"] == "CREATION_SUCCESS"
                {
                    log.lock()
                        .expect("log")
                        .created_by
                        .insert(id.to_string(), seat.account);
                }
            }
        }
        // A late or duplicate webhook whose hint may be stale.
        (6, Some(uid)) => {
            let message = if coin { "CREDENTIALS" } else { "OK" };
            let _ = app
                .http
                .post(format!("{}/webhooks/unipile/account-status", app.web_url))
                .header("Unipile-Auth", crate::WEBHOOK_SECRET)
                .body(account_status_body(&uid, message))
                .send()
                .await;
        }
        (7, _) => match run_pass(
            &app.temporal,
            &app.task_queue,
            Pass::AccountReconciler,
            false,
        )
        .await
        {
            Ok((_, report)) => {
                let mut l = log.lock().expect("log");
                for u in report["delete_requests"].as_array().into_iter().flatten() {
                    l.delete_requests
                        .push(u.as_str().unwrap_or_default().to_string());
                }
            }
            Err(e) => fail(log, format!("reconciler pass failed: {e}")),
        },
        (8, _) => {
            let input = OrphanPassInput {
                connecting_longer_than_secs: 0,
            };
            if let Err(e) = run_orphan_watcher(&app.temporal, &app.task_queue, input).await {
                fail(log, format!("orphan pass failed: {e}"));
            }
        }
        (9, _) => {
            if let Err(e) =
                run_pass(&app.temporal, &app.task_queue, Pass::CampaignSweeper, false).await
            {
                fail(log, format!("sweep failed: {e}"));
            }
        }
        // The user's Resume of the seat's campaign.
        (10, _) => {
            let campaigns: Vec<uuid::Uuid> =
                sqlx::query_scalar("SELECT id FROM campaigns WHERE account_id = $1")
                    .bind(seat.account.0)
                    .fetch_all(app.store.pool())
                    .await
                    .unwrap_or_default();
            for c in campaigns {
                let ws = match app.store.account(seat.account).await {
                    Ok(r) => r.workspace_id,
                    Err(_) => continue,
                };
                if let Err(e) = app.store.user_resume(ws, c).await {
                    fail(log, format!("resume failed: {e}"));
                }
            }
        }
        // The sender reports a failure that names the account's state.
        (11, Some(_)) => {
            let campaign: Option<uuid::Uuid> =
                sqlx::query_scalar("SELECT id FROM campaigns WHERE account_id = $1 LIMIT 1")
                    .bind(seat.account.0)
                    .fetch_optional(app.store.pool())
                    .await
                    .unwrap_or_default();
            if let Some(c) = campaign {
                let r = app
                    .http
                    .post(format!("{}/api/accounts/{}/send-outcomes", app.web_url, seat.account))
                    .bearer_auth(&seat.token)
                    .json(&json!({"campaign_id": c, "action": "message", "outcome": "failed", "provider_error": "errors/disconnected_account"}))
                    .send()
                    .await;
                if let Ok(r) = r
                    && r.status().is_server_error()
                {
                    fail(log, format!("send outcome answered {}", r.status()));
                }
            }
        }
        _ => {}
    }
}

async fn sim(app: &TestApp, log: &Mutex<Log>, path: &str, body: Value) {
    match app
        .http
        .post(format!("{}{path}", app.sim_url))
        .json(&body)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() || r.status().as_u16() == 404 => {}
        Ok(r) => fail(log, format!("sim {path}: {}", r.status())),
        Err(e) => fail(log, format!("sim {path}: {e}")),
    }
}

/// Lets every open run finish (links expire, re-reads apply), then runs what a real
/// installation runs anyway: one account-status re-read per seat and one reconciler
/// pass, and waits again.
async fn settle(app: &TestApp, log: &Mutex<Log>, seats: &[Seat]) {
    wait_quiet(app, log).await;
    for seat in seats {
        if let Some(uid) = session_of(app, seat).await {
            let _ = app
                .http
                .post(format!("{}/webhooks/unipile/account-status", app.web_url))
                .header("Unipile-Auth", crate::WEBHOOK_SECRET)
                .body(account_status_body(&uid, "OK"))
                .send()
                .await;
        }
    }
    wait_quiet(app, log).await;
    act(app, log, 7, &seats[0], false).await;
    wait_quiet(app, log).await;
}

async fn wait_quiet(app: &TestApp, log: &Mutex<Log>) {
    let query = format!(
        "TaskQueue = '{}' AND ExecutionStatus = 'Running'",
        app.task_queue
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    if !app.wait_inbox_empty(Duration::from_secs(120)).await {
        fail(
            log,
            "webhooks still stored 120 s after the last action".into(),
        );
        return;
    }
    loop {
        if let Ok(c) = app
            .temporal
            .count_workflows(query.clone(), Default::default())
            .await
            && c.count() == 0
        {
            return;
        }
        if Instant::now() > deadline {
            fail(log, "runs still open 120 s after the last action".into());
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn sim_status(app: &TestApp, uid: &str) -> Option<String> {
    let r = app
        .http
        .get(format!("{}/api/v1/accounts/{uid}", app.sim_url))
        .header("X-API-KEY", crate::SIM_KEY)
        .send()
        .await
        .ok()?;
    if r.status().as_u16() == 404 {
        return None;
    }
    let v: Value = r.json().await.ok()?;
    v["sources"][0]["status"].as_str().map(str::to_string)
}

async fn check(app: &TestApp, log: &Mutex<Log>, seats: &[Seat]) -> Vec<String> {
    let mut v: Vec<String> = log.lock().expect("log").failures.clone();
    let (created_by, vanished, requests) = {
        let l = log.lock().expect("log");
        (
            l.created_by.clone(),
            l.vanished.clone(),
            l.delete_requests.clone(),
        )
    };
    let pool = app.store.pool();
    for seat in seats {
        let Ok(row) = app.store.account(seat.account).await else {
            v.push(format!("{}: row unreadable", seat.account));
            continue;
        };
        let who = &row.display_name;
        // 1. Agreement with Unipile.
        if row.status == AccountStatus::Connecting {
            v.push(format!("{who}: left connecting"));
        }
        if let Some(uid) = &row.unipile_account_id {
            let src = sim_status(app, uid).await;
            let ok = matches!(
                (row.status, src.as_deref()),
                (AccountStatus::Connected, Some("OK"))
                    | (AccountStatus::ReconnectNeeded, Some("CREDENTIALS"))
                    | (AccountStatus::Disconnected, None)
            );
            if !ok {
                v.push(format!(
                    "{who}: row {} but Unipile says {src:?}",
                    row.status
                ));
            }
            // 2. Never another seat's session.
            if let Some(creator) = created_by.get(uid.as_str())
                && *creator != row.id
            {
                v.push(format!(
                    "{who}: holds {uid}, created by another seat's hosted auth ({creator})"
                ));
            }
        }
        // 4. Emails.
        let (episodes, emails, pending): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM linkedin_account_audit_log WHERE account_id = $1 AND from_status = 'connected' AND to_status = 'reconnect_needed'), \
                    (SELECT count(*) FROM email_outbox WHERE account_id = $1), \
                    (SELECT count(*) FROM email_outbox WHERE account_id = $1 AND sent_at IS NULL AND withdrawn_at IS NULL)",
        )
        .bind(row.id.0)
        .fetch_one(pool)
        .await
        .unwrap_or((-1, -1, -1));
        if episodes != emails {
            v.push(format!(
                "{who}: {episodes} disconnect episodes but {emails} reconnect emails"
            ));
        }
        if row.status == AccountStatus::Connected && pending > 0 {
            v.push(format!(
                "{who}: connected with {pending} reconnect email(s) still pending"
            ));
        }
        // 5. Audit.
        let last: Option<String> = sqlx::query_scalar(
            "SELECT to_status FROM linkedin_account_audit_log WHERE account_id = $1 AND to_status IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(row.id.0)
        .fetch_optional(pool)
        .await
        .unwrap_or(None);
        if last.as_deref() != Some(row.status.as_str()) {
            v.push(format!(
                "{who}: status {} but last audited {last:?}",
                row.status
            ));
        }
        // 6. The disconnect pause exactly while not connected.
        let campaigns: Vec<(uuid::Uuid, bool)> = sqlx::query_as(
            "SELECT c.id, EXISTS (SELECT 1 FROM campaign_pauses p WHERE p.campaign_id = c.id AND p.reason = $2) \
             FROM campaigns c WHERE c.account_id = $1",
        )
        .bind(row.id.0)
        .bind(PauseReason::LinkedinAccountDisconnected.as_str())
        .fetch_all(pool)
        .await
        .unwrap_or_default();
        for (c, paused) in campaigns {
            if paused != (row.status != AccountStatus::Connected) {
                v.push(format!(
                    "{who}: campaign {c} disconnect pause {paused} while the row is {}",
                    row.status
                ));
            }
        }
    }
    // 3. Safe deletes only for accounts that did vanish.
    for r in requests {
        if !vanished.contains(&r) {
            v.push(format!(
                "a Safe delete was requested for {r}, which never left Unipile's listing"
            ));
        }
    }
    v
}
