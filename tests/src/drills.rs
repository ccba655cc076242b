//! Fault drills: what relink does when its parts break. Each drill sets up a real
//! situation on a [`TestApp`], breaks something (a worker killed at an activity
//! boundary, Unipile answering errors, a burst of clicks or webhooks, a server
//! restarted), lets the system recover, and compares what it observes with what a user
//! or operator must see. `./dev drills` runs every drill and prints the table; the fast
//! ones also run inside `./dev test` (tests/tests/drills.rs).

use crate::{AppOptions, Seeded, TestApp, WEBHOOK_SECRET, account_status_body, click_reconnect};
use relink_domain::{
    AccountStatus, PauseReason,
    deletes::{DeleteKind, DeleteOutcome, DeleteRequester, SafeDeleteInput},
    healing::{OrphanPassInput, ReconcileInput, SweepInput},
    reconnect_workflow_id,
};
use relink_workflows::{
    AccountReconcilerWorkflow, CampaignSweeperWorkflow, OrphanWatcherWorkflow, SafeDeleteWorkflow,
    activities::names,
};
use serde_json::{Value, json};
use std::{
    collections::{BTreeSet, HashMap},
    time::{Duration, Instant},
};
use temporalio_client::{UntypedWorkflow, WorkflowFetchHistoryOptions, WorkflowStartOptions};
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

/// The simulator's route key of hosted-link creation.
pub const LINK_ROUTE: &str = "POST /api/v1/hosted/accounts/link";
/// The simulator's route key of the account listing.
pub const LIST_ROUTE: &str = "GET /api/v1/accounts";
/// The simulator's route key of one account's read.
pub const GET_ROUTE: &str = "GET /api/v1/accounts/{id}";
/// The simulator's route key of Unipile's DELETE.
pub const DELETE_ROUTE: &str = "DELETE /api/v1/accounts/{id}";

/// One line of the drill table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DrillRow {
    /// What was broken.
    pub drill: String,
    /// What a user or operator must see.
    pub expected: String,
    /// What this run saw.
    pub observed: String,
    /// Observed meets expected.
    pub pass: bool,
    /// The conditions that did not hold (empty when it passes).
    pub failed: Vec<String>,
}

impl DrillRow {
    /// A row of the drill table.
    pub fn new(
        drill: impl Into<String>,
        expected: impl Into<String>,
        observed: impl Into<String>,
        checks: Checks,
    ) -> Self {
        Self {
            drill: drill.into(),
            expected: expected.into(),
            observed: observed.into(),
            pass: checks.failed.is_empty(),
            failed: checks.failed,
        }
    }
}

/// A drill's conditions, each named by what it checks; the row reports the ones that
/// failed.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    failed: Vec<String>,
}

impl Checks {
    /// Adds one condition.
    pub fn check(mut self, what: &str, holds: bool) -> Self {
        if !holds {
            self.failed.push(what.to_string());
        }
        self
    }
}

/// The rows as a markdown table (drill, expected, observed, pass).
pub fn table(rows: &[DrillRow]) -> String {
    let mut out = String::from("| drill | expected | observed | pass |\n|---|---|---|---|\n");
    for r in rows {
        let cell = |s: &str| s.replace('|', "\\|");
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell(&r.drill),
            cell(&r.expected),
            cell(&r.observed),
            if r.pass {
                "yes".to_string()
            } else {
                format!("**NO**: {}", cell(&r.failed.join("; ")))
            }
        ));
    }
    out
}

/// Where, relative to one activity of a workflow run, the worker is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    /// As soon as the run's history shows the activity scheduled: the worker dies
    /// before or while it runs it.
    Scheduled(&'static str),
    /// As soon as the history shows the activity completed: the worker dies between it
    /// and whatever the workflow does next.
    Completed(&'static str),
    /// As soon as the simulator has received a request on this route, which the drill
    /// answers only after 2 s: the worker dies inside a local activity (the click's link
    /// steps), before the workflow task that runs it completes, so history shows nothing.
    InCall(&'static str),
}

impl std::fmt::Display for Boundary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Boundary::Scheduled(a) => write!(f, "{a} scheduled"),
            Boundary::Completed(a) => write!(f, "{a} completed"),
            Boundary::InCall(route) => write!(f, "inside {route}"),
        }
    }
}

/// One activity event of a run's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActivityEvent {
    Scheduled,
    /// Started, with its attempt number (1 on the first try).
    Started(u32),
    Completed,
}

/// The activity events of a run's history in order, each with its activity type.
/// `None` when the history cannot be read.
async fn activity_events(app: &TestApp, workflow_id: &str) -> Option<Vec<(ActivityEvent, String)>> {
    let handle = app
        .temporal
        .get_workflow_handle::<UntypedWorkflow>(workflow_id);
    let events = handle
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .into_events()
        .await
        .ok()?;
    let mut scheduled: HashMap<i64, String> = HashMap::new();
    let name_of =
        |scheduled: &HashMap<i64, String>, id: i64| scheduled.get(&id).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for e in events {
        match e.attributes {
            Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => {
                let name = a.activity_type.map(|t| t.name).unwrap_or_default();
                scheduled.insert(e.event_id, name.clone());
                out.push((ActivityEvent::Scheduled, name));
            }
            Some(Attributes::ActivityTaskStartedEventAttributes(a)) => {
                out.push((
                    ActivityEvent::Started(a.attempt as u32),
                    name_of(&scheduled, a.scheduled_event_id),
                ));
            }
            Some(Attributes::ActivityTaskCompletedEventAttributes(a)) => {
                out.push((
                    ActivityEvent::Completed,
                    name_of(&scheduled, a.scheduled_event_id),
                ));
            }
            _ => {}
        }
    }
    Some(out)
}

/// The activities of a run that needed more than one attempt (a kill that landed while
/// the activity ran is retried after its timeout), as `name ×attempts`; `no retry`
/// when every activity completed on its first attempt.
pub async fn retried(app: &TestApp, workflow_id: &str) -> String {
    let Some(events) = activity_events(app, workflow_id).await else {
        return "history unreadable".into();
    };
    let out: Vec<String> = events
        .iter()
        .filter_map(|(e, name)| match e {
            ActivityEvent::Started(attempt) if *attempt > 1 => Some(format!("{name} ×{attempt}")),
            _ => None,
        })
        .collect();
    if out.is_empty() {
        "no retry".into()
    } else {
        format!("retried: {}", out.join(", "))
    }
}

/// Waits until the webhook inbox is empty and no account-status sync run of the app's
/// task queue is open (every webhook's re-read has been applied), at most `timeout`.
/// Returns whether it settled.
pub async fn wait_syncs_done(app: &TestApp, timeout: Duration) -> bool {
    let query = format!(
        "TaskQueue = '{}' AND WorkflowType = 'AccountStatusSync' AND ExecutionStatus = 'Running'",
        app.task_queue
    );
    let deadline = Instant::now() + timeout;
    if !app.wait_inbox_empty(timeout).await {
        return false;
    }
    while Instant::now() < deadline {
        if let Ok(c) = app
            .temporal
            .count_workflows(query.clone(), Default::default())
            .await
            && c.count() == 0
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Waits (polling the run's history every 5 ms) for `at`, then kills the worker
/// abruptly and starts a new one. Returns how long after the wait began the kill came,
/// or an error when the boundary never showed within `timeout`.
pub async fn kill_at(
    app: &mut TestApp,
    workflow_id: &str,
    at: Boundary,
    timeout: Duration,
) -> Result<Duration, String> {
    let start = Instant::now();
    let (want, name) = match at {
        Boundary::Scheduled(n) => (ActivityEvent::Scheduled, n),
        Boundary::Completed(n) => (ActivityEvent::Completed, n),
        Boundary::InCall(route) => (ActivityEvent::Scheduled, route),
    };
    loop {
        let reached = match at {
            // The slow answer's fault is used up: the request is in flight.
            Boundary::InCall(route) => app.sim_fault_calls_left(route).await == 0,
            _ => activity_events(app, workflow_id)
                .await
                .unwrap_or_default()
                .iter()
                .any(|(e, n)| *e == want && n == name),
        };
        if reached {
            app.kill_worker();
            let waited = start.elapsed();
            tokio::time::sleep(Duration::from_millis(200)).await;
            app.start_worker().await;
            return Ok(waited);
        }
        if start.elapsed() > timeout {
            return Err(format!("{at} never showed in {workflow_id}"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until the run `workflow_id` is closed (completed, failed, …). Returns its
/// status name.
/// Clicks until a click answers 200 (a user clicks again after an error); at most 5
/// clicks a second apart. Returns every url a click answered.
async fn click_until_linked(app: &TestApp, s: &Seeded, first: (u16, Value)) -> Vec<String> {
    let mut urls = Vec::new();
    let mut answer = first;
    for _ in 0..5 {
        if let Some(u) = answer.1["url"].as_str() {
            urls.push(u.to_string());
        }
        if answer.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        answer = click_reconnect(
            app.http.clone(),
            app.web_url.clone(),
            s.token.clone(),
            s.account.to_string(),
        )
        .await;
    }
    urls
}

/// Number of audit rows with a `to_status` written since `since` (every status flip).
async fn flips_since(app: &TestApp, since: chrono::DateTime<chrono::Utc>) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM linkedin_account_audit_log WHERE to_status IS NOT NULL AND created_at >= $1")
        .bind(since)
        .fetch_one(app.store.pool())
        .await
        .unwrap_or(-1)
}

/// Alerts of `kind` raised since `since`.
async fn alerts_since(app: &TestApp, kind: &str, since: chrono::DateTime<chrono::Utc>) -> usize {
    app.store
        .alerts()
        .await
        .map(|a| {
            a.iter()
                .filter(|x| x.kind == kind && x.created_at >= since)
                .count()
        })
        .unwrap_or(0)
}

/// Accounts whose status disagrees with their latest audit row (a flip without its
/// audit row); 0 when every flip is paired.
async fn unpaired_flips(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM linkedin_accounts a WHERE a.status IS DISTINCT FROM \
         (SELECT l.to_status FROM linkedin_account_audit_log l WHERE l.account_id = a.id AND l.to_status IS NOT NULL \
          ORDER BY l.id DESC LIMIT 1)",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap_or(-1)
}

/// The reconnect workflow with the worker killed at `at`: the click (clicked again after
/// an error, as a user does), the login at Unipile and its callback must still end in
/// one relink: one `connecting` and one `connected` audit row, the disconnect pause
/// cleared, every click shown the same url, one hosted link at Unipile (two only when the
/// kill landed inside Unipile's link call, whose answer was lost with the worker).
pub async fn reconnect_killed_at(app: &mut TestApp, at: Boundary) -> DrillRow {
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let links_before = app.sim_count(LINK_ROUTE).await;
    let wf = reconnect_workflow_id(s.account);
    let before_link = !matches!(
        at,
        Boundary::Scheduled(names::LINK_ACCOUNT) | Boundary::Completed(names::LINK_ACCOUNT)
    );
    let mut killed = Ok(Duration::ZERO);
    if let Boundary::InCall(route) = at {
        app.sim_post(
            "/_sim/faults",
            json!({"route": route, "status": 0, "count": 1, "latency_ms": 2000}),
        )
        .await;
    }
    let first = if before_link {
        let pending = tokio::spawn(click_reconnect(
            app.http.clone(),
            app.web_url.clone(),
            s.token.clone(),
            s.account.to_string(),
        ));
        killed = kill_at(app, &wf, at, Duration::from_secs(30)).await;
        pending.await.unwrap_or((0, Value::Null))
    } else {
        click_reconnect(
            app.http.clone(),
            app.web_url.clone(),
            s.token.clone(),
            s.account.to_string(),
        )
        .await
    };
    let urls = click_until_linked(app, &s, first).await;
    if let Some(url) = urls.last() {
        let _ = app
            .http
            .post(format!("{}/_sim/hosted/complete", app.sim_url))
            .json(&json!({"url": url, "notify": true}))
            .send()
            .await;
    }
    if !before_link {
        killed = kill_at(app, &wf, at, Duration::from_secs(30)).await;
    }
    let connected = wait_row(app, &s, AccountStatus::Connected, Duration::from_secs(120)).await;
    let closed = app
        .wait_workflow_closed(&wf, Duration::from_secs(120))
        .await;
    let links = app.sim_count(LINK_ROUTE).await - links_before;
    let connecting_rows = app.audit_count(s.account, "connecting").await;
    let connected_rows = app.audit_count(s.account, "connected").await;
    let resumed = app.campaign(s.paused_for_disconnect).await == ("active".to_string(), vec![]);
    let manual_kept = app.campaign(s.paused_also_manual).await
        == ("paused".to_string(), vec!["manual".to_string()]);
    let distinct: BTreeSet<_> = urls.iter().collect();
    let links_ok = links == 1 || (links == 2 && at == Boundary::InCall(LINK_ROUTE));
    let checks = Checks::default()
        .check("killed.is_ok()", killed.is_ok())
        .check("connected", connected)
        .check("connecting_rows == 1", connecting_rows == 1)
        .check("connected_rows == 1", connected_rows == 1)
        .check("resumed", resumed)
        .check("manual_kept", manual_kept)
        .check("distinct.len() == 1", distinct.len() == 1)
        .check("links_ok", links_ok);
    DrillRow::new(
        format!("worker SIGKILL: reconnect, {at}"),
        "relinked once; 1 url shown; 1 link (2 if killed inside the link call)",
        format!(
            "{}; run {closed}; audit connecting/connected {connecting_rows}/{connected_rows}; urls shown {}; links {links}; pause cleared {resumed}, manual kept {manual_kept}; {}{}",
            if connected {
                "connected"
            } else {
                "NOT connected"
            },
            distinct.len(),
            retried(app, &wf).await,
            killed.err().map(|e| format!("; {e}")).unwrap_or_default()
        ),
        checks,
    )
}

/// The Reconnect run whose link expires without a login (the app's link lifetime must
/// be short, e.g. 8 s), with the worker killed at `at`: at expiry the run checks Unipile
/// for a live session (none: still `CREDENTIALS`) and puts the row back to
/// `reconnect_needed`, once; no second link.
pub async fn reconnect_expiry_killed_at(app: &mut TestApp, at: Boundary) -> DrillRow {
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let reverts_before = app.audit_count(s.account, "reconnect_needed").await;
    let links_before = app.sim_count(LINK_ROUTE).await;
    let wf = reconnect_workflow_id(s.account);
    let (code, _) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    let killed = kill_at(app, &wf, at, Duration::from_secs(120)).await;
    let closed = app
        .wait_workflow_closed(&wf, Duration::from_secs(180))
        .await;
    let row = app.account(s.account).await;
    let reverts = app.audit_count(s.account, "reconnect_needed").await - reverts_before;
    let links = app.sim_count(LINK_ROUTE).await - links_before;
    let checks = Checks::default()
        .check("code == 200", code == 200)
        .check("killed.is_ok()", killed.is_ok())
        .check(
            "closed.contains(\"Completed\")",
            closed.contains("Completed"),
        )
        .check(
            "row.status == AccountStatus::ReconnectNeeded",
            row.status == AccountStatus::ReconnectNeeded,
        )
        .check("reverts == 1", reverts == 1)
        .check("links == 1", links == 1);
    DrillRow::new(
        format!("worker SIGKILL: reconnect link expiring unused, {at}"),
        "row back to reconnect_needed once; 1 link",
        format!(
            "run {closed}; row {}; revert audit rows {reverts}; links {links}; {}{}",
            row.status.as_str(),
            retried(app, &wf).await,
            killed.err().map(|e| format!("; {e}")).unwrap_or_default()
        ),
        checks,
    )
}

async fn wait_row(app: &TestApp, s: &Seeded, want: AccountStatus, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if app
            .store
            .account(s.account)
            .await
            .map(|r| r.status == want)
            .unwrap_or(false)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A login finished at Unipile whose callback was lost, the row stuck `connecting`
/// for 10 minutes (what the orphan watcher exists for).
async fn stuck_connecting(app: &TestApp) -> Seeded {
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let (_, body) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    app.sim_post(
        "/_sim/hosted/complete",
        json!({"url": body["url"], "notify": false}),
    )
    .await;
    let _ = sqlx::query("UPDATE linkedin_accounts SET connecting_since = now() - interval '10 minutes' WHERE id = $1")
        .bind(s.account.0)
        .execute(app.store.pool())
        .await;
    s
}

/// The orphan watcher's pass with the worker killed at `at`: the stuck row is relinked
/// exactly once.
pub async fn orphan_killed_at(app: &mut TestApp, at: Boundary) -> DrillRow {
    let s = stuck_connecting(app).await;
    let wf = format!("drill-orphan-{}", uuid::Uuid::new_v4().simple());
    let opts = WorkflowStartOptions::new(app.task_queue.clone(), wf.clone()).build();
    let started = app
        .temporal
        .start_workflow(OrphanWatcherWorkflow::run, OrphanPassInput::default(), opts)
        .await;
    let killed = match started {
        Ok(_) => kill_at(app, &wf, at, Duration::from_secs(30)).await,
        Err(e) => Err(format!("start: {e}")),
    };
    let closed = app
        .wait_workflow_closed(&wf, Duration::from_secs(180))
        .await;
    let row = app.account(s.account).await;
    let connected_rows = app.audit_count(s.account, "connected").await;
    let resumed = app.campaign(s.paused_for_disconnect).await == ("active".to_string(), vec![]);
    let checks = Checks::default()
        .check("killed.is_ok()", killed.is_ok())
        .check(
            "closed.contains(\"Completed\")",
            closed.contains("Completed"),
        )
        .check(
            "row.status == AccountStatus::Connected",
            row.status == AccountStatus::Connected,
        )
        .check("connected_rows == 1", connected_rows == 1)
        .check("resumed", resumed);
    DrillRow::new(
        format!("worker SIGKILL: orphan watcher, {at}"),
        "stuck row relinked once, pause cleared",
        format!(
            "run {closed}; row {}; audit connected {connected_rows}; pause cleared {resumed}; {}{}",
            row.status.as_str(),
            retried(app, &wf).await,
            killed.err().map(|e| format!("; {e}")).unwrap_or_default()
        ),
        checks,
    )
}

/// Seeds `n` campaigns of one connected account paused for the disconnect, `manual`
/// more paused for the disconnect and `manual`, in one statement each.
async fn disconnect_paused_campaigns(
    app: &TestApp,
    n: usize,
    manual: usize,
) -> (uuid::Uuid, Vec<uuid::Uuid>) {
    let s = app.seed_account(AccountStatus::Connected, "OK").await;
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
        "WITH c AS (INSERT INTO campaigns (workspace_id, account_id, name, status) \
           SELECT $1, $2, 'Drill ' || g, 'paused' FROM generate_series(1, $3) g RETURNING id) \
         INSERT INTO campaign_pauses (campaign_id, reason) SELECT id, $4 FROM c RETURNING campaign_id",
    )
    .bind(s.workspace.0)
    .bind(s.account.0)
    .bind((n + manual) as i32)
    .bind(PauseReason::LinkedinAccountDisconnected.as_str())
    .fetch_all(app.store.pool())
    .await
    .expect("campaigns");
    let manual_ids: Vec<uuid::Uuid> = ids.iter().take(manual).copied().collect();
    sqlx::query(
        "INSERT INTO campaign_pauses (campaign_id, reason) SELECT unnest($1::uuid[]), 'manual'",
    )
    .bind(&manual_ids)
    .execute(app.store.pool())
    .await
    .expect("manual pauses");
    (s.workspace.0, manual_ids)
}

/// (campaigns active without a reason, campaigns paused with only `manual`, others) of a
/// workspace.
async fn campaign_outcome(app: &TestApp, workspace: uuid::Uuid) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE c.status = 'active' AND r.reasons IS NULL), \
                count(*) FILTER (WHERE c.status = 'paused' AND r.reasons = ARRAY['manual']), \
                count(*) FILTER (WHERE NOT ((c.status = 'active' AND r.reasons IS NULL) OR (c.status = 'paused' AND r.reasons = ARRAY['manual']))) \
         FROM campaigns c LEFT JOIN (SELECT campaign_id, array_agg(reason ORDER BY reason) reasons FROM campaign_pauses GROUP BY campaign_id) r \
           ON r.campaign_id = c.id WHERE c.workspace_id = $1",
    )
    .bind(workspace)
    .fetch_one(app.store.pool())
    .await
    .unwrap_or((-1, -1, -1))
}

/// The sweeper's pass (600 campaigns in batches of 25) with the worker killed at `at`:
/// every disconnect pause of the connected account is cleared, `manual` pauses stay.
pub async fn sweeper_killed_at(app: &mut TestApp, at: Boundary) -> DrillRow {
    let (ws, _) = disconnect_paused_campaigns(app, 560, 40).await;
    let wf = format!("drill-sweeper-{}", uuid::Uuid::new_v4().simple());
    let opts = WorkflowStartOptions::new(app.task_queue.clone(), wf.clone()).build();
    let started = app
        .temporal
        .start_workflow(
            CampaignSweeperWorkflow::run,
            SweepInput { batch_size: 25 },
            opts,
        )
        .await;
    let killed = match started {
        Ok(_) => kill_at(app, &wf, at, Duration::from_secs(30)).await,
        Err(e) => Err(format!("start: {e}")),
    };
    let closed = app
        .wait_workflow_closed(&wf, Duration::from_secs(180))
        .await;
    let (active, manual, other) = campaign_outcome(app, ws).await;
    // The seeded account brings one active campaign and one paused for `manual` only.
    let checks = Checks::default()
        .check("killed.is_ok()", killed.is_ok())
        .check(
            "closed.contains(\"Completed\")",
            closed.contains("Completed"),
        )
        .check("active == 561", active == 561)
        .check("manual == 41", manual == 41)
        .check("other == 0", other == 0);
    DrillRow::new(
        format!("worker SIGKILL: sweeper, {at}"),
        "560 resumed, 40 + 1 kept paused for manual, 0 other",
        format!(
            "run {closed}; resumed {active}, manual {manual}, other {other}; {}{}",
            retried(app, &wf).await,
            killed.err().map(|e| format!("; {e}")).unwrap_or_default()
        ),
        checks,
    )
}

/// Safe delete (operator, inert duplicate, polls 1 s apart, undo 1 s) with the worker
/// killed at `at`: one intent row, one `unipile.delete` alert, the account gone, one
/// DELETE call (two when the kill landed inside the call: the retry answers 404, which
/// counts as done and is not counted again). The app's worker must have deletes enabled
/// and the flag on.
pub async fn safe_delete_killed_at(app: &mut TestApp, at: Boundary, blocked: bool) -> DrillRow {
    let v = app
        .sim_post(
            "/_sim/accounts",
            json!({"name": "Drill duplicate", "status": "OK"}),
        )
        .await;
    let uid = v["id"].as_str().unwrap_or_default().to_string();
    let deletes_before = app.sim_count(DELETE_ROUTE).await;
    let intents_before = app.store.deletes_last_24h().await.unwrap_or(-1);
    let since = chrono::Utc::now();
    let input = SafeDeleteInput {
        unipile_account_id: uid.clone().into(),
        requester: DeleteRequester::Operator {
            name: "drills".into(),
            reason: "drill: inert duplicate".into(),
        },
        // Blocked: a request for a "gone" account that Unipile still has (gate 3 stops it
        // and the outcome is recorded by `record_delete`).
        kind: if blocked {
            DeleteKind::Gone
        } else {
            DeleteKind::InertDuplicate
        },
        poll_spacing_secs: 1,
        undo_window_secs: 1,
    };
    let started =
        relink_starter::ops::start_safe_delete(&app.temporal, &app.task_queue, input).await;
    let (wf, killed) = match started {
        Ok(wf) => {
            let k = kill_at(app, &wf, at, Duration::from_secs(60)).await;
            (wf, k)
        }
        Err(e) => (String::new(), Err(format!("start: {e}"))),
    };
    let outcome = app
        .temporal
        .get_workflow_handle::<SafeDeleteWorkflow>(wf.clone())
        .get_result(Default::default())
        .await
        .map_err(|e| e.to_string());
    let calls = app.sim_count(DELETE_ROUTE).await - deletes_before;
    let intents = app.store.deletes_last_24h().await.unwrap_or(-1) - intents_before;
    let alerts = alerts_since(app, "unipile.delete", since).await;
    let gone = app
        .http
        .get(format!("{}/api/v1/accounts/{uid}", app.sim_url))
        .header("X-API-KEY", crate::SIM_KEY)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
        == 404;
    let calls_ok = calls == 1 || (calls == 2 && at == Boundary::Scheduled(names::EXECUTE_DELETE));
    let retried = retried(app, &wf).await;
    let checks = if blocked {
        Checks::default()
            .check("killed.is_ok()", killed.is_ok())
            .check(
                "matches!(outcome, Ok(DeleteOutcome::Blocked { .. }))",
                matches!(outcome, Ok(DeleteOutcome::Blocked { .. })),
            )
            .check("intents == 0", intents == 0)
            .check("alerts == 1", alerts == 1)
            .check("!gone", !gone)
            .check("calls == 0", calls == 0)
    } else {
        Checks::default()
            .check("killed.is_ok()", killed.is_ok())
            .check(
                "outcome == Ok(DeleteOutcome::Deleted)",
                outcome == Ok(DeleteOutcome::Deleted),
            )
            .check("intents == 1", intents == 1)
            .check("alerts == 1", alerts == 1)
            .check("gone", gone)
            .check("calls_ok", calls_ok)
    };
    DrillRow::new(
        format!(
            "worker SIGKILL: safe delete{}, {at}",
            if blocked {
                " stopped by the polls (account present)"
            } else {
                ""
            }
        ),
        if blocked {
            "blocked once: 0 intent rows, 1 alert, 0 DELETE"
        } else {
            "deleted once: 1 intent row, 1 alert, 1 DELETE (2 if killed inside the call)"
        },
        format!(
            "outcome {}; intent rows {intents}; alerts {alerts}; DELETE calls {calls}; gone {gone}; {retried}{}",
            match &outcome {
                Ok(o) => format!("{o:?}"),
                Err(e) => e.clone(),
            },
            killed.err().map(|e| format!("; {e}")).unwrap_or_default()
        ),
        checks,
    )
}

/// The reconciler's pass with the worker killed at `at` (inside the listing, after the
/// pass staged its rows; or after the pass): three connected rows whose sessions need a
/// login, among 20 healthy ones, each flip to `reconnect_needed` exactly once, with one
/// reconnect email each, and the healthy rows stay connected. The retried pass stages
/// afresh (the killed connection took its temporary tables with it).
pub async fn reconciler_killed_at(app: &mut TestApp, at: Boundary) -> DrillRow {
    let mut stale = Vec::new();
    for _ in 0..3 {
        stale.push(
            app.seed_account(AccountStatus::Connected, "CREDENTIALS")
                .await
                .account,
        );
    }
    let (_, _, healthy) = app.seed_fleet("K", 20, "OK").await;
    if let Boundary::InCall(route) = at {
        app.sim_post(
            "/_sim/faults",
            json!({"route": route, "status": 0, "count": 1, "latency_ms": 2000}),
        )
        .await;
    }
    let wf = format!("drill-reconciler-kill-{}", uuid::Uuid::new_v4().simple());
    let opts = WorkflowStartOptions::new(app.task_queue.clone(), wf.clone()).build();
    let started = app
        .temporal
        .start_workflow(
            AccountReconcilerWorkflow::run,
            ReconcileInput { dry_run: false },
            opts,
        )
        .await;
    let killed = match started {
        Ok(_) => kill_at(app, &wf, at, Duration::from_secs(30)).await,
        Err(e) => Err(format!("start: {e}")),
    };
    let closed = app
        .wait_workflow_closed(&wf, Duration::from_secs(180))
        .await;
    let mut flips = Vec::new();
    for id in &stale {
        flips.push(app.audit_count(*id, "reconnect_needed").await);
    }
    let ids: Vec<uuid::Uuid> = stale.iter().map(|a| a.0).collect();
    let emails: i64 =
        sqlx::query_scalar("SELECT count(*) FROM email_outbox WHERE account_id = ANY($1)")
            .bind(&ids)
            .fetch_one(app.store.pool())
            .await
            .unwrap_or(-1);
    let ids: Vec<uuid::Uuid> = healthy.iter().map(|(a, _)| a.0).collect();
    let wrong: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM linkedin_accounts WHERE id = ANY($1) AND status <> 'connected'",
    )
    .bind(&ids)
    .fetch_one(app.store.pool())
    .await
    .unwrap_or(-1);
    let checks = Checks::default()
        .check("killed.is_ok()", killed.is_ok())
        .check(
            "closed.contains(\"Completed\")",
            closed.contains("Completed"),
        )
        .check("flips == [1, 1, 1]", flips == [1, 1, 1])
        .check("emails == 3", emails == 3)
        .check("wrong == 0", wrong == 0);
    DrillRow::new(
        format!("worker SIGKILL: reconciler, {at}"),
        "3 rows flipped once, 3 emails, 20 healthy rows untouched",
        format!(
            "run {closed}; flips per row {flips:?}; emails {emails}; healthy rows flipped {wrong}; {}{}",
            retried(app, &wf).await,
            killed.err().map(|e| format!("; {e}")).unwrap_or_default()
        ),
        checks,
    )
}

/// Every activity boundary of the workflows the drills kill the worker at: before
/// each activity (scheduled) and after the last one (completed), and inside the click's
/// local activities. `reconnect-expiry` is
/// the Reconnect run whose link expires unused (the app needs a short link lifetime);
/// `delete-blocked` is a Safe delete stopped by a gate (a "gone" account Unipile still
/// has), the path that records the outcome with `record_delete`.
pub fn kill_boundaries() -> Vec<(&'static str, Boundary)> {
    use Boundary::*;
    vec![
        // The click's three link steps are local activities inside one workflow task
        // (no history event of their own): the worker dies inside the Unipile call.
        ("reconnect", InCall(LINK_ROUTE)),
        ("reconnect", Scheduled(names::LINK_ACCOUNT)),
        ("reconnect", Completed(names::LINK_ACCOUNT)),
        ("orphan", Scheduled(names::ORPHAN_PASS)),
        ("orphan", Completed(names::ORPHAN_PASS)),
        // Inside the listing: the pass has staged its rows and pages Unipile.
        ("reconciler", InCall(LIST_ROUTE)),
        ("reconciler", Completed(names::RECONCILE_PASS)),
        ("sweeper", Scheduled(names::SWEEP_CAMPAIGNS)),
        ("sweeper", Completed(names::SWEEP_CAMPAIGNS)),
        ("reconnect-expiry", Scheduled(names::FIND_LIVE_SESSION)),
        ("reconnect-expiry", Scheduled(names::ABANDON_LINK)),
        ("reconnect-expiry", Completed(names::ABANDON_LINK)),
        ("delete", Scheduled(names::DELETE_ENV_CHECK)),
        ("delete", Scheduled(names::DELETE_POLL)),
        ("delete", Scheduled(names::EXECUTE_DELETE)),
        ("delete", Completed(names::EXECUTE_DELETE)),
        ("delete-blocked", Scheduled(names::RECORD_DELETE)),
        ("delete-blocked", Completed(names::RECORD_DELETE)),
    ]
}

/// Runs the kill drill of `workflow` at `at`.
pub async fn kill_drill(app: &mut TestApp, workflow: &str, at: Boundary) -> DrillRow {
    match workflow {
        "reconnect" => reconnect_killed_at(app, at).await,
        "orphan" => orphan_killed_at(app, at).await,
        "reconciler" => reconciler_killed_at(app, at).await,
        "sweeper" => sweeper_killed_at(app, at).await,
        "reconnect-expiry" => reconnect_expiry_killed_at(app, at).await,
        "delete-blocked" => safe_delete_killed_at(app, at, true).await,
        _ => safe_delete_killed_at(app, at, false).await,
    }
}

/// `n` parallel Reconnect clicks for one account: one hosted link at Unipile, one url.
pub async fn parallel_clicks(app: &TestApp, n: usize) -> DrillRow {
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let before = app.sim_count(LINK_ROUTE).await;
    let clicks = (0..n).map(|_| {
        click_reconnect(
            app.http.clone(),
            app.web_url.clone(),
            s.token.clone(),
            s.account.to_string(),
        )
    });
    let answers = futures::future::join_all(clicks).await;
    let ok = answers.iter().filter(|(c, _)| *c == 200).count();
    let urls: BTreeSet<_> = answers
        .iter()
        .filter_map(|(_, b)| b["url"].as_str().map(str::to_string))
        .collect();
    let links = app.sim_count(LINK_ROUTE).await - before;
    DrillRow::new(
        format!("{n} parallel reconnect clicks, one account"),
        format!("{n} × 200, 1 url, 1 hosted link"),
        format!("{ok} × 200, {} url(s), {links} hosted link(s)", urls.len()),
        Checks::default()
            .check("ok == n", ok == n)
            .check("urls.len() == 1", urls.len() == 1)
            .check("links == 1", links == 1),
    )
}

/// `n` account-status webhooks for `accounts` accounts, in random order with
/// duplicates and arbitrary messages, while a third of the accounts are `CREDENTIALS`
/// at Unipile: the final statuses match Unipile's, each flip has its audit row, one
/// reconnect email per disconnected account.
pub async fn webhook_storm(app: &TestApp, n: usize, accounts: usize) -> DrillRow {
    use rand::{
        Rng, SeedableRng,
        seq::{IndexedRandom, SliceRandom},
    };
    app.quiet_webhooks().await;
    let prefix = format!("W{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let (_, _, fleet) = app.seed_fleet(&prefix, accounts, "OK").await;
    let since = chrono::Utc::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut want: HashMap<String, AccountStatus> = HashMap::new();
    for (i, (_, uid)) in fleet.iter().enumerate() {
        let creds = i % 3 == 0;
        if creds {
            app.sim_post(
                &format!("/_sim/accounts/{uid}/status"),
                json!({"status": "CREDENTIALS"}),
            )
            .await;
        }
        want.insert(
            uid.clone(),
            if creds {
                AccountStatus::ReconnectNeeded
            } else {
                AccountStatus::Connected
            },
        );
    }
    let messages = [
        "OK",
        "CREDENTIALS",
        "ERROR",
        "STOPPED",
        "CONNECTING",
        "SYNC_SUCCESS",
        "RECONNECTED",
    ];
    // Every account gets at least one webhook (Unipile sends one per change); the rest
    // are duplicates for random accounts, and the whole burst is shuffled.
    let mut targets: Vec<usize> = (0..fleet.len()).collect();
    targets.extend((fleet.len()..n.max(fleet.len())).map(|_| rng.random_range(0..fleet.len())));
    targets.shuffle(&mut rng);
    let bodies: Vec<Vec<u8>> = targets
        .iter()
        .map(|&i| {
            let uid = &fleet[i].1;
            let message = messages.choose(&mut rng).copied().unwrap_or("OK");
            account_status_body(uid, message)
        })
        .collect();
    let n = bodies.len();
    let codes: Vec<u16> = app
        .post_status_webhooks(bodies, 32)
        .await
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    let accepted = codes.iter().filter(|c| **c == 200).count();
    let ids: Vec<uuid::Uuid> = fleet.iter().map(|(id, _)| id.0).collect();
    let read = || async {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT unipile_account_id, status FROM linkedin_accounts WHERE id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(app.store.pool())
        .await
        .unwrap_or_default();
        rows.iter()
            .filter(|(uid, st)| want.get(uid).map(|w| w.as_str()) != Some(st.as_str()))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut wrong = read().await;
    while wrong > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        wrong = read().await;
    }
    // Settled: every sync run has finished; late pokes must not have moved anything.
    let settled = wait_syncs_done(app, Duration::from_secs(120)).await;
    let wrong = read().await;
    let flips = flips_since(app, since).await;
    let creds = want
        .values()
        .filter(|w| **w == AccountStatus::ReconnectNeeded)
        .count() as i64;
    let emails: i64 =
        sqlx::query_scalar("SELECT count(*) FROM email_outbox WHERE account_id = ANY($1)")
            .bind(&ids)
            .fetch_one(app.store.pool())
            .await
            .unwrap_or(-1);
    let unpaired = unpaired_flips(app).await;
    DrillRow::new(
        format!("{n} account-status webhooks, {accounts} accounts, random order and duplicates"),
        format!(
            "all accepted; statuses match Unipile; {creds} flips with {creds} audit rows; {creds} emails"
        ),
        format!(
            "{accepted} accepted; {wrong} mismatched; {flips} flips audited; {unpaired} unpaired; {emails} emails"
        ),
        Checks::default()
            .check("settled", settled)
            .check("accepted == n", accepted == n)
            .check("wrong == 0", wrong == 0)
            .check("flips == creds", flips == creds)
            .check("unpaired == 0", unpaired == 0)
            .check("emails == creds", emails == creds),
    )
}

/// A Unipile fault for the reconciler drills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnipileFault {
    /// Every listing call answers 500.
    Listing500,
    /// Every listing call answers 429.
    Listing429,
    /// Every listing call takes longer than the client's timeout.
    ListingTimeout,
    /// The second page always fails.
    SecondPageFails,
    /// The second page fails once; the retry succeeds.
    SecondPageFailsOnce,
    /// The listing is empty (every account vanished at once).
    EmptyList,
    /// Every single-account read answers 404 (webhooks and a pass run meanwhile).
    EveryAccount404,
}

/// One reconciler pass (plus, for [`UnipileFault::EveryAccount404`], account-status
/// webhooks for every account) over a fleet of 300 connected accounts, 5 of them
/// `CREDENTIALS` at Unipile, while Unipile misbehaves: zero wrong flips, zero deletes,
/// one admin alert per aborted pass. The app's worker should have deletes enabled (the
/// drill shows the gates, not the switch, keep them from happening).
///
/// Each fault runs on a fresh app (its own database, simulator and task queue).
pub async fn reconciler_under_fault(opts: AppOptions, fault: UnipileFault) -> DrillRow {
    let app = &crate::spawn_app(opts).await;
    app.quiet_webhooks().await;
    let prefix = "R";
    let (_, _, fleet) = app.seed_fleet(prefix, 300, "OK").await;
    for (_, uid) in fleet.iter().take(5) {
        app.sim_post(
            &format!("/_sim/accounts/{uid}/status"),
            json!({"status": "CREDENTIALS"}),
        )
        .await;
    }
    let since = chrono::Utc::now();
    let deletes_before = app.sim_count(DELETE_ROUTE).await;
    let big = 1_000_000;
    let (name, expect_flips, expect_aborted, expect_gate) = match fault {
        UnipileFault::Listing500 => {
            app.sim_post(
                "/_sim/faults",
                json!({"route": LIST_ROUTE, "status": 500, "count": big}),
            )
            .await;
            ("every listing call 500", 0, 1, 0)
        }
        UnipileFault::Listing429 => {
            app.sim_post(
                "/_sim/faults",
                json!({"route": LIST_ROUTE, "status": 429, "count": big}),
            )
            .await;
            ("every listing call 429", 0, 1, 0)
        }
        UnipileFault::ListingTimeout => {
            app.sim_post(
                "/_sim/faults",
                json!({"route": LIST_ROUTE, "status": 0, "latency_ms": 7000, "count": big}),
            )
            .await;
            (
                "every listing call times out (7 s > 5 s client timeout)",
                0,
                1,
                0,
            )
        }
        UnipileFault::SecondPageFails => {
            app.sim_post(
                "/_sim/faults",
                json!({"route": LIST_ROUTE, "status": 500, "skip": 1, "count": big}),
            )
            .await;
            (
                "listing fails from its second call on (page 2, then every retry)",
                0,
                1,
                0,
            )
        }
        UnipileFault::SecondPageFailsOnce => {
            app.sim_post(
                "/_sim/faults",
                json!({"route": LIST_ROUTE, "status": 500, "skip": 1, "count": 1}),
            )
            .await;
            ("second page 500 once", 5, 0, 0)
        }
        UnipileFault::EmptyList => {
            for (_, uid) in &fleet {
                let _ = app
                    .http
                    .delete(format!("{}/_sim/accounts/{uid}", app.sim_url))
                    .send()
                    .await;
            }
            ("empty listing (every account vanished)", 0, 0, 1)
        }
        UnipileFault::EveryAccount404 => {
            app.sim_post(
                "/_sim/faults",
                json!({"route": GET_ROUTE, "status": 404, "count": big}),
            )
            .await;
            // The listing says CREDENTIALS, every fresh read says 404: they disagree, so
            // nothing is written and one alert says so.
            (
                "every account read 404 (webhooks for all + a pass)",
                0,
                0,
                0,
            )
        }
    };
    if fault == UnipileFault::EveryAccount404 {
        let url = format!("{}/webhooks/unipile/account-status", app.web_url);
        for (_, uid) in &fleet {
            let _ = app
                .http
                .post(&url)
                .header("Unipile-Auth", WEBHOOK_SECRET)
                .body(account_status_body(uid, "CREDENTIALS"))
                .send()
                .await;
        }
        wait_syncs_done(app, Duration::from_secs(120)).await;
    }
    let wf = format!("drill-reconciler-{}", uuid::Uuid::new_v4().simple());
    let opts = WorkflowStartOptions::new(app.task_queue.clone(), wf.clone()).build();
    let report = match app
        .temporal
        .start_workflow(
            AccountReconcilerWorkflow::run,
            ReconcileInput { dry_run: false },
            opts,
        )
        .await
    {
        Ok(h) => h
            .get_result(Default::default())
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let _ = app
        .http
        .delete(format!("{}/_sim/faults", app.sim_url))
        .send()
        .await;
    let flips = flips_since(app, since).await;
    let deletes = app.sim_count(DELETE_ROUTE).await - deletes_before;
    let aborted = alerts_since(app, relink_domain::AlertKind::PassAborted.as_str(), since).await;
    let gate = alerts_since(app, relink_domain::AlertKind::SanityGate.as_str(), since).await;
    let disagree = alerts_since(
        app,
        relink_domain::AlertKind::ListingDisagrees.as_str(),
        since,
    )
    .await;
    let expect_disagree = usize::from(fault == UnipileFault::EveryAccount404);
    let wrong: i64 = {
        let ids: Vec<uuid::Uuid> = fleet.iter().skip(5).map(|(id, _)| id.0).collect();
        sqlx::query_scalar(
            "SELECT count(*) FROM linkedin_accounts WHERE id = ANY($1) AND status <> 'connected'",
        )
        .bind(&ids)
        .fetch_one(app.store.pool())
        .await
        .unwrap_or(-1)
    };
    let checks = Checks::default()
        .check("report.is_ok()", report.is_ok())
        .check("flips == expect_flips", flips == expect_flips)
        .check("wrong == 0", wrong == 0)
        .check("deletes == 0", deletes == 0)
        .check("aborted == expect_aborted", aborted == expect_aborted)
        .check("gate == expect_gate", gate == expect_gate)
        .check("disagree == expect_disagree", disagree == expect_disagree);
    DrillRow::new(
        format!("Unipile fault: {name}"),
        format!(
            "{expect_flips} flips (of the 5 CREDENTIALS), 0 wrong, 0 deletes, {expect_aborted} abort alert, {expect_gate} gate alert, {expect_disagree} disagreement alert"
        ),
        format!(
            "pass {}; {flips} flips, {wrong} wrong, {deletes} deletes, {aborted} abort alert, {gate} gate alert, {disagree} disagreement alert",
            match &report {
                Ok(r) if r.aborted.is_some() => "aborted".to_string(),
                Ok(r) if r.gated => "gated".to_string(),
                Ok(r) => format!("applied {}", r.applied),
                Err(e) => format!("failed: {e}"),
            }
        ),
        checks,
    )
}

/// A Temporal dev server the drills own, so that they can SIGKILL it and restart it on
/// the same database file (`temporal server start-dev --db-filename`).
pub struct OwnTemporal {
    child: Option<std::process::Child>,
    /// Its frontend, `127.0.0.1:<port>`.
    pub address: String,
    port: u16,
    db: std::path::PathBuf,
    log: std::path::PathBuf,
}

impl OwnTemporal {
    /// Starts `temporal server start-dev` on `port` (UI on `port + 1000`) with the
    /// AccountId and WorkspaceId search attributes, its database at `db` (removed
    /// first) and its output appended to `log`; waits until it answers. Errors when
    /// the `temporal` CLI is missing or the server does not answer within 60 s.
    pub async fn start(
        port: u16,
        db: std::path::PathBuf,
        log: std::path::PathBuf,
    ) -> anyhow::Result<Self> {
        let _ = std::fs::remove_file(&db);
        let mut s = Self {
            child: None,
            address: format!("127.0.0.1:{port}"),
            port,
            db,
            log,
        };
        s.spawn().await?;
        Ok(s)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let err = out.try_clone()?;
        let child = std::process::Command::new("temporal")
            .args([
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--log-level",
                "error",
            ])
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--ui-port")
            .arg((self.port + 1000).to_string())
            .arg("--db-filename")
            .arg(&self.db)
            .args([
                "--search-attribute",
                "AccountId=Keyword",
                "--search-attribute",
                "WorkspaceId=Keyword",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| anyhow::anyhow!("could not run the temporal CLI: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let ok = tokio::process::Command::new("temporal")
                .args(["operator", "cluster", "health", "--address", &self.address])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .await
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        anyhow::bail!(
            "the drills' Temporal server did not answer at {}",
            self.address
        )
    }

    /// SIGKILLs the server.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same database file.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn().await
    }
}

impl Drop for OwnTemporal {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The Temporal server SIGKILLed while a Reconnect run waits on its link-expiry timer
/// (link lifetime 20 s), down for 5 s, restarted on its database file: the timer still
/// fires and the abandoned link puts the row back to `reconnect_needed`, once.
pub async fn temporal_restart_mid_timer(app: &mut TestApp, server: &mut OwnTemporal) -> DrillRow {
    let s = app
        .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
        .await;
    let reverts_before = app.audit_count(s.account, "reconnect_needed").await;
    let clicked = Instant::now();
    let (code, _) = app.click_reconnect(&s.token, &s.account.to_string()).await;
    let connecting = wait_row(app, &s, AccountStatus::Connecting, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.kill();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let restarted = server.restart().await;
    let worker_survived = app.worker_alive();
    if !worker_survived {
        app.start_worker().await;
    }
    let reverted = wait_row(
        app,
        &s,
        AccountStatus::ReconnectNeeded,
        Duration::from_secs(120),
    )
    .await;
    let after = clicked.elapsed();
    let reverts = app.audit_count(s.account, "reconnect_needed").await - reverts_before;
    let closed = app
        .wait_workflow_closed(&reconnect_workflow_id(s.account), Duration::from_secs(60))
        .await;
    let checks = Checks::default()
        .check("code == 200", code == 200)
        .check("connecting", connecting)
        .check("restarted.is_ok()", restarted.is_ok())
        .check("reverted", reverted)
        .check("reverts == 1", reverts == 1)
        .check(
            "closed.contains(\"Completed\")",
            closed.contains("Completed"),
        )
        .check(
            "after >= Duration::from_secs(20)",
            after >= Duration::from_secs(20),
        );
    DrillRow::new(
        "Temporal dev server SIGKILLed mid-timer (link expiry 20 s), restarted after 5 s",
        "timer fires after the restart; row back to reconnect_needed once; run completes",
        format!(
            "reverted {reverted} after {:.0} s; revert audit rows {reverts}; run {closed}; worker survived the outage {worker_survived}{}",
            after.as_secs_f64(),
            restarted
                .err()
                .map(|e| format!("; {e}"))
                .unwrap_or_default()
        ),
        checks,
    )
}

/// PostgreSQL restarted (`restart` is the shell command) in the middle of a sweeper
/// pass over 20,000 paused campaigns in batches of 20: the restart must land while the
/// run is open; the batch it broke is retried and every campaign ends resumed once, the
/// `manual` ones still paused.
pub async fn postgres_restart_mid_pass(app: &mut TestApp, restart: &str) -> DrillRow {
    let (ws, _) = disconnect_paused_campaigns(app, 19_900, 100).await;
    let wf = format!("drill-pg-{}", uuid::Uuid::new_v4().simple());
    let opts = WorkflowStartOptions::new(app.task_queue.clone(), wf.clone()).build();
    let started = app
        .temporal
        .start_workflow(
            CampaignSweeperWorkflow::run,
            SweepInput { batch_size: 20 },
            opts,
        )
        .await;
    let mut progress_at_restart = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while started.is_ok() && Instant::now() < deadline {
        let (active, _, _) = campaign_outcome(app, ws).await;
        if active > 200 {
            progress_at_restart = active;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let restarted = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(restart)
        .status()
        .await
        .map(|s| s.success())
        .unwrap_or(false);
    let open_after = app.wait_workflow_closed(&wf, Duration::ZERO).await == "still running";
    let closed = app
        .wait_workflow_closed(&wf, Duration::from_secs(300))
        .await;
    let (active, manual, other) = campaign_outcome(app, ws).await;
    let checks = Checks::default()
        .check("started.is_ok()", started.is_ok())
        .check("restarted", restarted)
        .check("open_after", open_after)
        .check(
            "closed.contains(\"Completed\")",
            closed.contains("Completed"),
        )
        .check("active == 19_901", active == 19_901)
        .check("manual == 101", manual == 101)
        .check("other == 0", other == 0);
    DrillRow::new(
        "PostgreSQL restarted in the middle of a sweeper pass (20,000 campaigns, batches of 20)",
        "restart lands mid-pass; pass completes; 19,900 resumed, 100 + 1 kept paused for manual, 0 other",
        format!(
            "restart {} with {progress_at_restart} resumed, run still open after it {open_after}; run {closed}; resumed {active}, manual {manual}, other {other}; {}",
            if restarted { "done" } else { "FAILED" },
            retried(app, &wf).await,
        ),
        checks,
    )
}
