//! Admin alerts: what went wrong ([`AlertKind`]) and how urgently a person must look
//! ([`Severity`]). Stored in `linkedin_admin_alerts` by their wire spelling.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

use crate::status::ParseError;

crate::status::string_enum!(
    /// What an admin alert is about; each is raised by one rule.
    AlertKind, "alert kind", {
        /// An orphaned linking row could be matched to more than one Unipile account
        /// (orphan watcher, expiry check): nothing was linked.
        OrphanAmbiguous => "orphan.ambiguous_match",
        /// The reconciler's sanity gate held a pass that would flip too many rows.
        SanityGate => "reconciler.sanity_gate",
        /// The reconciler would request too many Unipile deletes; it requested none.
        DeleteSanityGate => "reconciler.delete_sanity_gate",
        /// Unipile's listing and a fresh single-account read disagreed: rows untouched.
        ListingDisagrees => "reconciler.listing_disagrees",
        /// A pass stopped because Unipile's listing could not be read completely.
        PassAborted => "healing.pass_aborted",
        /// Unipile refused relink's own API key (401).
        Unauthorized => "unipile.unauthorized",
        /// A Safe delete ran, was blocked or was cancelled (`[SENSITIVE-OP]`).
        UnipileDelete => "unipile.delete",
    }
);

crate::status::string_enum!(
    /// How urgently a person must look at an alert.
    Severity, "alert severity", {
        /// For the record (e.g. a Safe delete cancelled in its undo window).
        Info => "info",
        /// Something to review today.
        Warning => "warning",
        /// Something to act on now.
        Critical => "critical",
    }
);

/// Schedule and workflow id of the alert notifier (every 30 seconds).
pub const ALERT_NOTIFIER: &str = "alert-notifier";
/// Interval of the alert notifier's Schedule, seconds.
pub const ALERT_NOTIFIER_INTERVAL_SECS: u64 = 30;
/// How long after one notification another alert with the same notification key is not
/// sent to the operator channel (seconds): one hour.
pub const NOTIFY_DEDUP_WINDOW_SECS: i64 = 3600;
/// Failed notification attempts after which an alert is no longer sent (it stays in
/// `starter alerts list`).
pub const MAX_NOTIFY_ATTEMPTS: i32 = 20;

/// The key that deduplicates notifications of an alert: the same loop's aborted passes
/// share one (`healing.pass_aborted:<pass>`, as each run has its own dedup key); any other
/// alert uses its dedup key.
pub fn notify_key(kind: AlertKind, dedup_key: &str, payload: &serde_json::Value) -> String {
    match (
        kind,
        payload.get("pass").and_then(serde_json::Value::as_str),
    ) {
        (AlertKind::PassAborted, Some(pass)) => format!("{kind}:{pass}"),
        _ => dedup_key.to_string(),
    }
}

/// The Slack-compatible JSON an alert is posted as (`{"text": …}`; Slack, Mattermost,
/// Rocket.Chat and Microsoft Teams' Slack-compatible hooks take it).
pub fn slack_message(
    id: i64,
    kind: AlertKind,
    severity: Severity,
    message: &str,
) -> serde_json::Value {
    let level = severity.as_str().to_uppercase();
    serde_json::json!({
        "text": format!("*[{level}]* relink alert #{id} `{kind}`\n{message}\n(`starter alerts ack {id}` once handled; it is acknowledged by itself when its condition heals)"),
    })
}

/// Input of one alert-notifier pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertPassInput {
    /// The most alerts one pass sends.
    pub batch: i64,
}

impl Default for AlertPassInput {
    fn default() -> Self {
        Self { batch: 50 }
    }
}

/// What one alert-notifier pass did, by alert id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertPassSummary {
    /// Posted to the operator channel (2xx).
    pub notified: Vec<i64>,
    /// Not sent: another alert with the same notification key went out within the hour.
    pub suppressed: Vec<i64>,
    /// Not sent: acknowledged (healed) before it was sent.
    pub healed: Vec<i64>,
    /// Failed this time; tried again later.
    pub failed: Vec<i64>,
    /// True when the worker has no operator channel configured (`ALERT_WEBHOOK_URL`).
    pub not_configured: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loops_aborted_passes_share_one_notification_key() {
        let p = serde_json::json!({"pass": "account-reconciler", "run": "r1"});
        assert_eq!(
            notify_key(AlertKind::PassAborted, "healing.pass_aborted:r1", &p),
            "healing.pass_aborted:account-reconciler"
        );
        let q = serde_json::json!({"pass": "orphan-watcher", "run": "r2"});
        assert_ne!(
            notify_key(AlertKind::PassAborted, "healing.pass_aborted:r2", &q),
            notify_key(AlertKind::PassAborted, "healing.pass_aborted:r1", &p),
            "another loop's abort is its own notification"
        );
        assert_eq!(notify_key(AlertKind::SanityGate, "k", &p), "k");
    }

    #[test]
    fn kinds_round_trip_through_their_wire_spelling() {
        for k in AlertKind::ALL {
            assert_eq!(k.as_str().parse::<AlertKind>(), Ok(*k));
        }
        assert!("reconciler.other".parse::<AlertKind>().is_err());
    }
}
