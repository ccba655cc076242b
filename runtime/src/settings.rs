//! Settings shared by the binaries, as clap argument groups: each is a flag and an
//! environment variable of the same name (`--temporal-address` / `TEMPORAL_ADDRESS`).
//! Secrets are [`SecretString`]s: `Debug` prints them redacted and `--help` never shows
//! their environment value.

use anyhow::Context;
use relink_store::Store;
use relink_unipile::{ApiKey, UnipileClient};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;
use url::Url;

/// Where relink's workflows run: the Temporal frontend, namespace and task queue.
#[derive(Debug, Clone, clap::Args)]
pub struct TemporalSettings {
    /// Temporal frontend, `host:port` or a URL.
    #[arg(
        long,
        env = "TEMPORAL_ADDRESS",
        value_name = "TEMPORAL_ADDRESS",
        default_value = "127.0.0.1:7233"
    )]
    pub temporal_address: String,
    /// Temporal namespace.
    #[arg(
        long,
        env = "TEMPORAL_NAMESPACE",
        value_name = "TEMPORAL_NAMESPACE",
        default_value = "default"
    )]
    pub temporal_namespace: String,
    /// Task queue of relink's workflows and activities.
    #[arg(long, env = "TEMPORAL_TASK_QUEUE", value_name = "TEMPORAL_TASK_QUEUE", default_value = relink_domain::DEFAULT_TASK_QUEUE)]
    pub task_queue: String,
}

impl TemporalSettings {
    /// A client of the namespace. Errors as [`crate::connect_temporal`].
    pub async fn connect(&self) -> anyhow::Result<temporalio_client::Client> {
        crate::connect_temporal(&self.temporal_address, &self.temporal_namespace).await
    }
}

/// The application database.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseSettings {
    /// PostgreSQL URL (it carries the password: never printed).
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: SecretString,
}

impl DatabaseSettings {
    /// Settings for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            database_url: SecretString::from(url.into()),
        }
    }

    /// A pool of at most `max_connections`. Errors name `DATABASE_URL` (not its value).
    pub async fn connect(&self, max_connections: u32) -> anyhow::Result<Store> {
        Store::connect(self.database_url.expose_secret(), max_connections)
            .await
            .context("DATABASE_URL: cannot connect")
    }
}

/// Settings of the Unipile client.
#[derive(Debug, Clone, clap::Args)]
pub struct UnipileSettings {
    /// Unipile base URL (DSN), e.g. `https://api8.unipile.com:13851`.
    #[arg(long, env = "UNIPILE_DSN", value_name = "UNIPILE_DSN")]
    pub unipile_dsn: Url,
    /// Unipile API key (sent as `X-API-KEY`).
    #[arg(
        long,
        env = "UNIPILE_API_KEY",
        value_name = "UNIPILE_API_KEY",
        hide_env_values = true
    )]
    pub unipile_api_key: SecretString,
    /// Per-request timeout in seconds.
    #[arg(
        long,
        env = "UNIPILE_TIMEOUT_SECS",
        value_name = "UNIPILE_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub unipile_timeout_secs: u64,
}

impl UnipileSettings {
    /// Builds the client. Errors name the variable at fault (an empty key, a bad DSN).
    pub fn client(&self) -> anyhow::Result<UnipileClient> {
        let key = ApiKey::new(self.unipile_api_key.expose_secret())
            .map_err(|e| anyhow::anyhow!("UNIPILE_API_KEY: {e}"))?;
        UnipileClient::new(
            self.unipile_dsn.clone(),
            key,
            Duration::from_secs(self.unipile_timeout_secs.max(1)),
        )
        .context("UNIPILE_DSN: cannot build the Unipile client")
    }
}

/// The account-status webhook's shared secret (`WEBHOOK_SECRET`), which Unipile sends
/// in `Unipile-Auth` with every account-status webhook.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookSecretSettings {
    /// Shared secret Unipile sends in `Unipile-Auth` with every account-status webhook
    /// (at least 16 characters).
    #[arg(
        long,
        env = "WEBHOOK_SECRET",
        value_name = "WEBHOOK_SECRET",
        hide_env_values = true
    )]
    webhook_secret: SecretString,
}

impl WebhookSecretSettings {
    /// Settings for `secret` (checked by [`Self::secret`]).
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            webhook_secret: SecretString::from(secret.into()),
        }
    }

    /// The secret. Errors (naming `WEBHOOK_SECRET`) when it is shorter than 16 characters.
    pub fn secret(&self) -> anyhow::Result<&SecretString> {
        if self.webhook_secret.expose_secret().len() < 16 {
            anyhow::bail!("WEBHOOK_SECRET must be at least 16 characters");
        }
        Ok(&self.webhook_secret)
    }
}
