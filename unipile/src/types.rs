//! Unipile v1 request and response shapes (unipile-api.md §3–§10). Unknown fields are
//! ignored on input, optional fields are optional, and `type` stays a string because
//! other providers share the account list.

use relink_domain::SourceStatus;
use serde::{Deserialize, Serialize};

/// One account of a listing reduced to what a fleet-wide comparison needs: its id,
/// provider and source statuses (every other field is skipped while decoding, so a
/// listing of 100,000 accounts stays a few MB).
#[derive(Debug, Clone, Deserialize)]
pub struct AccountStatusEntry {
    /// Unipile account id.
    pub id: String,
    /// Provider, e.g. `LINKEDIN`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Per-source status.
    pub sources: Vec<Source>,
}

/// The account-level status of `sources`: the worst of them (`SourceStatus::worst`);
/// `None` when there is no source or one whose status this client does not know (treat
/// as not live).
fn worst_source(sources: &[Source]) -> Option<SourceStatus> {
    let parsed: Option<Vec<SourceStatus>> = sources.iter().map(|s| s.status.parse().ok()).collect();
    SourceStatus::worst(parsed?)
}

impl AccountStatusEntry {
    /// The account-level status, as [`Account::source_status`].
    pub fn source_status(&self) -> Option<SourceStatus> {
        worst_source(&self.sources)
    }
}

/// One page of `GET /api/v1/accounts` (`{object: "AccountList", items, cursor}`, the
/// cursor `null` on the last page) with its items decoded as `T`.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) cursor: Option<String>,
}

/// A Unipile account (any provider; relink reads LinkedIn ones).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    /// Always `Account`.
    pub object: String,
    /// Provider, e.g. `LINKEDIN`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Unipile account id (opaque, 22 characters observed).
    pub id: String,
    /// Display name (for LinkedIn: the member's name, not the hosted-auth `name`).
    pub name: String,
    /// Creation time, `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC).
    pub created_at: String,
    /// Provider-specific connection parameters, kept as raw JSON: their shape differs
    /// per provider (a WhatsApp or Mobile `im` has no LinkedIn member id), and one
    /// other provider's account must not make a whole listing undecodable.
    #[serde(default)]
    pub connection_params: serde_json::Value,
    /// Per-source status; there is no top-level status.
    pub sources: Vec<Source>,
    /// Groups (observed always empty).
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Account {
    /// True for LinkedIn accounts.
    pub fn is_linkedin(&self) -> bool {
        self.kind == "LINKEDIN"
    }

    /// The account-level status: the worst of its sources' statuses; `None` when it has
    /// no source or a status this client does not know (treat as not live).
    pub fn source_status(&self) -> Option<SourceStatus> {
        worst_source(&self.sources)
    }

    /// The LinkedIn member id (`connection_params.im.id`) of a LinkedIn account.
    pub fn linkedin_member_id(&self) -> Option<&str> {
        if !self.is_linkedin() {
            return None;
        }
        self.connection_params.get("im")?.get("id")?.as_str()
    }

    /// `created_at` parsed (UTC), if it parses.
    pub fn created_at_utc(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.created_at)
            .ok()
            .map(|d| d.to_utc())
    }
}

/// One `sources[]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Source {
    /// e.g. `<account_id>_MESSAGING`.
    pub id: String,
    /// One of the six source statuses (kept raw; see [`Account::source_status`]).
    pub status: String,
}

/// `POST /api/v1/hosted/accounts/link` body (create or reconnect variant, §8.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostedLinkRequest {
    /// `create` or `reconnect`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `["LINKEDIN"]` for create links; absent on reconnect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub providers: Option<Vec<String>>,
    /// Account to reconnect; reconnect links only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnect_account: Option<String>,
    /// `https://{DSN}`.
    pub api_url: String,
    /// Expiry, `YYYY-MM-DDTHH:MM:SS.sssZ` (see [`crate::unipile_datetime`]).
    #[serde(rename = "expiresOn")]
    pub expires_on: String,
    /// Sent back in the notify callback: our link token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where Unipile POSTs the result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    /// Browser redirect after success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_redirect_url: Option<String>,
    /// Browser redirect after failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_redirect_url: Option<String>,
}

/// `{"object":"HostedAuthUrl","url":…}` (the `object` literal is not matched strictly).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostedAuthUrl {
    /// `HostedAuthUrl` (or `HostedAuthURL` in one guide).
    #[serde(default)]
    pub object: Option<String>,
    /// Wizard url.
    pub url: String,
}

/// `POST /api/v1/webhooks` body for the account-status source (§10.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookRequest {
    /// `account_status`.
    pub source: String,
    /// Our endpoint.
    pub request_url: String,
    /// Webhook name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Subscribed events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// Extra headers sent with each delivery.
    #[serde(default)]
    pub headers: Vec<WebhookHeader>,
}

impl WebhookRequest {
    /// relink's account-status registration: every event (including `ok`, `stopped` and
    /// `connecting`, which Unipile leaves out by default), JSON format, and the shared
    /// secret in `Unipile-Auth`.
    pub fn account_status(request_url: &str, secret: &str) -> Self {
        WebhookRequest {
            source: "account_status".into(),
            request_url: request_url.into(),
            name: Some("relink-account-status".into()),
            format: Some("json".into()),
            events: Some(
                [
                    "creation_success",
                    "creation_fail",
                    "reconnected",
                    "deleted",
                    "ok",
                    "connecting",
                    "stopped",
                    "error",
                    "credentials",
                    "permissions",
                    "sync_success",
                ]
                .map(String::from)
                .to_vec(),
            ),
            headers: vec![WebhookHeader {
                key: "Unipile-Auth".into(),
                value: secret.into(),
            }],
        }
    }
}

/// One custom delivery header.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookHeader {
    /// Header name.
    pub key: String,
    /// Header value.
    pub value: String,
}

/// `{"object":"WebhookCreated","webhook_id":…}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookCreated {
    /// `WebhookCreated`.
    pub object: String,
    /// New webhook id.
    pub webhook_id: String,
}

/// `GET /api/v1/webhooks` envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookList {
    /// `WebhookList`.
    pub object: String,
    /// Webhooks.
    pub items: Vec<Webhook>,
    /// Next page cursor or null.
    pub cursor: Option<String>,
}

/// A listed webhook (no `source` field in listings).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Webhook {
    /// `Webhook`.
    #[serde(default)]
    pub object: Option<String>,
    /// Webhook id.
    pub id: String,
    /// Its endpoint.
    pub request_url: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
}

/// The account-status webhook delivery body (§10.2) and its inner part. Defined in the
/// domain crate, whose `inbound` parser is what the web tier runs on deliveries.
pub use relink_domain::inbound::{AccountStatusBody, AccountStatusEvent};
