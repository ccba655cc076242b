//! The status pill: derived from the row's current fields at read time, never stored
//! (DESIGN.md, "Account states and the pill").

use chrono::{DateTime, Duration, Utc};
use chrono_humanize::HumanTime;
use serde::{Deserialize, Serialize};

use crate::status::{AccountStatus, SourceStatus};

/// How long a row may stay `connecting` before the pill says it is taking longer than
/// expected (DESIGN.md: "connecting, ≥ 5 min" → `linking_slow`).
pub const LINKING_SLOW_AFTER: Duration = Duration::minutes(5);

/// The pill's machine-readable state (the `state` field of `GET /api/accounts`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PillState {
    /// Linked and syncing.
    Connected,
    /// Connecting for less than 5 minutes.
    Linking,
    /// Connecting for 5 minutes or more.
    LinkingSlow,
    /// Linked, but Unipile reports `ERROR` or `STOPPED`.
    SyncInterrupted,
    /// The user must reconnect.
    ReconnectNeeded,
    /// Not linked.
    Disconnected,
}

impl PillState {
    /// Every state, in declaration order.
    pub const ALL: &'static [PillState] = &[
        PillState::Connected,
        PillState::Linking,
        PillState::LinkingSlow,
        PillState::SyncInterrupted,
        PillState::ReconnectNeeded,
        PillState::Disconnected,
    ];

    /// The state's wire name, as `GET /api/accounts` serves it (`"linking_slow"`).
    pub fn as_str(self) -> &'static str {
        match self {
            PillState::Connected => "connected",
            PillState::Linking => "linking",
            PillState::LinkingSlow => "linking_slow",
            PillState::SyncInterrupted => "sync_interrupted",
            PillState::ReconnectNeeded => "reconnect_needed",
            PillState::Disconnected => "disconnected",
        }
    }
}

/// The pill's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PillTone {
    /// Healthy.
    Green,
    /// In progress (shown with a spinner).
    Blue,
    /// Needs attention.
    Amber,
    /// Inactive.
    Grey,
}

/// A derived pill: `{state, label, tone}` as served by `GET /api/accounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Pill {
    /// Machine-readable state.
    pub state: PillState,
    /// Human label, e.g. "Connected · last activity 3 hours ago".
    pub label: String,
    /// Colour.
    pub tone: PillTone,
}

/// The row fields the pill is derived from (and nothing else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PillInput {
    /// `linkedin_accounts.status`.
    pub status: AccountStatus,
    /// `linkedin_accounts.provider_status`: the last Unipile source status seen.
    pub provider_status: Option<SourceStatus>,
    /// `linkedin_accounts.connecting_since` (UTC).
    pub connecting_since: Option<DateTime<Utc>>,
    /// `linkedin_accounts.last_activity_at` (UTC).
    pub last_activity_at: Option<DateTime<Utc>>,
}

/// Derives the pill for `row` as of `now` (UTC), following the table in DESIGN.md.
/// A `connecting` row without `connecting_since` counts as slow: a row whose linking
/// start is unknown cannot honestly claim to be "finishing".
pub fn derive_pill(row: &PillInput, now: DateTime<Utc>) -> Pill {
    let pill = |state, label: String, tone| Pill { state, label, tone };
    match row.status {
        AccountStatus::Connected if row.provider_status.is_some_and(SourceStatus::is_blip) => pill(
            PillState::SyncInterrupted,
            "Connected · sync interrupted".into(),
            PillTone::Amber,
        ),
        AccountStatus::Connected => {
            let activity = match row.last_activity_at {
                // Future timestamps (clock skew) read as "now" rather than "in 2 minutes".
                Some(at) => HumanTime::from(at.min(now) - now).to_string(),
                None => "none yet".to_string(),
            };
            pill(
                PillState::Connected,
                format!("Connected · last activity {activity}"),
                PillTone::Green,
            )
        }
        AccountStatus::Connecting => match row.connecting_since {
            Some(since) if now - since < LINKING_SLOW_AFTER => pill(
                PillState::Linking,
                "Linking — finishing connection".into(),
                PillTone::Blue,
            ),
            _ => pill(
                PillState::LinkingSlow,
                "Linking — taking longer than expected".into(),
                PillTone::Amber,
            ),
        },
        AccountStatus::ReconnectNeeded => pill(
            PillState::ReconnectNeeded,
            "Reconnect needed".into(),
            PillTone::Amber,
        ),
        AccountStatus::Disconnected => pill(
            PillState::Disconnected,
            "Disconnected".into(),
            PillTone::Grey,
        ),
    }
}

/// `first_connected_at` as shown under the pill: `DD/MM/YYYY` in UTC
/// ("First connected on 30/04/2026"). Historical context only; never feeds the pill.
pub fn first_connected_on(at: DateTime<Utc>) -> String {
    at.format("%d/%m/%Y").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
    }

    fn row(status: AccountStatus) -> PillInput {
        PillInput {
            status,
            provider_status: None,
            connecting_since: None,
            last_activity_at: None,
        }
    }

    #[test]
    fn state_names_are_the_wire_names() {
        for s in PillState::ALL.iter().copied() {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn connected_shows_last_activity_in_green() {
        let mut r = row(AccountStatus::Connected);
        r.provider_status = Some(SourceStatus::Ok);
        r.last_activity_at = Some(now() - Duration::hours(3));
        let p = derive_pill(&r, now());
        assert_eq!(p.state, PillState::Connected);
        assert_eq!(p.tone, PillTone::Green);
        assert_eq!(p.label, "Connected · last activity 3 hours ago");
    }

    #[test]
    fn connected_without_activity_says_so() {
        let p = derive_pill(&row(AccountStatus::Connected), now());
        assert_eq!(p.label, "Connected · last activity none yet");
    }

    #[test]
    fn connecting_under_five_minutes_is_linking_blue() {
        let mut r = row(AccountStatus::Connecting);
        r.connecting_since = Some(now() - Duration::minutes(5) + Duration::milliseconds(1));
        let p = derive_pill(&r, now());
        assert_eq!((p.state, p.tone), (PillState::Linking, PillTone::Blue));
        assert_eq!(p.label, "Linking — finishing connection");
    }

    #[test]
    fn connecting_exactly_five_minutes_is_slow_amber() {
        let mut r = row(AccountStatus::Connecting);
        r.connecting_since = Some(now() - Duration::minutes(5));
        let p = derive_pill(&r, now());
        assert_eq!((p.state, p.tone), (PillState::LinkingSlow, PillTone::Amber));
        assert_eq!(p.label, "Linking — taking longer than expected");
    }

    #[test]
    fn connecting_long_ago_is_slow() {
        let mut r = row(AccountStatus::Connecting);
        r.connecting_since = Some(now() - Duration::hours(2));
        assert_eq!(derive_pill(&r, now()).state, PillState::LinkingSlow);
    }

    #[test]
    fn connected_with_error_or_stopped_is_sync_interrupted() {
        for s in [SourceStatus::Error, SourceStatus::Stopped] {
            let mut r = row(AccountStatus::Connected);
            r.provider_status = Some(s);
            let p = derive_pill(&r, now());
            assert_eq!(
                (p.state, p.tone),
                (PillState::SyncInterrupted, PillTone::Amber)
            );
            assert_eq!(p.label, "Connected · sync interrupted");
        }
    }

    #[test]
    fn reconnect_needed_is_amber() {
        let p = derive_pill(&row(AccountStatus::ReconnectNeeded), now());
        assert_eq!(
            (p.state, p.tone),
            (PillState::ReconnectNeeded, PillTone::Amber)
        );
        assert_eq!(p.label, "Reconnect needed");
    }

    #[test]
    fn disconnected_is_grey_even_if_provider_says_ok() {
        let mut r = row(AccountStatus::Disconnected);
        r.provider_status = Some(SourceStatus::Ok);
        let p = derive_pill(&r, now());
        assert_eq!((p.state, p.tone), (PillState::Disconnected, PillTone::Grey));
        assert_eq!(p.label, "Disconnected");
    }

    #[test]
    fn first_connected_date_is_day_month_year() {
        let at = Utc.with_ymd_and_hms(2026, 4, 30, 23, 59, 0).unwrap();
        assert_eq!(first_connected_on(at), "30/04/2026");
    }
}
