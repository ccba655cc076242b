//! The simulator's in-memory state: accounts, hosted links, webhooks, faults, request log.

use chrono::{DateTime, Utc};
use rand::{Rng, distr::Alphanumeric};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::{collections::BTreeMap, sync::Mutex};

use crate::SimConfig;

pub(crate) struct Shared {
    pub config: SimConfig,
    pub state: Mutex<SimState>,
    pub http: reqwest::Client,
}

impl Shared {
    pub(crate) fn new(config: SimConfig) -> Self {
        Shared {
            config,
            state: Mutex::new(SimState::default()),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Locks the state; a poisoned lock (a panicked handler) is recovered because the
    /// state is plain data with no half-applied invariants across awaits.
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Default)]
pub(crate) struct SimState {
    pub accounts: BTreeMap<String, SimAccount>,
    pub links: BTreeMap<String, SimLink>,
    pub webhooks: BTreeMap<String, SimWebhook>,
    pub faults: Vec<Fault>,
    pub log: Vec<LoggedRequest>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SimAccount {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub member_id: String,
    pub public_identifier: String,
    pub created_at: DateTime<Utc>,
    pub status: String,
}

impl SimAccount {
    /// The account in Unipile's v1 `Account` shape (unipile-api.md §4).
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "object": "Account",
            "type": self.kind,
            "id": self.id,
            "name": self.name,
            "created_at": unipile_time(self.created_at),
            "connection_params": {"im": {
                "id": self.member_id,
                "username": self.name,
                "publicIdentifier": self.public_identifier,
                "premiumId": null,
                "premiumContractId": null,
                "premiumFeatures": [],
                "organizations": []
            }},
            "sources": [{"id": format!("{}_MESSAGING", self.id), "status": self.status}],
            "groups": []
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct SimLink {
    pub id: String,
    pub url: String,
    pub request: Value,
    pub created_at: DateTime<Utc>,
    pub completed: bool,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct SimWebhook {
    pub id: String,
    pub request_url: String,
    pub name: Option<String>,
    pub format: String,
    pub events: Option<Vec<String>>,
    pub headers: Vec<(String, String)>,
}

impl SimWebhook {
    /// Whether this webhook receives `message` (an AccountStatus message such as `OK`).
    /// Without explicit events, Unipile's default set covers everything except
    /// CONNECTING, OK and STOPPED (unipile-api.md §10.1).
    pub(crate) fn wants(&self, message: &str) -> bool {
        let event = message.to_ascii_lowercase();
        match &self.events {
            Some(events) => events.iter().any(|e| e == &event),
            None => !matches!(event.as_str(), "ok" | "connecting" | "stopped"),
        }
    }
}

/// An injected failure for one route (`"GET /api/v1/accounts"`, `"GET /api/v1/accounts/{id}"`,
/// `"DELETE /api/v1/accounts/{id}"`, `"POST /api/v1/hosted/accounts/link"`,
/// `"POST /api/v1/webhooks"`, `"GET /api/v1/webhooks"`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fault {
    /// Route key, method and path template.
    pub route: String,
    /// Status to answer with (0 = no status change, latency only).
    #[serde(default)]
    pub status: u16,
    /// How many matching calls fail (after `skip`); default 1.
    #[serde(default = "one")]
    pub count: u32,
    /// How many matching calls pass untouched first (e.g. 1 to fail the second page).
    #[serde(default)]
    pub skip: u32,
    /// Delay before answering, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// The error `type` of the answer (e.g. `errors/disconnected_account` for a 401
    /// about one account's state); default: the usual type of `status`.
    #[serde(default)]
    pub error_type: Option<String>,
}

fn one() -> u32 {
    1
}

/// One API call the simulator received (control routes are not logged).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// HTTP method.
    pub method: String,
    /// Route key (method + path template), e.g. `POST /api/v1/hosted/accounts/link`.
    pub route: String,
    /// Actual path.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// JSON body, if any.
    pub body: Option<Value>,
    /// Status answered.
    pub status: u16,
    /// When (UTC).
    pub at: DateTime<Utc>,
}

/// Unipile datetime: `YYYY-MM-DDTHH:MM:SS.sssZ`.
pub(crate) fn unipile_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A fresh id in Unipile's observed shape: 22 characters.
pub(crate) fn new_id() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(22)
        .map(char::from)
        .collect()
}

/// A fresh LinkedIn member id in the observed shape: `ACoAA` + 34 characters.
pub(crate) fn new_member_id() -> String {
    let tail: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(34)
        .map(char::from)
        .collect();
    format!("ACoAA{tail}")
}
