//! `./dev bench`: figures next to the floor they are measured against, in the same run
//! on the same servers (these machines are noisy; absolute times alone mean little).
//! Prints a markdown table and writes the same figures as JSON (`--json PATH`).
//!
//! Measured now: the Reconnect click on a dedup hit against a bare
//! DescribeWorkflowExecution, and a reconciler pass over N accounts against merely
//! paging the same listing. Debug build; the numbers are for comparison in one run.

use clap::Parser;
use relink_domain::AccountStatus;
use relink_starter::ops::{Pass, run_pass};
use relink_tests::{AppOptions, spawn_app};
use serde_json::json;
use std::time::{Duration, Instant};
use temporalio_client::WorkflowDescribeOptions;

#[derive(Parser)]
struct Args {
    /// Accounts listed by the reconciler pass.
    #[arg(long, default_value_t = 10_000)]
    accounts: usize,
    /// Requests per latency sample.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Where to write the JSON figures.
    #[arg(long, default_value = ".dev/bench.json")]
    json: String,
}

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let app = spawn_app(AppOptions::default()).await;
    app.unregister_webhooks().await;
    let mut rows = Vec::new();

    // 1. Reconnect click, dedup hit, vs DescribeWorkflowExecution.
    let s = app.seed_account(AccountStatus::ReconnectNeeded, "CREDENTIALS").await;
    let id = s.account.to_string();
    let (code, first) = app.click_reconnect(&s.token, &id).await;
    anyhow::ensure!(code == 200, "first click failed: {first}");
    let handle = app.temporal.get_workflow_handle::<relink_workflows::ReconnectWorkflow>(first["workflow_id"].as_str().unwrap_or_default());
    let (mut clicks, mut floor) = (Vec::new(), Vec::new());
    for _ in 0..args.samples {
        let t = Instant::now();
        let (c, _) = app.click_reconnect(&s.token, &id).await;
        anyhow::ensure!(c == 200, "dedup click failed");
        clicks.push(t.elapsed());
        let t = Instant::now();
        handle.describe(WorkflowDescribeOptions::default()).await?;
        floor.push(t.elapsed());
    }
    rows.push(json!({
        "figure": "reconnect click, dedup hit (ms)", "p50": pct(clicks.clone(), 0.5), "p99": pct(clicks, 0.99),
        "floor": "DescribeWorkflowExecution", "floor_p50": pct(floor.clone(), 0.5), "floor_p99": pct(floor, 0.99),
        "goal": "p99 <= 2x floor p99",
    }));

    // 2. Reconciler pass over N accounts vs paging the same listing.
    let t = Instant::now();
    let (ws, _) = app.store.create_workspace("bench").await?;
    let mut tx = app.store.pool().begin().await?;
    let ids: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "INSERT INTO linkedin_accounts (workspace_id, display_name, status, unipile_account_id, provider_status, first_connected_at) \
         SELECT $1, 'Bench ' || g, 'connected', 'B' || lpad(g::text, 21, '0'), 'OK', now() FROM generate_series(1, $2) g \
         RETURNING id, unipile_account_id",
    )
    .bind(ws.0)
    .bind(args.accounts as i32)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO linkedin_account_audit_log (account_id, action, to_status, actor) \
         SELECT id, 'account.created', 'connected', 'bench' FROM linkedin_accounts WHERE workspace_id = $1",
    )
    .bind(ws.0)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    for (_, uid) in &ids {
        app.sim_post("/_sim/accounts", json!({"id": uid, "name": "Bench", "status": "OK"})).await;
    }
    eprintln!("seeded {} accounts in {:.1} s", ids.len(), t.elapsed().as_secs_f64());
    let unipile = relink_worker::UnipileSettings {
        unipile_dsn: app.sim_url.parse()?,
        unipile_api_key: relink_tests::SIM_KEY.into(),
        unipile_timeout_secs: 30,
    }
    .client()?;
    let t = Instant::now();
    let listed = unipile.list_all_accounts().await?.len();
    let paging = t.elapsed();
    let t = Instant::now();
    let (_, report) = run_pass(&app.temporal, &app.task_queue, Pass::AccountReconciler, false).await?;
    let pass = t.elapsed();
    rows.push(json!({
        "figure": format!("reconciler pass over {listed} accounts (ms)"), "p50": pass.as_secs_f64() * 1000.0, "p99": null,
        "floor": "paging the listing", "floor_p50": paging.as_secs_f64() * 1000.0, "floor_p99": null,
        "goal": "<= 1.5x floor", "fleet": report["fleet"], "applied": report["applied"],
    }));

    println!("| figure | p50 | p99 | floor | floor p50 | floor p99 | ratio (p99 or p50) | goal |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let f = |k: &str| r[k].as_f64().map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
        let ratio = match (r["p99"].as_f64(), r["floor_p99"].as_f64()) {
            (Some(a), Some(b)) if b > 0.0 => a / b,
            _ => r["p50"].as_f64().unwrap_or(0.0) / r["floor_p50"].as_f64().unwrap_or(1.0).max(1e-9),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {ratio:.2}x | {} |",
            r["figure"].as_str().unwrap_or("?"), f("p50"), f("p99"), r["floor"].as_str().unwrap_or("?"),
            f("floor_p50"), f("floor_p99"), r["goal"].as_str().unwrap_or("")
        );
    }
    if let Some(dir) = std::path::Path::new(&args.json).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&rows)?)?;
    eprintln!("figures written to {}", args.json);
    Ok(())
}
