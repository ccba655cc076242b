//! `./dev bench`: figures next to the floor they are measured against, in the same run
//! on the same servers (these machines are noisy; absolute times alone mean little).
//! Prints a markdown table and writes the same figures as JSON (`--json PATH`).
//!
//! The worker runs as the `worker` binary in a child process (its peak RSS is read
//! from `/proc/<pid>/status`, reset through `/proc/<pid>/clear_refs` before the pass)
//! and logs every SQL statement it executes (`sqlx::query` at DEBUG), which the bench
//! counts. The table's first line names the build (`./dev bench --release` runs a
//! release build): the numbers are for comparison within one run.
#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use clap::Parser;
use relink_domain::{
    AccountStatus,
    healing::SweepInput,
    reconnect::{LinkRequest, ReconnectInput},
};
use relink_starter::ops::{Pass, run_pass};
use relink_tests::{AppOptions, TestApp, WorkerProcess, spawn_app};
use relink_unipile::HostedLinkRequest;
use relink_workflows::{CampaignSweeperWorkflow, ReconnectWorkflow};
use serde_json::{Value, json};
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};
use temporalio_client::{
    UntypedWorkflow, WorkflowDescribeOptions, WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
    WorkflowStartOptions, WorkflowUpdateWithStartOptions,
};

#[derive(Parser)]
struct Args {
    /// Accounts listed by the reconciler and orphan-watcher passes (at most 1,000,000,
    /// the simulator's largest bulk seed).
    #[arg(long, default_value_t = 10_000)]
    accounts: usize,
    /// Paused campaigns swept by the sweeper pass.
    #[arg(long, default_value_t = 100_000)]
    campaigns: usize,
    /// Requests per latency sample of the dedup click.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// First clicks (each on a fresh account).
    #[arg(long, default_value_t = 50)]
    first_clicks: usize,
    /// Reconnects run end to end (and trivial workflows run for the floor).
    #[arg(long, default_value_t = 100)]
    reconnects: usize,
    /// The `worker` executable (default: `worker` beside this binary).
    #[arg(long)]
    worker: Option<PathBuf>,
    /// Only these figures: clicks, e2e, reconciler, orphans, sweeper, storm
    /// (comma-separated; default all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Accounts in the webhook storm (each gets one CREDENTIALS webhook, and one in ten a
    /// duplicate).
    #[arg(long, default_value_t = 10_000)]
    storm: usize,
    /// Where to write the JSON figures.
    #[arg(long, default_value = ".dev/bench.json")]
    json: PathBuf,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(v: &[Duration], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).map_or(0.0, |d| ms(*d))
}

/// One figure and its floor. `ratio` is figure / floor (for a rate, floor / figure:
/// above 1 is always "slower than the floor").
fn row(
    figure: &str,
    unit: &str,
    value: (f64, Option<f64>),
    floor: &str,
    floor_value: (f64, Option<f64>),
    goal: &str,
    notes: Value,
) -> Value {
    let (a, b) = match (value.1, floor_value.1) {
        (Some(a), Some(b)) => (a, b),
        _ => (value.0, floor_value.0),
    };
    let ratio = if unit.ends_with("/s") {
        b / a.max(1e-9)
    } else {
        a / b.max(1e-9)
    };
    json!({
        "figure": figure, "unit": unit, "p50": value.0, "p99": value.1,
        "floor": floor, "floor_p50": floor_value.0, "floor_p99": floor_value.1,
        "ratio": ratio, "goal": goal, "notes": notes,
    })
}

/// A latency row in milliseconds: p50 and p99 of `times` next to those of `floor`, with
/// the sample count.
fn latency_row(
    figure: &str,
    times: &[Duration],
    floor: &str,
    floor_times: &[Duration],
    goal: &str,
) -> Value {
    row(
        figure,
        "ms",
        (pct(times, 0.5), Some(pct(times, 0.99))),
        floor,
        (pct(floor_times, 0.5), Some(pct(floor_times, 0.99))),
        goal,
        json!({"samples": times.len()}),
    )
}

/// Peak resident set of `pid` in MB (VmHWM), or 0 when unreadable.
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets the peak resident set of `pid` to its current size.
fn reset_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// SQL statements the worker logged since byte `from` of its log.
fn statements_since(log: &Path, from: u64) -> usize {
    let text = std::fs::read(log).unwrap_or_default();
    let new = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default()).into_owned();
    new.lines()
        .filter(|l| l.contains("DEBUG") && l.contains("sqlx::query"))
        .count()
}

fn log_len(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

async fn click(app: &TestApp, token: &str, account: &str) -> anyhow::Result<(Duration, Value)> {
    let t = Instant::now();
    let (code, body) = app.click_reconnect(token, account).await;
    let took = t.elapsed();
    anyhow::ensure!(code == 200, "click failed: {code} {body}");
    Ok((took, body))
}

/// The first workflow task of `workflow_id`'s latest run, from its history: (scheduled
/// to started, started to completed), or None when the history cannot be read.
async fn first_task_times(app: &TestApp, workflow_id: &str) -> Option<(Duration, Duration)> {
    use temporalio_common::protos::temporal::api::enums::v1::EventType;
    let events = app
        .temporal
        .get_workflow_handle::<UntypedWorkflow>(workflow_id)
        .fetch_history(Default::default())
        .into_events()
        .await
        .ok()?;
    let at = |kind: EventType| {
        events
            .iter()
            .find(|e| e.event_type == kind as i32)
            .and_then(|e| e.event_time.as_ref())
            .map(|t| Duration::new(t.seconds.max(0) as u64, t.nanos.max(0) as u32))
    };
    let scheduled = at(EventType::WorkflowTaskScheduled)?;
    let started = at(EventType::WorkflowTaskStarted)?;
    let completed = at(EventType::WorkflowTaskCompleted)?;
    Some((
        started.checked_sub(scheduled)?,
        completed.checked_sub(started)?,
    ))
}

/// Runs `n` trivial one-activity workflows (the sweeper with nothing to sweep) at once;
/// returns their rate (runs/s).
async fn trivial_rate(app: &TestApp, n: usize) -> anyhow::Result<f64> {
    let t = Instant::now();
    let trivial = futures::future::join_all((0..n).map(|i| {
        let client = app.temporal.clone();
        let opts = WorkflowStartOptions::new(
            app.task_queue.clone(),
            format!("bench-trivial-{i}-{}", uuid::Uuid::new_v4().simple()),
        )
        .build();
        async move {
            let h = client
                .start_workflow(CampaignSweeperWorkflow::run, SweepInput::default(), opts)
                .await?;
            h.get_result(Default::default()).await?;
            anyhow::Ok(())
        }
    }))
    .await;
    let rate = n as f64 / t.elapsed().as_secs_f64();
    anyhow::ensure!(
        trivial.iter().all(|r| r.is_ok()),
        "a trivial workflow failed"
    );
    Ok(rate)
}

/// Runs `n` reconnects end to end at once (click → login → callback → connected) on
/// fresh accounts; returns their rate (runs/s).
async fn e2e_rate(app: &TestApp, n: usize) -> anyhow::Result<f64> {
    let mut seeded = Vec::new();
    for _ in 0..n {
        seeded.push(
            app.seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
                .await,
        );
    }
    let t = Instant::now();
    let logins = futures::future::join_all(seeded.iter().map(|s| async {
        let (_, body) = click(app, &s.token, &s.account.to_string()).await?;
        app.sim_post(
            "/_sim/hosted/complete",
            json!({"url": body["url"], "notify": true}),
        )
        .await;
        anyhow::Ok(())
    }))
    .await;
    anyhow::ensure!(logins.iter().all(|r| r.is_ok()), "a click failed");
    // One poller (not one per run: that would load the database under test).
    let ids: Vec<uuid::Uuid> = seeded.iter().map(|s| s.account.0).collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let connected: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM linkedin_accounts WHERE id = ANY($1) AND status = 'connected'",
        )
        .bind(&ids)
        .fetch_one(app.store.pool())
        .await?;
        if connected as usize == n {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "a reconnect did not complete");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

/// Pages through `pages` holding nothing: returns the items listed.
async fn listed_items<P: serde::de::DeserializeOwned, T>(
    mut pages: relink_unipile::Pages<'_, P, T>,
) -> anyhow::Result<usize> {
    let mut n = 0;
    while let Some(p) = pages.next_page().await? {
        n += p.len();
    }
    Ok(n)
}

/// Three rounds of (floor, then `pass`): the floor is `page` (paging the listing the
/// pass reads, holding nothing). Returns the floors, the passes, the worker's largest
/// peak RSS (MB) over the passes, the smallest statement count of a pass (other
/// workflows' statements can land in a round's window), the accounts listed and the
/// last pass's report.
async fn rounds<F, Fut>(
    app: &TestApp,
    log: &Path,
    pass: Pass,
    page: F,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>, f64, usize, usize, Value)>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<usize>>,
{
    let pid = app
        .worker_pid()
        .ok_or_else(|| anyhow::anyhow!("the worker is not a child process"))?;
    let (mut pagings, mut passes, mut rss, mut statements) =
        (Vec::new(), Vec::new(), 0.0f64, usize::MAX);
    let (mut listed, mut report) = (0, Value::Null);
    for _ in 0..3 {
        let t = Instant::now();
        listed = page().await?;
        pagings.push(t.elapsed());
        reset_peak_rss(pid);
        let from = log_len(log);
        let t = Instant::now();
        report = run_pass(&app.temporal, &app.task_queue, pass, false)
            .await?
            .1;
        passes.push(t.elapsed());
        rss = rss.max(peak_rss_mb(pid));
        statements = statements.min(statements_since(log, from));
    }
    Ok((pagings, passes, rss, statements, listed, report))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let worker = relink_tests::worker_exe(args.worker.clone())?;
    std::fs::create_dir_all(".dev/logs")?;
    let log = PathBuf::from(".dev/logs/bench-worker.log");
    let _ = std::fs::remove_file(&log);
    let opts = AppOptions {
        worker_process: Some(WorkerProcess {
            exe: worker,
            rust_log: "warn,sqlx::query=debug".into(),
            log: log.clone(),
        }),
        ..AppOptions::default()
    };
    let app = spawn_app(opts).await;
    app.quiet_webhooks().await;
    let unipile = relink_runtime::UnipileSettings {
        unipile_dsn: app.sim_url.parse()?,
        unipile_api_key: relink_tests::SIM_KEY.into(),
        unipile_timeout_secs: 60,
        unipile_max_gets_per_sec: 10_000,
    }
    .client()?;
    let mut rows = Vec::new();
    let wants = |g: &str| args.only.is_empty() || args.only.iter().any(|o| o == g);

    if wants("clicks") {
        // 1. Reconnect click, first (a new workflow run and a hosted link), vs a bare
        //    DescribeWorkflowExecution plus one hosted-link call to unipile-sim.
        let (mut firsts, mut floors) = (Vec::new(), Vec::new());
        let (mut last, mut runs) = (None, Vec::new());
        for _ in 0..args.first_clicks.max(1) {
            let s = app
                .seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS")
                .await;
            let (took, body) = click(&app, &s.token, &s.account.to_string()).await?;
            firsts.push(took);
            let handle = app.temporal.get_workflow_handle::<UntypedWorkflow>(
                body["workflow_id"].as_str().unwrap_or_default(),
            );
            let t = Instant::now();
            handle.describe(WorkflowDescribeOptions::default()).await?;
            let req = HostedLinkRequest {
                kind: "reconnect".into(),
                providers: None,
                reconnect_account: s.unipile_id.clone(),
                api_url: app.sim_url.clone(),
                expires_on: relink_unipile::unipile_datetime(
                    chrono::Utc::now() + chrono::Duration::minutes(10),
                ),
                name: Some("bench".into()),
                notify_url: Some(format!(
                    "{}/webhooks/unipile/hosted-auth/bench",
                    app.web_url
                )),
                success_redirect_url: None,
                failure_redirect_url: None,
            };
            unipile.create_hosted_link(&req).await?;
            floors.push(t.elapsed());
            runs.push(body["workflow_id"].as_str().unwrap_or_default().to_string());
            last = Some((s, body));
        }
        // Where a first click's time goes, from each run's history: the wait for a
        // worker to pick up the run's first workflow task, then that task on the worker
        // (the click's three local activities run inside it).
        let (mut dispatch, mut on_worker) = (Vec::new(), Vec::new());
        for wf in &runs {
            if let Some((d, w)) = first_task_times(&app, wf).await {
                dispatch.push(d);
                on_worker.push(w);
            }
        }
        rows.push(latency_row(
            "reconnect click, first",
            &firsts,
            "DescribeWorkflowExecution + one hosted-link call",
            &floors,
            "p99 <= 5x floor p99",
        ));

        for (figure, times) in [
            (
                "its workflow task's wait for a worker (scheduled to started)",
                &dispatch,
            ),
            (
                "its workflow task on the worker (started to completed: the three local activities)",
                &on_worker,
            ),
        ] {
            rows.push(latency_row(
                figure,
                times,
                "DescribeWorkflowExecution + one hosted-link call",
                &floors,
                "cause: part of the first click (from history)",
            ));
        }
        let (s, first) = last.ok_or_else(|| anyhow::anyhow!("no first click"))?;

        // 1b. What the first click's design costs by itself: the same update-with-start
        //     the click sends, joining the run the last click started, which answers from
        //     its state (the link is inside the reuse window: no activity runs). A first
        //     click pays this round trip plus starting the run plus its three local
        //     activities; this row is the part no tuning of those activities can remove.
        let mut updates = Vec::new();
        for _ in 0..args.first_clicks.max(1) {
            let opts = WorkflowUpdateWithStartOptions::new(
                app.task_queue.clone(),
                first["workflow_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                WorkflowIdConflictPolicy::UseExisting,
            )
            .id_reuse_policy(WorkflowIdReusePolicy::AllowDuplicate)
            .build();
            let input = ReconnectInput {
                account_id: s.account,
                workspace_id: s.workspace,
                link_reuse_window_ms: 90_000,
                link_ttl_ms: 600_000,
            };
            let request = LinkRequest {
                actor: "bench".into(),
            };
            let t = Instant::now();
            app.temporal
                .execute_update_with_start_workflow(
                    ReconnectWorkflow::run,
                    input,
                    ReconnectWorkflow::request_link,
                    request,
                    opts,
                )
                .await?;
            updates.push(t.elapsed());
        }
        rows.push(latency_row(
            "its update round trip alone (update-with-start joining the run, answered from its state)",
            &updates,
            "DescribeWorkflowExecution + one hosted-link call",
            &floors,
            "cause: what the first click pays before any activity",
        ));

        // 2. Reconnect click, dedup hit (a link issued < 90 s ago), vs DescribeWorkflowExecution.
        let id = s.account.to_string();
        let handle = app.temporal.get_workflow_handle::<UntypedWorkflow>(
            first["workflow_id"].as_str().unwrap_or_default(),
        );
        let (mut clicks, mut floor) = (Vec::new(), Vec::new());
        for _ in 0..args.samples {
            clicks.push(click(&app, &s.token, &id).await?.0);
            let t = Instant::now();
            handle.describe(WorkflowDescribeOptions::default()).await?;
            floor.push(t.elapsed());
        }
        rows.push(latency_row(
            "reconnect click, dedup hit",
            &clicks,
            "DescribeWorkflowExecution",
            &floor,
            "p99 <= 2x floor p99",
        ));
    }

    if wants("e2e") {
        // 3. Reconnect end to end (click → login → callback → connected), all at once, vs
        //    the server's rate for a trivial one-activity workflow (the sweeper with
        //    nothing to sweep: one activity, one empty DELETE) at the same concurrency;
        //    with one worker, then with a second worker process on the same task queue.
        let n = args.reconnects.max(1);
        let mut extra = None;
        for workers in [1, 2] {
            if workers == 2 {
                extra = Some(app.start_another_worker().await);
            }
            let trivial = trivial_rate(&app, n).await?;
            let e2e = e2e_rate(&app, n).await?;
            rows.push(row(
                &format!("reconnect end to end, completed, {workers} worker(s)"),
                "runs/s",
                (e2e, None),
                "trivial one-activity workflow (the sweeper with nothing to sweep), same workers",
                (trivial, None),
                "≤ 1.5× the trivial workflow",
                json!({"runs": n, "workers": workers}),
            ));
        }
        if let Some(w) = extra {
            w.kill();
        }
    }

    // 4. Reconciler and orphan-watcher passes over N accounts vs paging the same listing;
    //    the worker's peak RSS during the pass and the SQL statements it executed. The
    //    fleet was linked 30 days ago (Unipile's created_at), as a real fleet would be.
    let t = Instant::now();
    app.seed_fleet_created(
        "B",
        args.accounts,
        "OK",
        Some(chrono::Utc::now() - chrono::Duration::days(30)),
    )
    .await;
    eprintln!(
        "seeded {} accounts in {:.1} s",
        args.accounts,
        t.elapsed().as_secs_f64()
    );
    if wants("orphans") {
        // Rows stuck linking that stay stuck round after round: three reconnects whose
        // sessions still need a login, and one first connection no session appeared
        // for; each pass pages the whole listing for them. They are seeded
        // `connecting` (no Reconnect run, so no link expiry check pages the listing
        // alongside the rounds).
        let host = app.seed_account(AccountStatus::Connected, "OK").await;
        let mut stuck = Vec::new();
        for i in 0..4 {
            let session = (i < 3).then(|| format!("S{:0>21}", i));
            if let Some(uid) = &session {
                app.sim_post(
                    "/_sim/accounts",
                    json!({"id": uid, "name": "Stuck", "status": "CREDENTIALS"}),
                )
                .await;
            }
            let id = app
                .store
                .create_account(
                    host.workspace,
                    "Stuck linking",
                    AccountStatus::Connecting,
                    session.as_deref(),
                    None,
                    "bench",
                )
                .await?;
            stuck.push(id.0);
        }
        sqlx::query("UPDATE linkedin_accounts SET connecting_since = now() - interval '10 minutes' WHERE id = ANY($1) AND status = 'connecting'")
            .bind(&stuck)
            .execute(app.store.pool())
            .await?;
        let (pagings, passes, rss, statements, listed, report) =
            rounds(&app, &log, Pass::OrphanWatcher, || {
                listed_items(unipile.account_pages())
            })
            .await?;
        rows.push(row(
            &format!("orphan-watcher pass over {listed} accounts (median of 3)"),
            "ms",
            (pct(&passes, 0.5), None),
            "paging the same listing",
            (pct(&pagings, 0.5), None),
            "<= 1.3x floor; RSS <= 150 MB at any fleet size",
            json!({"worker_peak_rss_mb": rss, "sql_statements": statements, "pages": listed.div_ceil(250), "examined": report["examined"], "unmatched": report["unmatched"].as_array().map(Vec::len)}),
        ));
    }
    if wants("reconciler") {
        let (pagings, passes, rss, statements, listed, report) =
            rounds(&app, &log, Pass::AccountReconciler, || {
                listed_items(unipile.account_status_pages())
            })
            .await?;
        rows.push(row(
            &format!("reconciler pass over {listed} accounts (median of 3)"),
            "ms",
            (pct(&passes, 0.5), None),
            "paging the same listing",
            (pct(&pagings, 0.5), None),
            "<= 1.3x floor; RSS <= 150 MB at any fleet size",
            json!({"worker_peak_rss_mb": rss, "sql_statements": statements, "pages": listed.div_ceil(250), "fleet": report["fleet"], "applied": report["applied"]}),
        ));
    }

    if wants("sweeper") {
        // 5. Sweeper over N paused campaigns vs one set-based statement doing the same
        //    change (with the deferred consistency triggers fired), rolled back.
        let t = Instant::now();
        let per_account = args.campaigns.div_ceil(args.accounts.max(1)) as i32;
        let mut tx = app.store.pool().begin().await?;
        sqlx::query(
        "INSERT INTO campaigns (workspace_id, account_id, name, status) \
         SELECT a.workspace_id, a.id, 'Bench', 'paused' FROM linkedin_accounts a CROSS JOIN generate_series(1, $1) g \
         WHERE a.unipile_account_id LIKE 'B%' LIMIT $2",
    )
    .bind(per_account)
    .bind(args.campaigns as i64)
    .execute(&mut *tx)
    .await?;
        sqlx::query("INSERT INTO campaign_pauses (campaign_id, reason) SELECT id, 'linkedin_account_disconnected' FROM campaigns WHERE name = 'Bench'")
        .execute(&mut *tx)
        .await?;
        // Statistics before the commit: the deferred consistency triggers run at commit, and
        // plans made against an empty-looking table would scan it once per campaign.
        sqlx::query("ANALYZE linkedin_accounts, campaigns, campaign_pauses")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        eprintln!(
            "seeded {} paused campaigns in {:.1} s",
            args.campaigns,
            t.elapsed().as_secs_f64()
        );
        let mut tx = app.store.pool().begin().await?;
        let t = Instant::now();
        let floor_rows = sqlx::query(
        "WITH cleared AS ( \
           DELETE FROM campaign_pauses p USING campaigns c, linkedin_accounts a \
           WHERE p.reason = 'linkedin_account_disconnected' AND c.id = p.campaign_id AND a.id = c.account_id \
             AND a.status = 'connected' AND (a.provider_status IS NULL OR a.provider_status NOT IN ('ERROR', 'STOPPED')) \
           RETURNING p.campaign_id) \
         UPDATE campaigns c SET status = 'active', status_changed_at = now() FROM cleared \
         WHERE c.id = cleared.campaign_id AND c.status = 'paused' \
           AND NOT EXISTS (SELECT 1 FROM campaign_pauses p WHERE p.campaign_id = c.id AND p.reason <> 'linkedin_account_disconnected')",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
        sqlx::query("SET CONSTRAINTS ALL IMMEDIATE")
            .execute(&mut *tx)
            .await?;
        let floor = t.elapsed();
        tx.rollback().await?;
        // The rolled-back change left a dead version of every row behind; vacuum them so
        // that the sweeper starts from the same clean tables the floor had.
        sqlx::query("VACUUM ANALYZE linkedin_accounts, campaigns, campaign_pauses")
            .execute(app.store.pool())
            .await?;
        let from = log_len(&log);
        let t = Instant::now();
        let (_, summary) =
            run_pass(&app.temporal, &app.task_queue, Pass::CampaignSweeper, false).await?;
        let sweep = t.elapsed();
        let statements = statements_since(&log, from);
        rows.push(row(
        &format!("sweeper over {} paused campaigns", args.campaigns), "ms", (ms(sweep), None),
        "one set-based statement (psql equivalent)", (ms(floor), None),
        "<= 2x floor (issue 14)",
        json!({"resumed": summary["campaigns_resumed"], "batches": summary["batches"], "floor_rows": floor_rows, "sql_statements": statements}),
    ));
    }

    if wants("storm") {
        // 6. A webhook storm: every account of a fleet loses its session at once and
        //    Unipile sends each one's CREDENTIALS webhook (one in ten twice), 64 at a
        //    time. Each answer's latency vs the same web tier's authenticated handler
        //    that stops before any work (a body it refuses: the secret is checked, the
        //    body read and parsed, nothing handed to Temporal); then the time until every
        //    row matches Unipile, and one email and one event per account.
        app.unregister_webhooks().await;
        let n = args.storm.max(1);
        let (_, _, fleet) = app.seed_fleet("W", n, "CREDENTIALS").await;
        let refused = app
            .post_status_webhooks((0..n).map(|_| b"{}".to_vec()).collect(), 64)
            .await;
        anyhow::ensure!(
            refused.iter().all(|(c, _)| *c == 400),
            "the floor's bodies were not refused"
        );
        let floor: Vec<Duration> = refused.into_iter().map(|(_, d)| d).collect();
        let bodies: Vec<Vec<u8>> = fleet
            .iter()
            .chain(fleet.iter().step_by(10))
            .map(|(_, uid)| relink_tests::account_status_body(uid, "CREDENTIALS"))
            .collect();
        let sent = bodies.len();
        let t = Instant::now();
        let answers = app.post_status_webhooks(bodies, 64).await;
        let sending = t.elapsed();
        let ok = answers.iter().filter(|(c, _)| *c == 200).count();
        let lat: Vec<Duration> = answers.into_iter().map(|(_, d)| d).collect();
        let ids: Vec<uuid::Uuid> = fleet.iter().map(|(id, _)| id.0).collect();
        let deadline = Instant::now() + Duration::from_secs(3600);
        loop {
            let left: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM linkedin_accounts WHERE id = ANY($1) AND status <> 'reconnect_needed'",
            )
            .bind(&ids)
            .fetch_one(app.store.pool())
            .await?;
            if left == 0 {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the storm did not converge in an hour"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let converged = t.elapsed();
        let once = |sql: &'static str| {
            let ids = ids.clone();
            let pool = app.store.pool().clone();
            async move {
                let n: i64 = sqlx::query_scalar(sql).bind(&ids).fetch_one(&pool).await?;
                anyhow::Ok(n)
            }
        };
        let not_once_emails = once("SELECT count(*) FROM (SELECT account_id FROM email_outbox WHERE account_id = ANY($1) GROUP BY account_id HAVING count(*) <> 1) x").await?;
        let emails =
            once("SELECT count(DISTINCT account_id) FROM email_outbox WHERE account_id = ANY($1)")
                .await?;
        let not_once_events = once("SELECT count(*) FROM (SELECT account_id FROM outbound_events WHERE account_id = ANY($1) AND type = 'account.disconnected' GROUP BY account_id HAVING count(*) <> 1) x").await?;
        let events = once("SELECT count(DISTINCT account_id) FROM outbound_events WHERE account_id = ANY($1) AND type = 'account.disconnected'").await?;
        let rate_limited = app
            .sim_requests()
            .await
            .iter()
            .filter(|r| r["status"] == 429)
            .count();
        rows.push(row(
            &format!("webhook storm, {n} accounts, {sent} webhooks: answer"),
            "ms",
            (pct(&lat, 0.5), Some(pct(&lat, 0.99))),
            "the same handler stopping after the secret and the body (400)",
            (pct(&floor, 0.5), Some(pct(&floor, 0.99))),
            "p99 <= 3x floor p99",
            json!({
                "answered_200": ok, "sent_in_s": sending.as_secs_f64(),
                "converged_in_s": converged.as_secs_f64(),
                "accounts_with_one_email": emails - not_once_emails,
                "accounts_with_one_event": events - not_once_events,
                "unipile_429s": rate_limited,
            }),
        ));
    }

    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "{build} build, {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        chrono::Utc::now().format("%Y-%m-%d")
    );
    println!();
    println!("| figure | p50 | p99 | floor | floor p50 | floor p99 | ratio | goal | notes |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let f = |k: &str| {
            r[k].as_f64()
                .map(|v| format!("{v:.1}"))
                .unwrap_or_else(|| "-".into())
        };
        let unit = r["unit"].as_str().unwrap_or("");
        println!(
            "| {} ({unit}) | {} | {} | {} | {} | {} | {:.2}x | {} | {} |",
            r["figure"].as_str().unwrap_or("?"),
            f("p50"),
            f("p99"),
            r["floor"].as_str().unwrap_or("?"),
            f("floor_p50"),
            f("floor_p99"),
            r["ratio"].as_f64().unwrap_or(0.0),
            r["goal"].as_str().unwrap_or(""),
            r["notes"]
                .as_object()
                .map(|o| o
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default(),
        );
    }
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&rows)?)?;
    eprintln!("figures written to {}", args.json.display());
    Ok(())
}
