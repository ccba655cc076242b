//! relink's web tier: the JSON API, the accounts dashboard and Unipile's callbacks
//! (DESIGN.md, "Web tier"). It starts, updates and signals workflows; it never changes
//! an account's status itself except through the store's audited helpers.

mod accounts;
mod auth;
mod campaigns;
mod dashboard;
mod error;
mod observability;
mod openapi;
mod pages;
mod request_id;
mod sending;
mod session;
mod webhooks;

pub use error::AppError;

use anyhow::Context;
use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};
use relink_runtime::{
    AccountLinkSettings, DatabaseSettings, SecretString, TemporalSettings, WebhookSecretSettings,
};
use relink_store::Store;
use std::{future::Future, net::SocketAddr, time::Duration};
use temporalio_client::Client;

/// Largest request body accepted anywhere (bytes). Unipile's callbacks and our JSON
/// inputs are a few hundred bytes; anything bigger is refused with 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Application database.
    pub store: Store,
    /// Temporal client.
    pub temporal: Client,
    /// Task queue for workflows started here.
    pub task_queue: String,
    /// Hosted-auth link reuse window (DESIGN.md: 90 s).
    pub link_reuse_window: Duration,
    /// Hosted-auth link lifetime.
    pub link_ttl: Duration,
    /// The `Unipile-Auth` secret of the account-status webhook.
    pub webhook_secret: SecretString,
    /// How long a sync blip may last before campaigns pause.
    pub blip_tolerance: Duration,
    /// The key that signs the account links of reconnect emails, if enabled.
    pub account_link_key: Option<Vec<u8>>,
    /// The key that signs session cookies and derives CSRF tokens.
    pub cookie_key: axum_extra::extract::cookie::Key,
    /// Whether session cookies are `Secure` (HTTPS only).
    pub secure_cookies: bool,
    /// Wakes this tier's webhook hand-off (`webhooks::hand_off_inbox`) when a webhook
    /// was stored.
    pub inbox: std::sync::Arc<tokio::sync::Notify>,
}

/// Every route, by the slice that owns it.
fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(observability::healthz))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/readyz", get(observability::readyz))
        .route("/metrics", get(observability::metrics))
        .route("/api/accounts", get(accounts::list_accounts))
        .route("/api/accounts/{id}/reconnect", post(accounts::reconnect))
        .route(
            "/api/accounts/{id}/send-reservations",
            post(sending::send_reservation),
        )
        .route(
            "/api/accounts/{id}/send-outcomes",
            post(sending::send_outcome),
        )
        .route("/api/campaigns", get(campaigns::list_campaigns))
        .route(
            "/api/campaigns/{id}/resume",
            post(campaigns::resume_campaign),
        )
        .route(
            "/webhooks/unipile/account-status",
            post(webhooks::account_status),
        )
        .route(
            "/webhooks/unipile/hosted-auth/{token}",
            post(webhooks::hosted_auth_callback),
        )
        .route("/", get(dashboard::page))
        .route("/ui/pills", get(dashboard::pills))
        .route("/ui/campaigns/{id}/resume", post(dashboard::resume))
        .route("/ui/accounts/{id}/disconnect", post(dashboard::disconnect))
        .route("/signin", get(session::signin_form).post(session::signin))
        .route("/signout", post(session::signout))
        .route("/ui/accounts/{id}/reconnect", post(dashboard::reconnect))
        .route("/accounts/{id}", get(dashboard::account_page))
}

/// Builds the router over `state`: every route behind the body limit and the request id
/// (`request_id`: set, echoed, in the request's span and in the memo of the workflows a
/// request starts).
pub fn app(state: AppState) -> Router {
    use tower_http::{
        request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
        trace::{DefaultOnResponse, TraceLayer},
    };
    let header = axum::http::HeaderName::from_static(request_id::X_REQUEST_ID);
    routes()
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(header.clone(), MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(header))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_id::span)
                        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
                )
                .layer(axum::middleware::from_fn(request_id::scope)),
        )
        .with_state(state)
}

/// Largest number of PostgreSQL connections one web tier holds.
const DATABASE_POOL_SIZE: u32 = 10;

/// Everything the web tier reads at start-up.
#[derive(Debug, Clone, clap::Args)]
pub struct WebSettings {
    /// Temporal frontend, namespace and task queue.
    #[command(flatten)]
    pub temporal: TemporalSettings,
    /// The application database.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// Address to listen on (port 0 picks a free port).
    #[arg(
        long,
        env = "WEB_ADDR",
        value_name = "WEB_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub web_addr: SocketAddr,
    /// Hosted-auth link reuse window, seconds (DESIGN.md: 90).
    #[arg(
        long,
        env = "LINK_REUSE_WINDOW_SECS",
        value_name = "LINK_REUSE_WINDOW_SECS",
        default_value_t = relink_domain::reconnect::DEFAULT_LINK_REUSE_WINDOW_MS / 1000
    )]
    pub link_reuse_window_secs: u64,
    /// Hosted-auth link lifetime, seconds (at least the reuse window).
    #[arg(
        long,
        env = "LINK_TTL_SECS",
        value_name = "LINK_TTL_SECS",
        default_value_t = relink_domain::reconnect::DEFAULT_LINK_TTL_MS / 1000
    )]
    pub link_ttl_secs: u64,
    /// The account-status webhook's shared secret.
    #[command(flatten)]
    pub webhook: WebhookSecretSettings,
    /// How long an ERROR/STOPPED blip may last before campaigns pause, seconds.
    #[arg(long, env = "BLIP_TOLERANCE_SECS", value_name = "BLIP_TOLERANCE_SECS", default_value_t = relink_domain::healing::DEFAULT_BLIP_TOLERANCE_SECS)]
    pub blip_tolerance_secs: u64,
    /// The key that checks the account links of reconnect emails.
    #[command(flatten)]
    pub account_links: AccountLinkSettings,
    /// Key signing the dashboard's session cookies (at least 32 characters). Unset: a
    /// random key per process (sessions end when it restarts; one web tier only).
    #[arg(
        long,
        env = "SESSION_KEY",
        value_name = "SESSION_KEY",
        hide_env_values = true
    )]
    pub session_key: Option<SecretString>,
    /// Mark session cookies `Secure` (serve the dashboard over HTTPS).
    #[arg(
        long,
        env = "SECURE_COOKIES",
        value_name = "SECURE_COOKIES",
        default_value_t = false
    )]
    pub secure_cookies: bool,
}

/// The session cookie key from `SESSION_KEY`, or a random one (with a warning).
/// Errors (naming `SESSION_KEY`) for a key shorter than 32 characters.
fn cookie_key(settings: &WebSettings) -> anyhow::Result<axum_extra::extract::cookie::Key> {
    use relink_runtime::ExposeSecret;
    match &settings.session_key {
        Some(k) if k.expose_secret().len() >= relink_domain::signing::MIN_KEY_LEN => Ok(
            axum_extra::extract::cookie::Key::derive_from(k.expose_secret().as_bytes()),
        ),
        Some(_) => anyhow::bail!("SESSION_KEY must be at least 32 characters"),
        None => {
            tracing::warn!(
                "SESSION_KEY is not set: a random key signs sessions until this process stops"
            );
            Ok(axum_extra::extract::cookie::Key::generate())
        }
    }
}

/// A built web tier: its listener is bound, its database migrated.
pub struct WebApp {
    listener: tokio::net::TcpListener,
    router: Router,
    local_addr: SocketAddr,
    state: AppState,
}

impl WebApp {
    /// The address it listens on (the chosen port when `WEB_ADDR` named port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests. The webhook
    /// inbox's hand-off runs beside it and stops with it (a claim it held is rolled
    /// back: its webhooks wait for the next tier).
    ///
    /// Errors: the listener failed.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr, "web listening");
        let hand_off = tokio::spawn(webhooks::hand_off_inbox(self.state));
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        hand_off.abort();
        served?;
        Ok(())
    }
}

/// Builds the web tier: checks the settings, connects to PostgreSQL and applies the
/// migrations, connects to Temporal and adds the search attributes its workflows need
/// when the namespace lacks them (`relink_runtime::ensure_search_attributes`), and
/// binds `WEB_ADDR`. The `web` binary and the test
/// harness both start the web tier through this function.
///
/// Errors: a bad setting (naming its variable), PostgreSQL or Temporal not answering,
/// or the address already in use.
pub async fn build(settings: &WebSettings) -> anyhow::Result<WebApp> {
    let webhook_secret = settings.webhook.secret()?.clone();
    if settings.link_ttl_secs < settings.link_reuse_window_secs {
        anyhow::bail!("LINK_TTL_SECS must be at least LINK_REUSE_WINDOW_SECS");
    }
    // relink's metrics recorder, before anything records.
    relink_runtime::metrics_handle();
    let store = settings
        .database
        .connect_migrated(DATABASE_POOL_SIZE)
        .await?;
    let temporal = settings.temporal.connect().await?;
    // The Reconnect click starts its workflow with these: without them every click fails.
    relink_runtime::ensure_search_attributes(&temporal).await?;
    let state = AppState {
        store,
        temporal,
        task_queue: settings.temporal.task_queue.clone(),
        link_reuse_window: Duration::from_secs(settings.link_reuse_window_secs),
        link_ttl: Duration::from_secs(settings.link_ttl_secs),
        webhook_secret,
        blip_tolerance: Duration::from_secs(settings.blip_tolerance_secs.max(1)),
        account_link_key: settings.account_links.key()?,
        cookie_key: cookie_key(settings)?,
        secure_cookies: settings.secure_cookies,
        inbox: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind(settings.web_addr)
        .await
        .with_context(|| format!("WEB_ADDR: cannot listen on {}", settings.web_addr))?;
    let local_addr = listener.local_addr()?;
    Ok(WebApp {
        listener,
        router: app(state.clone()),
        local_addr,
        state,
    })
}
