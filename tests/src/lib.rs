//! The integration-test harness: `spawn_app()` attaches to the shared Temporal dev
//! server (`TEMPORAL_ADDRESS`) and PostgreSQL (`RELINK_TEST_DATABASE_URL`) that
//! `./dev test` provides, creates a fresh migrated database and a unique task queue,
//! and runs unipile-sim, the web tier (both on port 0) and a worker in-process.
//! Tests speak HTTP and assert database rows and the simulator's request log.
#![allow(clippy::unwrap_used)] // a test's panic is its failure message

pub mod browser;
pub mod drills;
pub mod interleavings;
pub mod mail;

use anyhow::Context;
use relink_domain::{AccountId, AccountStatus, PauseReason, WorkspaceId};
use relink_store::Store;
use serde_json::{Value, json};
use std::{
    future::Future,
    path::PathBuf,
    time::{Duration, Instant},
};
use temporalio_client::Client;
use tokio::sync::oneshot;
use url::Url;

/// The simulator's API key in tests.
pub const SIM_KEY: &str = "test-unipile-key";
/// The account-status webhook secret in tests.
pub const WEBHOOK_SECRET: &str = "test-webhook-secret-0123456789";
/// The key signing account links in tests.
pub const ACCOUNT_LINK_KEY: &str = "test-account-link-key-0123456789abcdef";
/// The key signing dashboard session cookies in tests.
pub const SESSION_KEY: &str = "test-session-key-0123456789abcdef0123456789";
/// The sender address of reconnect emails in tests.
pub const MAIL_FROM: &str = "relink <relink@relink.test>";

/// Timings of one app under test.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Hosted-auth link reuse window.
    pub link_reuse_window: Duration,
    /// Hosted-auth link lifetime.
    pub link_ttl: Duration,
    /// Sync-blip tolerance before campaigns pause.
    pub blip_tolerance: Duration,
    /// The worker's delete kill switches (`RELINK_UNIPILE_DELETES`, …), instead of the
    /// process environment.
    pub delete_env: Vec<(&'static str, &'static str)>,
    /// The Temporal frontend (`host:port`); default `TEMPORAL_ADDRESS` or 127.0.0.1:7233.
    pub temporal_address: Option<String>,
    /// The Temporal namespace of the web tier and the worker (`TEMPORAL_NAMESPACE`);
    /// default `default`.
    pub temporal_namespace: Option<String>,
    /// The worker's Unipile client timeout, seconds (`UNIPILE_TIMEOUT_SECS`; default 5).
    pub unipile_timeout_secs: u64,
    /// The worker's `UNIPILE_MAX_GETS_PER_SEC` (tests: 1,000, so that only a test about
    /// pacing is paced).
    pub unipile_gets_per_sec: u32,
    /// The worker's SMTP server (`SMTP_URL`); default `RELINK_TEST_SMTP_URL`, the server
    /// `./dev test` runs (none: emails stay queued).
    pub smtp_url: Option<String>,
    /// The worker's operator channel for admin alerts (`ALERT_WEBHOOK_URL`; default none).
    pub alert_webhook_url: Option<String>,
    /// Run the worker as this executable (the `worker` binary) in a child process, so
    /// that a kill is a real SIGKILL; `None` runs it in-process on its own thread.
    pub worker_process: Option<WorkerProcess>,
}

/// The `worker` binary run as a child process by the harness.
#[derive(Debug, Clone)]
pub struct WorkerProcess {
    /// Path of the `worker` executable.
    pub exe: PathBuf,
    /// Its `RUST_LOG`.
    pub rust_log: String,
    /// File its stdout and stderr are appended to.
    pub log: PathBuf,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            link_reuse_window: Duration::from_secs(90),
            link_ttl: Duration::from_secs(600),
            blip_tolerance: Duration::from_secs(7200),
            delete_env: vec![],
            worker_process: None,
            temporal_address: None,
            temporal_namespace: None,
            unipile_timeout_secs: 5,
            unipile_gets_per_sec: 1000,
            smtp_url: std::env::var("RELINK_TEST_SMTP_URL")
                .ok()
                .filter(|v| !v.is_empty()),
            alert_webhook_url: None,
        }
    }
}

/// A running relink under test.
pub struct TestApp {
    /// The test's own database.
    pub store: Store,
    /// URL of the test's own database, as its owner (what the test itself reads and
    /// seeds with; the web tier and worker serve as [`app_database_url`] of it).
    pub database_url: String,
    /// Web tier base URL.
    pub web_url: String,
    /// unipile-sim base URL.
    pub sim_url: String,
    /// HTTP client for both.
    pub http: reqwest::Client,
    /// Temporal client.
    pub temporal: Client,
    /// This test's task queue.
    pub task_queue: String,
    worker: Option<WorkerHandle>,
    worker_config: WorkerConfig,
    web_settings: relink_web::WebSettings,
}

#[derive(Clone)]
struct WorkerConfig {
    process: Option<WorkerProcess>,
    delete_env: Vec<(&'static str, &'static str)>,
    unipile_timeout_secs: u64,
    unipile_gets_per_sec: u32,
    smtp_url: Option<String>,
    alert_webhook_url: Option<String>,
    temporal_address: String,
    namespace: String,
    task_queue: String,
    database_url: String,
    sim_url: String,
    public_base_url: String,
}

impl WorkerConfig {
    /// The settings the `worker` binary would read from its environment.
    fn settings(&self) -> anyhow::Result<relink_worker::WorkerSettings> {
        Ok(relink_worker::WorkerSettings {
            temporal: relink_runtime::TemporalSettings {
                temporal_address: self.temporal_address.clone(),
                temporal_namespace: self.namespace.clone(),
                task_queue: self.task_queue.clone(),
            },
            unipile: relink_runtime::UnipileSettings {
                unipile_dsn: self.sim_url.parse()?,
                unipile_api_key: SIM_KEY.into(),
                unipile_timeout_secs: self.unipile_timeout_secs,
                unipile_max_gets_per_sec: self.unipile_gets_per_sec,
            },
            database: relink_runtime::DatabaseSettings::with_owner(
                app_database_url(&self.database_url),
                self.database_url.clone(),
            ),
            public_base_url: self.public_base_url.parse()?,
            webhook: relink_runtime::WebhookSecretSettings::new(WEBHOOK_SECRET),
            smtp: relink_runtime::SmtpSettings {
                smtp_url: self.smtp_url.clone().map(Into::into),
                mail_from: MAIL_FROM.into(),
            },
            account_links: relink_runtime::AccountLinkSettings::new(Some(ACCOUNT_LINK_KEY)),
            alerts: relink_runtime::AlertSettings {
                alert_webhook_url: self.alert_webhook_url.clone().map(Into::into),
            },
            // In-process workers serve their metrics and readiness on a free port.
            metrics_addr: Some(([127, 0, 0, 1], 0).into()),
            shutdown_grace_secs: 25,
        })
    }
}

/// A worker under test: in-process on its own thread and Tokio runtime, so that it can
/// be killed the way a crash kills it (its futures are dropped mid-flight, nothing is
/// drained), or the `worker` binary in a child process, killed with SIGKILL.
pub enum WorkerHandle {
    /// On a thread of this process.
    Thread {
        /// Stops the worker's runtime.
        kill: Option<oneshot::Sender<()>>,
        /// The worker's thread.
        thread: Option<std::thread::JoinHandle<()>>,
        /// Where it serves `/metrics`, `/readyz` and `/healthz`.
        metrics_addr: Option<std::net::SocketAddr>,
    },
    /// A child process.
    Process(std::process::Child),
}

impl WorkerHandle {
    async fn start(cfg: WorkerConfig) -> Self {
        match cfg.process.clone() {
            Some(p) => Self::start_process(&cfg, &p),
            None => Self::start_thread(cfg).await,
        }
    }

    fn start_process(cfg: &WorkerConfig, p: &WorkerProcess) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p.log)
            .unwrap_or_else(|e| panic!("open {}: {e}", p.log.display()));
        let err = log.try_clone().expect("log file handle");
        let mut cmd = std::process::Command::new(&p.exe);
        cmd.env("TEMPORAL_ADDRESS", &cfg.temporal_address)
            .env("TEMPORAL_NAMESPACE", &cfg.namespace)
            .env("TEMPORAL_TASK_QUEUE", &cfg.task_queue)
            .env("DATABASE_URL", app_database_url(&cfg.database_url))
            .env("MIGRATION_DATABASE_URL", &cfg.database_url)
            .env("UNIPILE_DSN", &cfg.sim_url)
            .env("UNIPILE_API_KEY", SIM_KEY)
            .env("UNIPILE_TIMEOUT_SECS", cfg.unipile_timeout_secs.to_string())
            .env(
                "UNIPILE_MAX_GETS_PER_SEC",
                cfg.unipile_gets_per_sec.to_string(),
            )
            .env("PUBLIC_BASE_URL", &cfg.public_base_url)
            .env("WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("ACCOUNT_LINK_KEY", ACCOUNT_LINK_KEY)
            .env("MAIL_FROM", MAIL_FROM)
            .env_remove("SMTP_URL")
            .env("RUST_LOG", &p.rust_log)
            .env_remove("RELINK_UNIPILE_DELETES")
            .env_remove("RELINK_RECONCILER_DELETES")
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(err);
        for (k, v) in with_test_delete_floors(&cfg.delete_env) {
            cmd.env(k, v);
        }
        if let Some(url) = &cfg.smtp_url {
            cmd.env("SMTP_URL", url);
        }
        cmd.env_remove("ALERT_WEBHOOK_URL");
        if let Some(url) = &cfg.alert_webhook_url {
            cmd.env("ALERT_WEBHOOK_URL", url);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", p.exe.display()));
        WorkerHandle::Process(child)
    }

    /// Where an in-process worker serves `/metrics`, `/readyz` and `/healthz`.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            WorkerHandle::Thread { metrics_addr, .. } => *metrics_addr,
            WorkerHandle::Process(_) => None,
        }
    }

    /// The worker's process id, when it runs as a child process.
    pub fn pid(&self) -> Option<u32> {
        match self {
            WorkerHandle::Process(c) => Some(c.id()),
            WorkerHandle::Thread { .. } => None,
        }
    }

    /// Whether the worker is still running (it may stop on its own after a fatal error,
    /// e.g. when the Temporal server was away for too long).
    pub fn alive(&mut self) -> bool {
        match self {
            WorkerHandle::Process(c) => matches!(c.try_wait(), Ok(None)),
            WorkerHandle::Thread { thread, .. } => {
                thread.as_ref().is_some_and(|t| !t.is_finished())
            }
        }
    }

    /// Starts the worker on its own thread and waits (without blocking this runtime,
    /// which serves the simulator the worker registers its webhook with) until it polls.
    async fn start_thread(cfg: WorkerConfig) -> Self {
        let (kill, killed) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) =
            oneshot::channel::<Result<Option<std::net::SocketAddr>, String>>();
        let thread = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            rt.block_on(async move {
                let env = with_test_delete_floors(&cfg.delete_env);
                let reader: relink_activities::EnvReader = std::sync::Arc::new(move |k: &str| {
                    env.iter()
                        .find(|(name, _)| *name == k)
                        .map(|(_, v)| v.to_string())
                });
                let worker = match cfg.settings() {
                    Ok(settings) => relink_worker::build(&settings, reader).await,
                    Err(e) => Err(e),
                };
                let worker = match worker {
                    Ok(w) => {
                        let _ = ready_tx.send(Ok(w.metrics_addr()));
                        w
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("{e:#}")));
                        return;
                    }
                };
                // Dropping the worker's future mid-flight is the crash being modelled:
                // nothing is drained.
                tokio::select! {
                    r = worker.run() => { if let Err(e) = r { eprintln!("worker stopped: {e}"); } }
                    _ = killed => {}
                }
            });
            rt.shutdown_background();
        });
        let metrics_addr = match tokio::time::timeout(Duration::from_secs(60), ready_rx).await {
            Ok(Ok(Ok(addr))) => addr,
            Ok(Ok(Err(e))) => panic!("worker failed to start: {e}"),
            Ok(Err(_)) => panic!("worker thread ended before it started"),
            Err(_) => panic!("worker did not start within 60 s"),
        };
        WorkerHandle::Thread {
            kill: Some(kill),
            thread: Some(thread),
            metrics_addr,
        }
    }

    /// Kills the worker abruptly (SIGKILL for a child process; no graceful shutdown) and
    /// waits until it is gone.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        match self {
            WorkerHandle::Thread { kill, thread, .. } => {
                if let Some(k) = kill.take() {
                    let _ = k.send(());
                }
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
            WorkerHandle::Process(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// Directory of the shared fixtures: `RELINK_SHARED_DIR`, or `../shared` beside the clone.
pub fn shared_dir() -> PathBuf {
    match std::env::var("RELINK_SHARED_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    }
}

/// Reads a Unipile fixture as JSON.
pub fn fixture(name: &str) -> Value {
    let p = shared_dir().join("fixtures/unipile").join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// Starts a fresh relink: new database, simulator, web tier and worker.
pub async fn spawn_app(opts: AppOptions) -> TestApp {
    relink_runtime::init_test_tracing();
    let database_url = fresh_database().await.expect("create test database");

    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sim");
    let sim_url = format!("http://{}", sim_listener.local_addr().expect("addr"));
    let sim_config = unipile_sim::SimConfig {
        api_key: SIM_KEY.into(),
        public_base_url: sim_url.clone(),
        retry_base_delay: Duration::from_millis(200),
    };
    tokio::spawn(async move {
        let _ = unipile_sim::serve(sim_listener, sim_config).await;
    });

    let temporal_address = opts
        .temporal_address
        .clone()
        .unwrap_or_else(|| env_or("TEMPORAL_ADDRESS", "127.0.0.1:7233"));
    let namespace = opts
        .temporal_namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let temporal = relink_runtime::connect_temporal(&temporal_address, &namespace)
        .await
        .expect("a Temporal server at TEMPORAL_ADDRESS (./dev test starts one)");
    let task_queue = format!("relink-test-{}", uuid::Uuid::new_v4().simple());

    // The web tier as the `web` binary builds it (it applies the migrations).
    let web_settings = relink_web::WebSettings {
        temporal: relink_runtime::TemporalSettings {
            temporal_address: temporal_address.clone(),
            temporal_namespace: namespace.clone(),
            task_queue: task_queue.clone(),
        },
        database: relink_runtime::DatabaseSettings::with_owner(
            app_database_url(&database_url),
            database_url.clone(),
        ),
        web_addr: ([127, 0, 0, 1], 0).into(),
        link_reuse_window_secs: opts.link_reuse_window.as_secs(),
        link_ttl_secs: opts.link_ttl.as_secs(),
        webhook: relink_runtime::WebhookSecretSettings::new(WEBHOOK_SECRET),
        blip_tolerance_secs: opts.blip_tolerance.as_secs(),
        account_links: relink_runtime::AccountLinkSettings::new(Some(ACCOUNT_LINK_KEY)),
        session_key: Some(SESSION_KEY.into()),
        secure_cookies: false,
    };
    let web = relink_web::build(&web_settings)
        .await
        .expect("web tier starts");
    let web_url = format!("http://{}", web.local_addr());
    tokio::spawn(web.run_until(std::future::pending()));
    let store = Store::connect(&database_url, 10)
        .await
        .expect("connect test database");

    let worker_config = WorkerConfig {
        process: opts.worker_process.clone(),
        delete_env: opts.delete_env.clone(),
        unipile_timeout_secs: opts.unipile_timeout_secs,
        unipile_gets_per_sec: opts.unipile_gets_per_sec,
        smtp_url: opts.smtp_url.clone(),
        alert_webhook_url: opts.alert_webhook_url.clone(),
        temporal_address,
        namespace,
        task_queue: task_queue.clone(),
        database_url: database_url.clone(),
        sim_url: sim_url.clone(),
        public_base_url: web_url.clone(),
    };
    let worker = Some(WorkerHandle::start(worker_config.clone()).await);
    TestApp {
        store,
        database_url,
        web_url,
        sim_url,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http"),
        temporal,
        task_queue,
        worker,
        worker_config,
        web_settings,
    }
}

/// The password the application role `relink_app` logs in with under test (the web tier
/// and worker under test give it its login, as the binaries do).
pub const TEST_APP_ROLE_PASSWORD: &str = "relink-app-test";

/// `owner_url` (a test database's URL, as the schema owner) as the application role
/// [`relink_store::APP_ROLE`]: what the web tier and worker under test serve with.
pub fn app_database_url(owner_url: &str) -> String {
    let mut url: Url = owner_url.parse().expect("a database URL");
    url.set_username(relink_store::APP_ROLE)
        .and_then(|()| url.set_password(Some(TEST_APP_ROLE_PASSWORD)))
        .expect("a URL with credentials");
    url.to_string()
}

/// A store on a fresh, migrated database of its own, with no web tier or worker
/// beside it: for tests that drive the store's steps in an order of their choosing.
/// Panics when `RELINK_TEST_DATABASE_URL` (or `DATABASE_URL`) is unset or unreachable.
pub async fn fresh_store() -> Store {
    let url = fresh_database().await.expect("create test database");
    relink_runtime::DatabaseSettings::with_owner(url.clone(), url)
        .connect_migrated(4)
        .await
        .expect("migrate the test database")
}

/// Creates a database of its own on the server at `RELINK_TEST_DATABASE_URL` (or
/// `DATABASE_URL`); returns its URL (as the server's owner). Panics when neither is set.
async fn fresh_database() -> anyhow::Result<String> {
    use sqlx::Connection;
    let admin_url = std::env::var("RELINK_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .expect("RELINK_TEST_DATABASE_URL or DATABASE_URL must point at a PostgreSQL server (./dev test sets it)");
    let admin_url = admin_url.as_str();
    let name = format!("relink_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .context("connect admin")?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let mut url: Url = admin_url.parse()?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// Two cards of one LinkedIn identity ([`TestApp::seed_twin_cards`]).
pub struct TwinCards {
    /// Their workspace.
    pub workspace: WorkspaceId,
    /// Its bearer token.
    pub token: String,
    /// The older card, `reconnect_needed`.
    pub old: AccountId,
    /// The live card, `connected`.
    pub live: AccountId,
    /// The older card's campaign, paused for the disconnect.
    pub campaign: uuid::Uuid,
}

/// A seeded workspace for one test.
pub struct Seeded {
    /// Workspace.
    pub workspace: WorkspaceId,
    /// Its bearer token.
    pub token: String,
    /// The account.
    pub account: AccountId,
    /// Its Unipile id (also seeded in the simulator), if linked.
    pub unipile_id: Option<String>,
    /// A campaign paused only for the disconnect.
    pub paused_for_disconnect: uuid::Uuid,
    /// A campaign paused for the disconnect and `manual`.
    pub paused_also_manual: uuid::Uuid,
}

impl TestApp {
    /// Kills the worker abruptly.
    pub fn kill_worker(&mut self) {
        if let Some(w) = self.worker.take() {
            w.kill();
        }
    }

    /// Waits (at most `timeout`) until a worker run as a child process has exited on its
    /// own, and returns its exit status; `None` when it is still running (or runs on a
    /// thread).
    pub async fn wait_worker_exit(
        &mut self,
        timeout: Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = match self.worker.as_mut() {
                Some(WorkerHandle::Process(child)) => child.try_wait().ok().flatten(),
                _ => return None,
            };
            if let Some(status) = status {
                self.worker = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// POSTs each of `bodies` to the account-status webhook with the right secret, as
    /// Unipile does, `concurrency` at a time. Returns each answer's status (0: no
    /// answer) and latency, in the order they finished.
    pub async fn post_status_webhooks(
        &self,
        bodies: Vec<Vec<u8>>,
        concurrency: usize,
    ) -> Vec<(u16, Duration)> {
        use futures::StreamExt;
        let url = format!("{}/webhooks/unipile/account-status", self.web_url);
        futures::stream::iter(bodies)
            .map(|b| {
                let req = self
                    .http
                    .post(&url)
                    .header("Unipile-Auth", WEBHOOK_SECRET)
                    .body(b);
                async move {
                    let t = Instant::now();
                    let code = req.send().await.map(|r| r.status().as_u16()).unwrap_or(0);
                    (code, t.elapsed())
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await
    }

    /// Starts another web tier on the same database, Temporal namespace and task queue
    /// (what a second `web` process is) and returns its base URL.
    pub async fn start_another_web(&self) -> String {
        let web = relink_web::build(&self.web_settings)
            .await
            .expect("another web tier starts");
        let url = format!("http://{}", web.local_addr());
        tokio::spawn(web.run_until(std::future::pending()));
        url
    }

    /// Starts another worker polling the same task queue (what a second `worker`
    /// process is), beside the app's own; kill it with [`WorkerHandle::kill`].
    pub async fn start_another_worker(&self) -> WorkerHandle {
        WorkerHandle::start(self.worker_config.clone()).await
    }

    /// Starts a new worker (after [`TestApp::kill_worker`]).
    pub async fn start_worker(&mut self) {
        self.worker = Some(WorkerHandle::start(self.worker_config.clone()).await);
    }

    /// Waits until the newest run of `workflow_id` is closed (or `timeout` passes) and
    /// returns its status, e.g. `Completed`, or `still running`.
    pub async fn wait_workflow_closed(&self, workflow_id: &str, timeout: Duration) -> String {
        let handle = self
            .temporal
            .get_workflow_handle::<temporalio_client::UntypedWorkflow>(workflow_id);
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(d) = handle.describe(Default::default()).await {
                let status = format!("{:?}", d.status());
                if !status.contains("Running") {
                    return status;
                }
            }
            if Instant::now() > deadline {
                return "still running".into();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// When `RELINK_RECORD_HISTORIES` names a directory (`./dev histories` sets it to
    /// `tests/histories`), saves the history of the latest run of `workflow_id` there as
    /// `<name>.json`, the JSON form `WorkflowHistory::from_json` reads; the replay test
    /// replays every such file against the current workflow code. Otherwise does
    /// nothing. Call it once the run has closed.
    pub async fn record_history(&self, name: &str, workflow_id: &str) {
        let handle = self
            .temporal
            .get_workflow_handle::<temporalio_client::UntypedWorkflow>(workflow_id);
        record_history(name, handle.fetch_history(Default::default())).await;
    }

    /// What an operator can read of `workflow_id`'s history (its latest run), as the
    /// Web UI shows it: the history JSON itself, then every payload's `data` decoded from
    /// base64 (the JSON the workflow recorded).
    pub async fn history_texts(&self, workflow_id: &str) -> Vec<String> {
        use base64::Engine as _;
        let handle = self
            .temporal
            .get_workflow_handle::<temporalio_client::UntypedWorkflow>(workflow_id);
        let json = handle
            .fetch_history(Default::default())
            .to_json()
            .await
            .expect("fetch the history");
        let value: Value = serde_json::from_slice(&json).expect("history JSON");
        fn payloads(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let (Some(Value::String(data)), true) =
                        (m.get("data"), m.contains_key("metadata"))
                    {
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(data)
                            .unwrap_or_default();
                        out.push(String::from_utf8_lossy(&bytes).into_owned());
                    }
                    m.values().for_each(|v| payloads(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| payloads(v, out)),
                _ => {}
            }
        }
        let mut texts = vec![String::from_utf8_lossy(&json).into_owned()];
        payloads(&value, &mut texts);
        texts
    }

    /// Waits until the web tier has handed every stored account-status webhook to its
    /// sync (the inbox is empty), at most `timeout`. Returns whether it emptied.
    pub async fn wait_inbox_empty(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.store.inbox_depth().await.is_ok_and(|d| d.waiting == 0) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every account-status webhook for `unipile_id` accepted so far has
    /// been applied (handed off from the inbox, and its sync workflow closed). Panics
    /// after 30 s.
    pub async fn wait_status_sync_applied(&self, unipile_id: &str) {
        assert!(
            self.wait_inbox_empty(Duration::from_secs(30)).await,
            "the webhook inbox did not empty"
        );
        let id = relink_domain::account_status_workflow_id(unipile_id);
        let status = self
            .wait_workflow_closed(&id, Duration::from_secs(30))
            .await;
        assert!(status.contains("Completed"), "{id}: {status}");
    }

    /// Whether a worker is running.
    pub fn worker_alive(&mut self) -> bool {
        self.worker.as_mut().is_some_and(|w| w.alive())
    }

    /// The base URL of an in-process worker's `/metrics`, `/readyz` and `/healthz`.
    pub fn worker_metrics_url(&self) -> Option<String> {
        let addr = self.worker.as_ref()?.metrics_addr()?;
        Some(format!("http://{addr}"))
    }

    /// The worker's process id, when it runs as a child process.
    pub fn worker_pid(&self) -> Option<u32> {
        self.worker.as_ref().and_then(|w| w.pid())
    }

    /// Seeds an account in `status` whose Unipile account (source status `unipile_status`)
    /// exists in the simulator, with two campaigns paused for the disconnect (one also
    /// `manual`) when the row is not connected.
    pub async fn seed_account(&self, status: AccountStatus, unipile_status: &str) -> Seeded {
        let (workspace, token) = self
            .store
            .create_workspace("Test workspace")
            .await
            .expect("workspace");
        let unipile_id = format!("U{}", &uuid::Uuid::new_v4().simple().to_string()[..21]);
        let member = format!("ACoAA{}", uuid::Uuid::new_v4().simple());
        self.sim_post("/_sim/accounts", json!({"id": unipile_id, "name": "Sam Sample", "member_id": member, "status": unipile_status})).await;
        let account = self
            .store
            .create_account(
                workspace,
                "Sam Sample",
                status,
                Some(&unipile_id),
                Some(&member),
                "test",
            )
            .await
            .expect("account");
        let paused = status != AccountStatus::Connected;
        let d: &[PauseReason] = if paused {
            &[PauseReason::LinkedinAccountDisconnected]
        } else {
            &[]
        };
        let m: &[PauseReason] = if paused {
            &[
                PauseReason::LinkedinAccountDisconnected,
                PauseReason::Manual,
            ]
        } else {
            &[PauseReason::Manual]
        };
        let paused_for_disconnect = self
            .store
            .create_campaign(workspace, account, "Outreach", 3, d)
            .await
            .expect("campaign");
        let paused_also_manual = self
            .store
            .create_campaign(workspace, account, "Webinar", 3, m)
            .await
            .expect("campaign");
        Seeded {
            workspace,
            token,
            account,
            unipile_id: Some(unipile_id),
            paused_for_disconnect,
            paused_also_manual,
        }
    }

    /// Seeds two cards of one LinkedIn identity in a new workspace: "Old card"
    /// (`reconnect_needed`, session `old-session`) with campaign "Outreach" paused for the
    /// disconnect, and the live "New card" (`connected`, session `new-session`).
    pub async fn seed_twin_cards(&self) -> TwinCards {
        let (workspace, token) = self
            .store
            .create_workspace("Twins")
            .await
            .expect("workspace");
        let member = format!("ACoAA{}", uuid::Uuid::new_v4().simple());
        let card = |name: &'static str, status, session: &'static str| {
            let (store, member) = (self.store.clone(), member.clone());
            async move {
                store
                    .create_account(
                        workspace,
                        name,
                        status,
                        Some(session),
                        Some(&member),
                        "test",
                    )
                    .await
                    .expect("account")
            }
        };
        let old = card("Old card", AccountStatus::ReconnectNeeded, "old-session").await;
        let live = card("New card", AccountStatus::Connected, "new-session").await;
        let campaign = self
            .store
            .create_campaign(
                workspace,
                old,
                "Outreach",
                1,
                &[PauseReason::LinkedinAccountDisconnected],
            )
            .await
            .expect("campaign");
        TwinCards {
            workspace,
            token,
            old,
            live,
            campaign,
        }
    }

    /// Seeds `count` connected accounts in a new workspace, each linked to simulator
    /// account `<prefix><n zero-padded to 21 digits>` (n = 1..=count, source status
    /// `sim_status`), each with its creation audit row. Returns the workspace, its token
    /// and the (row, Unipile id) pairs in n order.
    pub async fn seed_fleet(
        &self,
        prefix: &str,
        count: usize,
        sim_status: &str,
    ) -> (WorkspaceId, String, Vec<(AccountId, String)>) {
        self.seed_fleet_created(prefix, count, sim_status, None)
            .await
    }

    /// As [`TestApp::seed_fleet`], with Unipile's accounts created at `created_at`
    /// (default now): a fleet linked long ago.
    pub async fn seed_fleet_created(
        &self,
        prefix: &str,
        count: usize,
        sim_status: &str,
        created_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> (WorkspaceId, String, Vec<(AccountId, String)>) {
        let (ws, token) = self
            .store
            .create_workspace("Fleet")
            .await
            .expect("workspace");
        let mut tx = self.store.pool().begin().await.expect("tx");
        let mut rows: Vec<(uuid::Uuid, String)> = sqlx::query_as(
            "INSERT INTO linkedin_accounts (workspace_id, display_name, status, unipile_account_id, provider_status, first_connected_at) \
             SELECT $1, 'Fleet ' || g, 'connected', $3 || lpad(g::text, 21, '0'), 'OK', now() FROM generate_series(1, $2) g \
             RETURNING id, unipile_account_id",
        )
        .bind(ws.0)
        .bind(count as i32)
        .bind(prefix)
        .fetch_all(&mut *tx)
        .await
        .expect("fleet rows");
        sqlx::query(
            "INSERT INTO linkedin_account_audit_log (account_id, action, to_status, actor) \
             SELECT id, 'account.created', 'connected', 'seed' FROM linkedin_accounts WHERE workspace_id = $1",
        )
        .bind(ws.0)
        .execute(&mut *tx)
        .await
        .expect("fleet audit");
        tx.commit().await.expect("commit fleet");
        self.sim_post(
            "/_sim/accounts/bulk",
            json!({"prefix": prefix, "count": count, "status": sim_status, "created_at": created_at}),
        )
        .await;
        rows.sort_by(|a, b| a.1.cmp(&b.1));
        (
            ws,
            token,
            rows.into_iter()
                .map(|(id, uid)| (AccountId(id), uid))
                .collect(),
        )
    }

    /// POSTs JSON to the simulator's control API; panics unless 2xx.
    pub async fn sim_post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.sim_url))
            .json(&body)
            .send()
            .await
            .expect("sim");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "sim {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Deletes every webhook registered at the simulator (for tests of loops that must
    /// not be raced by the account-status webhook).
    pub async fn unregister_webhooks(&self) {
        let list: Value = self
            .http
            .get(format!("{}/api/v1/webhooks", self.sim_url))
            .header("X-API-KEY", SIM_KEY)
            .send()
            .await
            .expect("sim")
            .json()
            .await
            .expect("json");
        for w in list["items"].as_array().into_iter().flatten() {
            let id = w["id"].as_str().expect("webhook id");
            self.http
                .delete(format!("{}/api/v1/webhooks/{id}", self.sim_url))
                .header("X-API-KEY", SIM_KEY)
                .send()
                .await
                .expect("sim");
        }
    }

    /// Waits until the worker has registered the account-status webhook (a worker
    /// process does so at its start), then deletes every webhook: for drills whose
    /// simulator status changes must not reach relink except through the pass under test.
    pub async fn quiet_webhooks(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let list: Value = match self
                .http
                .get(format!("{}/_sim/webhooks", self.sim_url))
                .send()
                .await
            {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            let registered = list
                .as_array()
                .map(|a| !a.is_empty())
                .or_else(|| list["items"].as_array().map(|a| !a.is_empty()));
            if registered == Some(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.unregister_webhooks().await;
    }

    /// The injected faults not yet used up (`GET /_sim/faults`).
    pub async fn sim_faults(&self) -> Vec<Value> {
        self.http
            .get(format!("{}/_sim/faults", self.sim_url))
            .send()
            .await
            .expect("sim")
            .json()
            .await
            .expect("json")
    }

    /// The calls left to the injected faults on `route` (each call that arrives uses one
    /// up at once, before its latency; a used-up fault is removed): 0 when none is left.
    pub async fn sim_fault_calls_left(&self, route: &str) -> u64 {
        self.sim_faults()
            .await
            .iter()
            .filter(|f| f["route"] == route)
            .filter_map(|f| f["count"].as_u64())
            .sum()
    }

    /// The simulator's request log.
    pub async fn sim_requests(&self) -> Vec<Value> {
        self.http
            .get(format!("{}/_sim/requests", self.sim_url))
            .send()
            .await
            .expect("sim")
            .json()
            .await
            .expect("json")
    }

    /// How many times the simulator saw `route` (e.g. `POST /api/v1/hosted/accounts/link`).
    pub async fn sim_count(&self, route: &str) -> usize {
        self.sim_requests()
            .await
            .iter()
            .filter(|r| r["route"] == route)
            .count()
    }

    /// `POST /api/accounts/{id}/reconnect` as `token`; returns (status, body).
    pub async fn click_reconnect(&self, token: &str, account: &str) -> (u16, Value) {
        click_reconnect(
            self.http.clone(),
            self.web_url.clone(),
            token.to_string(),
            account.to_string(),
        )
        .await
    }

    /// POSTs a raw body (no content type, as Unipile does) to the notify callback route.
    pub async fn notify(&self, token: &str, body: &Value) -> u16 {
        self.http
            .post(format!(
                "{}/webhooks/unipile/hosted-auth/{token}",
                self.web_url
            ))
            .body(serde_json::to_vec(body).expect("json"))
            .send()
            .await
            .expect("web")
            .status()
            .as_u16()
    }

    /// The user finishes hosted auth on the link `url` (as answered by a click); with
    /// `notify`, Unipile's notify callback is delivered. Returns the simulator's answer
    /// (`account_id`, `status`, the deliveries).
    pub async fn finish_hosted_auth(&self, url: &Value, notify: bool) -> Value {
        self.sim_post(
            "/_sim/hosted/complete",
            json!({"url": url, "notify": notify}),
        )
        .await
    }

    /// Sets the source status of simulator account `uid` (Unipile sends its webhook).
    pub async fn set_sim_status(&self, uid: &str, status: &str) {
        self.sim_post(
            &format!("/_sim/accounts/{uid}/status"),
            json!({"status": status}),
        )
        .await;
    }

    /// Simulator account `uid` vanishes (GET → 404, absent from the listing; no webhook).
    pub async fn vanish(&self, uid: &str) {
        self.http
            .delete(format!("{}/_sim/accounts/{uid}", self.sim_url))
            .send()
            .await
            .expect("sim");
    }

    /// Waits (at most 30 s) until the row is `status`; returns it.
    pub async fn wait_status(
        &self,
        id: AccountId,
        status: AccountStatus,
    ) -> relink_store::AccountRow {
        eventually(
            Duration::from_secs(30),
            &format!("account {id} {status}"),
            || async {
                let r = self.account(id).await;
                (r.status == status).then_some(r)
            },
        )
        .await
    }

    /// The account row.
    pub async fn account(&self, id: AccountId) -> relink_store::AccountRow {
        self.store.account(id).await.expect("account row")
    }

    /// Number of audit rows of `id` with `to_status`.
    pub async fn audit_count(&self, id: AccountId, to_status: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM linkedin_account_audit_log WHERE account_id = $1 AND to_status = $2",
        )
        .bind(id.0)
        .bind(to_status)
        .fetch_one(self.store.pool())
        .await
        .expect("audit count")
    }

    /// The outbound events of workspace `ws`, in sequence order: (type, data).
    pub async fn events_of(&self, ws: WorkspaceId) -> Vec<(String, Value)> {
        sqlx::query_as("SELECT type, data FROM outbound_events WHERE workspace_id = $1 ORDER BY id")
            .bind(ws.0)
            .fetch_all(self.store.pool())
            .await
            .expect("outbound events")
    }

    /// A campaign's status and reasons.
    pub async fn campaign(&self, id: uuid::Uuid) -> (String, Vec<String>) {
        let status: String = sqlx::query_scalar("SELECT status FROM campaigns WHERE id = $1")
            .bind(id)
            .fetch_one(self.store.pool())
            .await
            .expect("campaign");
        let reasons: Vec<String> = sqlx::query_scalar(
            "SELECT reason FROM campaign_pauses WHERE campaign_id = $1 ORDER BY reason",
        )
        .bind(id)
        .fetch_all(self.store.pool())
        .await
        .expect("reasons");
        (status, reasons)
    }
}

/// `POST {web}/api/accounts/{account}/reconnect` as `token`; returns (status, body),
/// status 0 with `{"error": …}` when the request could not be sent. Takes owned values
/// so that it can run in a spawned task (a click the test does not wait for yet).
pub async fn click_reconnect(
    http: reqwest::Client,
    web: String,
    token: String,
    account: String,
) -> (u16, Value) {
    match http
        .post(format!("{web}/api/accounts/{account}/reconnect"))
        .bearer_auth(token)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(e) => (0, json!({"error": e.to_string()})),
    }
}

/// An account-status webhook body as Unipile sends it (unipile-api.md §10.2).
pub fn account_status_body(account_id: &str, message: &str) -> Vec<u8> {
    json!({"AccountStatus": {"account_id": account_id, "account_type": "LINKEDIN", "message": message}})
        .to_string()
        .into_bytes()
}

/// The `worker` executable for tests that run it as a child process: `explicit`, or
/// `worker` beside the running binary. Errors when it does not exist (not built).
pub fn worker_exe(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let worker = match explicit {
        Some(w) => w,
        None => std::env::current_exe()?.with_file_name("worker"),
    };
    anyhow::ensure!(
        worker.exists(),
        "{} not found: build it first (cargo build --bins)",
        worker.display()
    );
    Ok(worker)
}

/// An audit context for a change a test makes itself (`actor` = `test`).
pub fn test_audit(action: &str) -> relink_store::AuditContext {
    relink_store::AuditContext {
        action: action.into(),
        actor: "test".into(),
        ..Default::default()
    }
}

/// The worker's delete settings for a test: `given`, plus short Safe delete timing
/// floors (poll spacing 1 s, undo window 0 s) unless `given` sets them, so that the
/// tests' 1–3 s timings are not raised to the production floors of 60 s.
pub fn with_test_delete_floors(
    given: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut env = given.to_vec();
    for (k, v) in [
        (relink_domain::deletes::ENV_MIN_POLL_SPACING, "1"),
        (relink_domain::deletes::ENV_MIN_UNDO_WINDOW, "0"),
    ] {
        if !env.iter().any(|(name, _)| *name == k) {
            env.push((k, v));
        }
    }
    env
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Saves `history` as `<name>.json` under `RELINK_RECORD_HISTORIES` when that is set
/// (see [`TestApp::record_history`]); otherwise does nothing (the history is never
/// fetched).
pub async fn record_history(name: &str, history: temporalio_client::WorkflowHistory) {
    let Some(dir) = std::env::var_os("RELINK_RECORD_HISTORIES") else {
        return;
    };
    let json = history.to_json().await.expect("fetch the history");
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("create the histories directory");
    let value: Value = serde_json::from_slice(&json).expect("history JSON");
    let pretty = serde_json::to_vec_pretty(&value).expect("history JSON");
    std::fs::write(dir.join(format!("{name}.json")), pretty).expect("write the history");
}
