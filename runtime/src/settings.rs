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
    /// The schema owner's PostgreSQL URL, used only at start-up: to apply migrations and
    /// to give the application role (`relink_app`, created by migration 0010) its
    /// login when `DATABASE_URL` names it with a password the server refuses. Unset:
    /// pending migrations run as `DATABASE_URL`'s role (which must then own the
    /// schema); with none pending, any role (relink_app included) just serves.
    #[arg(
        long,
        env = "MIGRATION_DATABASE_URL",
        value_name = "MIGRATION_DATABASE_URL",
        hide_env_values = true
    )]
    pub migration_database_url: Option<SecretString>,
}

impl DatabaseSettings {
    /// Settings for `url` (migrations run as its role).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            database_url: SecretString::from(url.into()),
            migration_database_url: None,
        }
    }

    /// Settings that serve as `url` and migrate as `owner_url`.
    pub fn with_owner(url: impl Into<String>, owner_url: impl Into<String>) -> Self {
        Self {
            database_url: SecretString::from(url.into()),
            migration_database_url: Some(SecretString::from(owner_url.into())),
        }
    }

    /// The store the binaries serve with, migrated: migrations applied (as the owner
    /// when `MIGRATION_DATABASE_URL` is set; otherwise, when any is pending, as
    /// `DATABASE_URL`'s role), then a pool of at most `max_connections` as
    /// `DATABASE_URL`'s role. When that role is `relink_app` and the server refuses
    /// its password, the owner gives it its login with that password first. A role with
    /// superuser, replication or RLS-bypass rights is served with, but warned about.
    ///
    /// Errors name the variable at fault, never its value: either URL unreachable or
    /// refused, a failed migration, an owner that may not alter roles.
    pub async fn connect_migrated(&self, max_connections: u32) -> anyhow::Result<Store> {
        let store = match &self.migration_database_url {
            None => {
                let store = self.connect(max_connections).await?;
                // A role that may not migrate (relink_app) serves a migrated schema.
                let pending = store.pending_migrations().await.context(
                    "DATABASE_URL: cannot read the migration ledger (a role that may not \
                     migrate, such as relink_app, needs MIGRATION_DATABASE_URL)",
                )?;
                if pending > 0 {
                    store.migrate().await.with_context(|| {
                        format!(
                            "applying {pending} migration(s) as DATABASE_URL's role \
                             (a role that may not, such as relink_app, needs MIGRATION_DATABASE_URL)"
                        )
                    })?;
                }
                store
            }
            Some(owner_url) => {
                let owner = Store::connect(owner_url.expose_secret(), 1)
                    .await
                    .context("MIGRATION_DATABASE_URL: cannot connect")?;
                owner.migrate().await.context("applying migrations")?;
                let url = self.database_url.expose_secret();
                let store = match Store::connect(url, max_connections).await {
                    Err(e) if relink_store::login_refused(&e) => {
                        let password = app_role_password(url);
                        let grant = owner
                            .app_login_needs_grant(&e)
                            .await
                            .context("MIGRATION_DATABASE_URL: cannot read relink_app")?;
                        let (Some(password), true) = (password, grant) else {
                            return Err(e).context("DATABASE_URL: login refused");
                        };
                        owner
                            .grant_app_login(&password)
                            .await
                            .context("MIGRATION_DATABASE_URL: cannot give relink_app its login")?;
                        self.connect(max_connections).await?
                    }
                    other => other.context("DATABASE_URL: cannot connect")?,
                };
                owner.pool().close().await;
                store
            }
        };
        let (role, privileged) = store
            .current_role_privileged()
            .await
            .context("DATABASE_URL: cannot read its role")?;
        if privileged {
            tracing::warn!(
                role,
                "DATABASE_URL connects as a role with superuser, replication or RLS-bypass rights; \
                 serve as relink_app (README, \"Least privilege in PostgreSQL\")"
            );
        }
        Ok(store)
    }

    /// A pool of at most `max_connections`. Errors name `DATABASE_URL` (not its value).
    pub async fn connect(&self, max_connections: u32) -> anyhow::Result<Store> {
        Store::connect(self.database_url.expose_secret(), max_connections)
            .await
            .context("DATABASE_URL: cannot connect")
    }
}

/// The password of `url` when its user is [`relink_store::APP_ROLE`] (percent-decoded).
fn app_role_password(url: &str) -> Option<String> {
    let url = Url::parse(url).ok()?;
    if url.username() != relink_store::APP_ROLE {
        return None;
    }
    let password = url.password()?;
    percent_encoding::percent_decode_str(password)
        .decode_utf8()
        .ok()
        .map(|p| p.into_owned())
        .filter(|p| !p.is_empty())
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
    /// At most this many GETs per second to Unipile from this process (no burst), and
    /// none for a cooldown after a 429 (1 s, doubling to 60 s). Run N workers: give
    /// each Unipile's allowance divided by N.
    #[arg(
        long,
        env = "UNIPILE_MAX_GETS_PER_SEC",
        value_name = "UNIPILE_MAX_GETS_PER_SEC",
        default_value_t = relink_unipile::DEFAULT_GETS_PER_SEC,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    pub unipile_max_gets_per_sec: u32,
}

impl UnipileSettings {
    /// Builds the client. Errors name the variable at fault (an empty key, a bad DSN).
    pub fn client(&self) -> anyhow::Result<UnipileClient> {
        let key = ApiKey::new(self.unipile_api_key.expose_secret())
            .map_err(|e| anyhow::anyhow!("UNIPILE_API_KEY: {e}"))?;
        Ok(UnipileClient::new(
            self.unipile_dsn.clone(),
            key,
            Duration::from_secs(self.unipile_timeout_secs.max(1)),
        )
        .context("UNIPILE_DSN: cannot build the Unipile client")?
        .with_get_pace(self.unipile_max_gets_per_sec))
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

/// The key that signs the single-account links in reconnect emails
/// (`ACCOUNT_LINK_KEY`, at least 32 characters); the worker signs, the web tier checks.
#[derive(Debug, Clone, clap::Args)]
pub struct AccountLinkSettings {
    /// Key signing the account links in reconnect emails (at least 32 characters).
    /// Without it the worker sends no email and the web tier refuses account links.
    #[arg(
        long,
        env = "ACCOUNT_LINK_KEY",
        value_name = "ACCOUNT_LINK_KEY",
        hide_env_values = true
    )]
    pub account_link_key: Option<SecretString>,
}

impl AccountLinkSettings {
    /// Settings for `key`.
    pub fn new(key: Option<&str>) -> Self {
        Self {
            account_link_key: key.map(|k| SecretString::from(k.to_string())),
        }
    }

    /// The key's bytes, if set. Errors (naming `ACCOUNT_LINK_KEY`) when it is shorter
    /// than `relink_domain::emails::MIN_ACCOUNT_LINK_KEY_LEN`.
    pub fn key(&self) -> anyhow::Result<Option<Vec<u8>>> {
        let Some(k) = &self.account_link_key else {
            return Ok(None);
        };
        let k = k.expose_secret().as_bytes();
        if k.len() < relink_domain::emails::MIN_ACCOUNT_LINK_KEY_LEN {
            anyhow::bail!(
                "ACCOUNT_LINK_KEY must be at least {} characters",
                relink_domain::emails::MIN_ACCOUNT_LINK_KEY_LEN
            );
        }
        Ok(Some(k.to_vec()))
    }
}

/// The operator channel admin alerts are posted to.
#[derive(Debug, Clone, clap::Args)]
pub struct AlertSettings {
    /// A Slack-compatible incoming-webhook URL (`{"text": …}` is posted); it usually
    /// carries a token, so it is never printed. Unset: alerts stay in the database
    /// (`starter alerts list`).
    #[arg(
        long,
        env = "ALERT_WEBHOOK_URL",
        value_name = "ALERT_WEBHOOK_URL",
        hide_env_values = true
    )]
    pub alert_webhook_url: Option<SecretString>,
}

impl AlertSettings {
    /// The operator channel's URL, checked: an absolute http(s) URL. Errors name the
    /// variable, never its value (it carries the hook's token).
    pub fn webhook_url(&self) -> anyhow::Result<Option<SecretString>> {
        let Some(url) = &self.alert_webhook_url else {
            return Ok(None);
        };
        match Url::parse(url.expose_secret()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Some(url.clone())),
            _ => anyhow::bail!("ALERT_WEBHOOK_URL must be an absolute http or https URL"),
        }
    }
}

/// Where reconnect emails are sent from.
#[derive(Debug, Clone, clap::Args)]
pub struct SmtpSettings {
    /// SMTP server URL: `smtp://host:port` (plain), `smtp://host:port?tls=required`
    /// (STARTTLS) or `smtps://user:password@host:465` (TLS). Unset: no email is sent.
    #[arg(
        long,
        env = "SMTP_URL",
        value_name = "SMTP_URL",
        hide_env_values = true
    )]
    pub smtp_url: Option<SecretString>,
    /// The sender address, e.g. `relink <relink@example.com>`.
    #[arg(
        long,
        env = "MAIL_FROM",
        value_name = "MAIL_FROM",
        default_value = "relink <relink@localhost>"
    )]
    pub mail_from: String,
}
