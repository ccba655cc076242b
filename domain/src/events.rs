//! Outbound events to the platform (issue 12): their types, the JSON a receiver gets,
//! and when a failed delivery is tried again. Events are written by the database in the
//! same transaction as the change they describe (migration 0006); the event-delivery
//! workflow posts them, signed by the Standard Webhooks scheme
//! (<https://www.standardwebhooks.com/>: `webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use uuid::Uuid;

use crate::status::ParseError;

crate::status::string_enum!(
    /// What an outbound event says happened (`outbound_events.type`).
    EventType, "event type", {
        /// The account became `reconnect_needed` or `disconnected`.
        AccountDisconnected => "account.disconnected",
        /// The account became `connected` (`data.first_connection` for the first time).
        AccountReconnected => "account.reconnected",
        /// A linking attempt is taking longer than expected.
        AccountLinkingStuck => "account.linking_stuck",
        /// A campaign paused (`data.pause_reasons`).
        CampaignPaused => "campaign.paused",
        /// A campaign resumed.
        CampaignResumed => "campaign.resumed",
        /// A Safe delete of the account's Unipile session was requested.
        SafeDeleteRequested => "safe_delete.requested",
        /// A gate blocked the Safe delete.
        SafeDeleteBlocked => "safe_delete.blocked",
        /// Unipile's DELETE was called and answered.
        SafeDeleteExecuted => "safe_delete.executed",
    }
);

/// Schedule and workflow id of the event delivery (every 10 seconds).
pub const EVENT_DELIVERY: &str = "event-delivery";
/// Interval of the event delivery's Schedule, seconds.
pub const EVENT_DELIVERY_INTERVAL_SECS: u64 = 10;
/// Delay before the first retry of a failed delivery, seconds; it doubles per attempt.
pub const FIRST_RETRY_DELAY_SECS: u64 = 10;
/// The longest delay between two attempts: one hour, in seconds.
pub const MAX_RETRY_DELAY_SECS: u64 = 3600;
/// How long an event is retried after it occurred before it is given up: 3 days, in
/// seconds (the issue asks for at least 24 h).
pub const DELIVERY_WINDOW_SECS: i64 = 3 * 24 * 3600;
/// How long an event is kept once nothing is pending for it: 7 days, in seconds.
pub const RETENTION_SECS: i64 = 7 * 24 * 3600;
/// How long a rotated-out secret keeps signing beside the new one, unless told
/// otherwise: 24 h, in seconds.
pub const DEFAULT_ROTATION_GRACE_SECS: i64 = 24 * 3600;
/// The prefix of an endpoint's signing secret (`whsec_<base64 of 32 random bytes>`).
pub const SECRET_PREFIX: &str = "whsec_";

/// Seconds to wait before the next attempt after `attempts` failed ones (1 → 10 s,
/// 2 → 20 s, … at most 1 h): exponential backoff.
pub fn retry_delay_secs(attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_RETRY_DELAY_SECS
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_DELAY_SECS)
}

/// Whether an HTTP status counts as delivered: only a 2xx does.
pub fn delivered(status: u16) -> bool {
    (200..300).contains(&status)
}

/// The body a receiver gets: `{id, type, occurred_at, workspace_id, data}`. `id` is
/// also the `webhook-id` header, the same on every attempt (receivers deduplicate on
/// it); `data.account_id` and `data.sequence` (increasing per account in commit order;
/// gaps allowed) order one account's events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// `evt_<32 hex digits>`.
    pub id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When the change committed (UTC, RFC 3339).
    pub occurred_at: DateTime<Utc>,
    /// The workspace the event belongs to.
    pub workspace_id: Uuid,
    /// The event's fields, plus `sequence`.
    pub data: serde_json::Value,
}

/// The public id of the event stored as `event_id`: `evt_<32 hex digits>`.
pub fn public_event_id(event_id: Uuid) -> String {
    format!("evt_{}", event_id.simple())
}

/// Input of one event-delivery pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPassInput {
    /// The most deliveries one pass attempts.
    pub batch: i64,
}

impl Default for EventPassInput {
    fn default() -> Self {
        Self { batch: 200 }
    }
}

/// One delivery: which event (its sequence number) to which endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRef {
    /// `outbound_events.id` (the sequence number).
    pub sequence: i64,
    /// The endpoint.
    pub endpoint_id: Uuid,
}

/// What one event-delivery pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPassSummary {
    /// Answered 2xx.
    pub delivered: Vec<DeliveryRef>,
    /// Failed this time; tried again later.
    pub failed: Vec<DeliveryRef>,
    /// Out of their delivery window, or their endpoint was removed: never sent again.
    pub given_up: Vec<DeliveryRef>,
    /// Claimed but not attempted: too little of the pass's run was left (its Schedule
    /// gives it nine tenths of the interval). Due again once the short lease is over.
    #[serde(default)]
    pub deferred: Vec<DeliveryRef>,
    /// Events older than the retention with nothing pending, deleted this pass.
    #[serde(default)]
    pub pruned: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_an_hour() {
        assert_eq!(retry_delay_secs(1), 10);
        assert_eq!(retry_delay_secs(2), 20);
        assert_eq!(retry_delay_secs(3), 40);
        assert_eq!(retry_delay_secs(50), MAX_RETRY_DELAY_SECS);
    }

    #[test]
    fn only_2xx_is_delivered() {
        assert!(delivered(200) && delivered(204) && delivered(299));
        assert!(!delivered(199) && !delivered(301) && !delivered(410) && !delivered(500));
    }

    #[test]
    fn types_round_trip_through_their_wire_spelling() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(*t));
        }
    }
}
