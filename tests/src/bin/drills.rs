//! `./dev drills`: every fault drill, against a Temporal dev server of its own (so it
//! can SIGKILL and restart it), the local PostgreSQL, unipile-sim and the `worker`
//! binary in a child process (so that a kill is a real SIGKILL). Prints the table
//! (drill, expected, observed, pass) and writes it to `--out` (markdown) and beside it
//! as JSON. Exits 1 when a drill fails.

use clap::Parser;
use relink_tests::{
    AppOptions, WorkerProcess,
    drills::{self, DrillRow, OwnTemporal, UnipileFault},
    spawn_app,
};
use std::{path::PathBuf, time::Duration};

#[derive(Parser)]
struct Args {
    /// Run only the drills whose group is named here: kills (or one workflow's kills:
    /// kills:reconnect, kills:reconnect-expiry, kills:orphan, kills:sweeper,
    /// kills:delete, kills:delete-blocked), clicks, webhooks, faults, temporal, postgres,
    /// interleavings (comma-separated; default all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The `worker` executable (default: `worker` beside this binary; `cargo build --bins`).
    #[arg(long)]
    worker: Option<PathBuf>,
    /// Shell command that restarts PostgreSQL (`./dev drills` sets it when it manages
    /// PostgreSQL itself); without it the PostgreSQL drill is reported as skipped.
    #[arg(long, env = "RELINK_DRILL_PG_RESTART")]
    pg_restart: Option<String>,
    /// Port of the drills' own Temporal dev server (its UI on port + 1000).
    #[arg(long, default_value_t = 7299)]
    temporal_port: u16,
    /// How many seeds the interleaving checker runs (`--only interleavings`).
    #[arg(long, default_value_t = 200)]
    seeds: u64,
    /// The first seed of `--seeds` (seeds `first_seed ..= first_seed + seeds - 1`).
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Run the interleaving checker on this one seed only (the replay of a failure).
    #[arg(long)]
    seed: Option<u64>,
    /// Where the markdown table is written (the JSON goes beside it).
    #[arg(long, default_value = ".dev/drills.md")]
    out: PathBuf,
}

fn report(rows: &mut Vec<DrillRow>, row: DrillRow) {
    eprintln!(
        "{} {} — {}",
        if row.pass { "pass" } else { "FAIL" },
        row.drill,
        row.observed
    );
    rows.push(row);
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let wants = |g: &str| args.only.is_empty() || args.only.iter().any(|o| o == g);
    let state = PathBuf::from(".dev");
    std::fs::create_dir_all(state.join("logs"))?;
    let worker = relink_tests::worker_exe(args.worker.clone())?;
    let mut server = OwnTemporal::start(
        args.temporal_port,
        state.join("drills-temporal.db"),
        state.join("logs/drills-temporal.log"),
    )
    .await?;
    eprintln!(
        "drills: own Temporal dev server at {} (UI http://127.0.0.1:{})",
        server.address,
        args.temporal_port + 1000
    );
    let opts = AppOptions {
        temporal_address: Some(server.address.clone()),
        worker_process: Some(WorkerProcess {
            exe: worker,
            rust_log: "warn,relink=info".into(),
            log: state.join("logs/drills-worker.log"),
        }),
        delete_env: vec![("RELINK_UNIPILE_DELETES", "enabled")],
        ..AppOptions::default()
    };
    let mut rows = Vec::new();

    let kill_groups: Vec<_> = drills::kill_boundaries()
        .into_iter()
        .filter(|(workflow, _)| wants("kills") || wants(&format!("kills:{workflow}")))
        .collect();
    if !kill_groups.is_empty() {
        for (workflow, at) in kill_groups {
            // A fresh app per drill: its own database (the 24 h delete cap counts per
            // database), simulator and task queue.
            let drill_opts = if workflow == "reconnect-expiry" {
                AppOptions {
                    link_reuse_window: Duration::from_secs(2),
                    link_ttl: Duration::from_secs(8),
                    ..opts.clone()
                }
            } else {
                opts.clone()
            };
            let mut app = spawn_app(drill_opts).await;
            app.store
                .enable_delete_flag(chrono::Duration::hours(1), "drills", "kill drills")
                .await?;
            let row = drills::kill_drill(&mut app, workflow, at).await;
            report(&mut rows, row);
        }
    }
    if wants("clicks") {
        let app = spawn_app(opts.clone()).await;
        report(&mut rows, drills::parallel_clicks(&app, 100).await);
    }
    if wants("webhooks") {
        let app = spawn_app(opts.clone()).await;
        report(&mut rows, drills::webhook_storm(&app, 1000, 200).await);
    }
    if wants("faults") {
        for fault in [
            UnipileFault::Listing500,
            UnipileFault::Listing429,
            UnipileFault::ListingTimeout,
            UnipileFault::SecondPageFails,
            UnipileFault::SecondPageFailsOnce,
            UnipileFault::EmptyList,
            UnipileFault::EveryAccount404,
        ] {
            report(
                &mut rows,
                drills::reconciler_under_fault(opts.clone(), fault).await,
            );
        }
    }
    if wants("temporal") {
        let timer_opts = AppOptions {
            link_reuse_window: Duration::from_secs(5),
            link_ttl: Duration::from_secs(20),
            ..opts.clone()
        };
        let mut app = spawn_app(timer_opts).await;
        report(
            &mut rows,
            drills::temporal_restart_mid_timer(&mut app, &mut server).await,
        );
    }
    if wants("postgres") {
        match &args.pg_restart {
            Some(cmd) => {
                let mut app = spawn_app(opts.clone()).await;
                report(
                    &mut rows,
                    drills::postgres_restart_mid_pass(&mut app, cmd).await,
                );
            }
            None => eprintln!(
                "skipped: PostgreSQL restart (no RELINK_DRILL_PG_RESTART: PostgreSQL is not managed by ./dev)"
            ),
        }
    }
    if wants("interleavings") {
        let seeds: Vec<u64> = match args.seed {
            Some(s) => vec![s],
            None => (args.first_seed..args.first_seed.saturating_add(args.seeds)).collect(),
        };
        let started = std::time::Instant::now();
        let mut failing = Vec::new();
        let mut actions = 0;
        for &seed in &seeds {
            // The worker in-process: a seed is about its interleaving, not about kills.
            let seed_opts = AppOptions {
                worker_process: None,
                delete_env: vec![],
                ..opts.clone()
            };
            let r = relink_tests::interleavings::run_seed(seed_opts, seed).await;
            actions += r.actions;
            if r.violations.is_empty() {
                eprintln!("interleavings: seed {seed} passed ({} actions)", r.actions);
            } else {
                eprintln!(
                    "interleavings: seed {seed} FAILED — {}\n  replay: {}",
                    r.violations.join("; "),
                    relink_tests::interleavings::replay_command(seed)
                );
                failing.push(r);
            }
        }
        let observed = match failing.first() {
            None => format!(
                "{} seeds, {actions} concurrent actions, 0 violations ({:.0} s)",
                seeds.len(),
                started.elapsed().as_secs_f64()
            ),
            Some(f) => format!(
                "{} of {} seeds broke a promise; seed {}: {}; replay: {}",
                failing.len(),
                seeds.len(),
                f.seed,
                f.violations.join("; "),
                relink_tests::interleavings::replay_command(f.seed)
            ),
        };
        report(
            &mut rows,
            DrillRow::new(
                format!(
                    "interleaving checker: {} seed(s) of {} rounds of 2-4 concurrent actors",
                    seeds.len(),
                    relink_tests::interleavings::ROUNDS
                ),
                "rows agree with Unipile; no cross-row session; no Safe delete of a listed account; one email per episode, none pending after recovery; audit matches; disconnect pause exactly while not connected; no deadlock or 5xx",
                observed,
                drills::Checks::default()
                    .check("no seed violated an invariant", failing.is_empty()),
            ),
        );
    }

    let table = drills::table(&rows);
    println!("{table}");
    let passed = rows.iter().filter(|r| r.pass).count();
    println!("drills: {passed} passed, {} failed", rows.len() - passed);
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &table)?;
    std::fs::write(
        args.out.with_extension("json"),
        serde_json::to_string_pretty(&rows)?,
    )?;
    eprintln!("table written to {}", args.out.display());
    drop(server);
    if passed < rows.len() {
        std::process::exit(1);
    }
    Ok(())
}
