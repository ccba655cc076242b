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
        /// A scheduled loop has not finished a pass for more than two of its intervals.
        ScheduleStale => "schedule.stale",
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

/// Every scheduled loop and its interval in seconds (the reconciler at its default 15
/// minutes), as `starter schedules apply` creates them.
pub const SCHEDULES: &[(&str, u64)] = &[
    (crate::healing::ORPHAN_WATCHER, 3600),
    (crate::healing::CAMPAIGN_SWEEPER, 300),
    (crate::healing::ACCOUNT_RECONCILER, 900),
    (
        crate::emails::EMAIL_SENDER,
        crate::emails::EMAIL_SENDER_INTERVAL_SECS,
    ),
    (
        crate::events::EVENT_DELIVERY,
        crate::events::EVENT_DELIVERY_INTERVAL_SECS,
    ),
    (ALERT_NOTIFIER, ALERT_NOTIFIER_INTERVAL_SECS),
];

/// Slack on top of two intervals before a loop counts as stale (seconds): a deploy or a
/// slow pass is not an outage.
pub const STALE_GRACE_SECS: u64 = 120;

/// The loops whose last finished pass is older than two of their intervals plus
/// [`STALE_GRACE_SECS`]: `(schedule, interval_secs, age_secs)`. `ages` maps a schedule id
/// to (seconds since its last finished pass, its interval as applied); a missing interval
/// is [`SCHEDULES`]' default. A loop that never finished a pass is not judged (a fresh
/// installation), nor is the alert notifier itself, which does the judging (its own
/// staleness shows in `relink_schedule_last_success_age_seconds`).
pub fn stale_schedules(
    ages: &std::collections::BTreeMap<String, (Option<f64>, Option<u64>)>,
) -> Vec<(&'static str, u64, i64)> {
    SCHEDULES
        .iter()
        .filter(|(id, _)| *id != ALERT_NOTIFIER)
        .filter_map(|(id, default_every)| {
            let (age, every) = ages.get(*id)?;
            let age = (*age)? as i64;
            let every = every.unwrap_or(*default_every);
            (age > (2 * every + STALE_GRACE_SECS) as i64).then_some((*id, every, age))
        })
        .collect()
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
    /// Claimed but not attempted: too little of the pass's run was left. Due again once
    /// the short lease is over.
    #[serde(default)]
    pub deferred: Vec<i64>,
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
    fn a_loop_is_stale_after_two_intervals_and_the_grace_and_a_loop_that_never_ran_is_not_judged() {
        let mut ages = std::collections::BTreeMap::new();
        ages.insert("campaign-sweeper".to_string(), (Some(720.0), None));
        ages.insert("event-delivery".to_string(), (Some(141.0), None));
        ages.insert("email-sender".to_string(), (Some(100.0), None));
        ages.insert("orphan-watcher".to_string(), (None, Some(3600)));
        ages.insert("alert-notifier".to_string(), (Some(9999.0), None));
        // The reconciler runs hourly here (RECONCILER_INTERVAL_SECS): 2 h is not stale.
        ages.insert("account-reconciler".to_string(), (Some(7200.0), Some(3600)));
        let stale = stale_schedules(&ages);
        assert_eq!(
            stale,
            vec![("event-delivery", 10, 141)],
            "720 s is exactly two sweeps and the grace; the notifier does not judge itself"
        );
    }

    #[test]
    fn kinds_round_trip_through_their_wire_spelling() {
        for k in AlertKind::ALL {
            assert_eq!(k.as_str().parse::<AlertKind>(), Ok(*k));
        }
        assert!("reconciler.other".parse::<AlertKind>().is_err());
    }
}
