//! The integration-test harness: `spawn_app()` attaches to the shared Temporal dev
//! server (`TEMPORAL_ADDRESS`) and PostgreSQL (`RELINK_TEST_DATABASE_URL`) that
//! `./dev test` provides, creates a fresh migrated database and a unique task queue,
//! and runs unipile-sim, the web tier (both on port 0) and a worker in-process.
//! Tests speak HTTP and assert database rows and the simulator's request log.

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
use temporalio_sdk::{Runtime, Worker};
use tokio::sync::oneshot;
use url::Url;

/// The simulator's API key in tests.
pub const SIM_KEY: &str = "test-unipile-key";
/// The account-status webhook secret in tests.
pub const WEBHOOK_SECRET: &str = "test-webhook-secret-0123456789";

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
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            link_reuse_window: Duration::from_secs(90),
            link_ttl: Duration::from_secs(600),
            blip_tolerance: Duration::from_secs(7200),
            delete_env: vec![],
        }
    }
}

/// A running relink under test.
pub struct TestApp {
    /// The test's own database.
    pub store: Store,
    /// URL of the test's own database.
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
}

#[derive(Clone)]
struct WorkerConfig {
    delete_env: Vec<(&'static str, &'static str)>,
    temporal_address: String,
    task_queue: String,
    database_url: String,
    sim_url: String,
    public_base_url: String,
}

/// A worker running on its own thread and Tokio runtime, so that it can be killed the
/// way a crash kills it: its futures are dropped mid-flight, nothing is drained.
pub struct WorkerHandle {
    kill: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WorkerHandle {
    fn start(cfg: WorkerConfig) -> Self {
        let (kill, killed) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let thread = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            rt.block_on(async move {
                let built = async {
                    let unipile = relink_worker::UnipileSettings {
                        unipile_dsn: cfg.sim_url.parse()?,
                        unipile_api_key: SIM_KEY.into(),
                        unipile_timeout_secs: 5,
                    };
                    let env = cfg.delete_env.clone();
                    let reader: relink_activities::EnvReader = std::sync::Arc::new(move |k: &str| {
                        env.iter().find(|(name, _)| *name == k).map(|(_, v)| v.to_string())
                    });
                    let activities = relink_worker::build_activities(
                        &cfg.database_url,
                        &unipile,
                        cfg.public_base_url.parse::<Url>()?,
                        reader,
                    )
                    .await?;
                    let client = relink_worker::connect_temporal(&cfg.temporal_address, "default").await?;
                    let runtime = Runtime::from_current_tokio(Default::default())?;
                    let worker = Worker::new(
                        &runtime,
                        client,
                        relink_worker::worker_options(&cfg.task_queue, activities)?,
                    )?;
                    anyhow::Ok((runtime, worker))
                }
                .await;
                let (_runtime, mut worker) = match built {
                    Ok(w) => {
                        let _ = ready_tx.send(Ok(()));
                        w
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("{e:#}")));
                        return;
                    }
                };
                tokio::select! {
                    r = worker.run() => { if let Err(e) = r { eprintln!("worker stopped: {e}"); } }
                    _ = killed => {}
                }
            });
            rt.shutdown_background();
        });
        match ready_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("worker failed to start: {e}"),
            Err(e) => panic!("worker did not start: {e}"),
        }
        WorkerHandle { kill: Some(kill), thread: Some(thread) }
    }

    /// Kills the worker abruptly (no graceful shutdown) and waits for its thread.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(k) = self.kill.take() {
            let _ = k.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,relink=info".into()),
        )
        .with_test_writer()
        .try_init();
    let admin_url = std::env::var("RELINK_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .expect("RELINK_TEST_DATABASE_URL or DATABASE_URL must point at a PostgreSQL server (./dev test sets it)");
    let database_url = fresh_database(&admin_url).await.expect("create test database");
    let store = Store::connect(&database_url, 10).await.expect("connect test database");
    store.migrate().await.expect("migrate");

    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind sim");
    let sim_url = format!("http://{}", sim_listener.local_addr().expect("addr"));
    let sim_config = unipile_sim::SimConfig {
        api_key: SIM_KEY.into(),
        public_base_url: sim_url.clone(),
        retry_base_delay: Duration::from_millis(200),
    };
    tokio::spawn(async move {
        let _ = unipile_sim::serve(sim_listener, sim_config).await;
    });

    let temporal_address = env_or("TEMPORAL_ADDRESS", "127.0.0.1:7233");
    let temporal = relink_worker::connect_temporal(&temporal_address, "default")
        .await
        .expect("a Temporal server at TEMPORAL_ADDRESS (./dev test starts one)");
    let task_queue = format!("relink-test-{}", uuid::Uuid::new_v4().simple());

    let web_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind web");
    let web_url = format!("http://{}", web_listener.local_addr().expect("addr"));
    let state = relink_web::AppState {
        store: store.clone(),
        temporal: temporal.clone(),
        task_queue: task_queue.clone(),
        link_reuse_window: opts.link_reuse_window,
        link_ttl: opts.link_ttl,
        webhook_secret: WEBHOOK_SECRET.into(),
        blip_tolerance: opts.blip_tolerance,
    };
    tokio::spawn(async move {
        let _ = axum::serve(web_listener, relink_web::app(state)).await;
    });

    let worker_config = WorkerConfig {
        delete_env: opts.delete_env.clone(),
        temporal_address,
        task_queue: task_queue.clone(),
        database_url: database_url.clone(),
        sim_url: sim_url.clone(),
        public_base_url: web_url.clone(),
    };
    let unipile = relink_worker::UnipileSettings {
        unipile_dsn: sim_url.parse().expect("sim url"),
        unipile_api_key: SIM_KEY.into(),
        unipile_timeout_secs: 5,
    };
    relink_worker::register_account_status_webhook(
        &unipile.client().expect("client"),
        &web_url.parse().expect("web url"),
        WEBHOOK_SECRET,
    )
    .await
    .expect("webhook registration");
    let worker = Some(WorkerHandle::start(worker_config.clone()));
    TestApp {
        store,
        database_url,
        web_url,
        sim_url,
        http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("http"),
        temporal,
        task_queue,
        worker,
        worker_config,
    }
}

async fn fresh_database(admin_url: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let name = format!("relink_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url).await.context("connect admin")?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
    let mut url: Url = admin_url.parse()?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
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

    /// Starts a new worker (after [`TestApp::kill_worker`]).
    pub fn start_worker(&mut self) {
        self.worker = Some(WorkerHandle::start(self.worker_config.clone()));
    }

    /// Seeds an account in `status` whose Unipile account (source status `unipile_status`)
    /// exists in the simulator, with two campaigns paused for the disconnect (one also
    /// `manual`) when the row is not connected.
    pub async fn seed_account(&self, status: AccountStatus, unipile_status: &str) -> Seeded {
        let (workspace, token) = self.store.create_workspace("Test workspace").await.expect("workspace");
        let unipile_id = format!("U{}", &uuid::Uuid::new_v4().simple().to_string()[..21]);
        let member = format!("ACoAA{}", uuid::Uuid::new_v4().simple());
        self.sim_post("/_sim/accounts", json!({"id": unipile_id, "name": "Sam Sample", "member_id": member, "status": unipile_status})).await;
        let account = self
            .store
            .create_account(workspace, "Sam Sample", status, Some(&unipile_id), Some(&member), "test")
            .await
            .expect("account");
        let paused = status != AccountStatus::Connected;
        let d: &[PauseReason] = if paused { &[PauseReason::LinkedinAccountDisconnected] } else { &[] };
        let m: &[PauseReason] = if paused {
            &[PauseReason::LinkedinAccountDisconnected, PauseReason::Manual]
        } else {
            &[PauseReason::Manual]
        };
        let paused_for_disconnect =
            self.store.create_campaign(workspace, account, "Outreach", 3, d).await.expect("campaign");
        let paused_also_manual =
            self.store.create_campaign(workspace, account, "Webinar", 3, m).await.expect("campaign");
        Seeded { workspace, token, account, unipile_id: Some(unipile_id), paused_for_disconnect, paused_also_manual }
    }

    /// POSTs JSON to the simulator's control API; panics unless 2xx.
    pub async fn sim_post(&self, path: &str, body: Value) -> Value {
        let r = self.http.post(format!("{}{path}", self.sim_url)).json(&body).send().await.expect("sim");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "sim {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Deletes every webhook registered at the simulator (for tests of loops that must
    /// not be raced by the account-status webhook).
    pub async fn unregister_webhooks(&self) {
        let list: Value = self.http.get(format!("{}/api/v1/webhooks", self.sim_url)).header("X-API-KEY", SIM_KEY)
            .send().await.expect("sim").json().await.expect("json");
        for w in list["items"].as_array().into_iter().flatten() {
            let id = w["id"].as_str().expect("webhook id");
            self.http.delete(format!("{}/api/v1/webhooks/{id}", self.sim_url)).header("X-API-KEY", SIM_KEY)
                .send().await.expect("sim");
        }
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
        self.sim_requests().await.iter().filter(|r| r["route"] == route).count()
    }

    /// `POST /api/accounts/{id}/reconnect` as `token`; returns (status, body).
    pub async fn click_reconnect(&self, token: &str, account: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/accounts/{account}/reconnect", self.web_url))
            .bearer_auth(token)
            .send()
            .await
            .expect("web");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// POSTs a raw body (no content type, as Unipile does) to the notify callback route.
    pub async fn notify(&self, token: &str, body: &Value) -> u16 {
        self.http
            .post(format!("{}/webhooks/unipile/hosted-auth/{token}", self.web_url))
            .body(serde_json::to_vec(body).expect("json"))
            .send()
            .await
            .expect("web")
            .status()
            .as_u16()
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

    /// A campaign's status and reasons.
    pub async fn campaign(&self, id: uuid::Uuid) -> (String, Vec<String>) {
        let status: String = sqlx::query_scalar("SELECT status FROM campaigns WHERE id = $1")
            .bind(id)
            .fetch_one(self.store.pool())
            .await
            .expect("campaign");
        let reasons: Vec<String> =
            sqlx::query_scalar("SELECT reason FROM campaign_pauses WHERE campaign_id = $1 ORDER BY reason")
                .bind(id)
                .fetch_all(self.store.pool())
                .await
                .expect("reasons");
        (status, reasons)
    }
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
