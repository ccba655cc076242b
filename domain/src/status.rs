//! Account row statuses, Unipile source statuses and campaign pause reasons.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// Error for a raw value that is not one of a closed set (or not a valid id).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The value is not valid for `what`; the caller should reject the input (4xx),
    /// or treat it as data corruption when it came from our own database.
    #[error("invalid {what}: {value:?}")]
    Invalid {
        /// What was being parsed, e.g. "account status".
        what: &'static str,
        /// The offending value (truncated to 64 characters).
        value: String,
    },
}

macro_rules! string_enum {
    ($(#[$m:meta])* $t:ident, $what:literal, { $($(#[$vm:meta])* $v:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        pub enum $t { $($(#[$vm])* #[serde(rename = $s)] #[schema(rename = $s)] $v),+ }
        impl $t {
            /// Every value, in declaration order.
            pub const ALL: &'static [$t] = &[$($t::$v),+];
            /// The wire / database spelling.
            pub fn as_str(self) -> &'static str { match self { $($t::$v => $s),+ } }
        }
        impl FromStr for $t {
            type Err = ParseError;
            /// Parses the exact wire spelling; anything else is [`ParseError::Invalid`].
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($s => Ok($t::$v),)+ _ => Err(ParseError::Invalid { what: $what, value: s.chars().take(64).collect() }) }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        /// Compares with the wire spelling (`status == "paused"`).
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool { self.as_str() == *other }
        }
    };
}

pub(crate) use string_enum;

string_enum!(
    /// `linkedin_accounts.status` (DESIGN.md, "Account states and the pill").
    AccountStatus, "account status", {
        /// A hosted-auth link is out; waiting for the user to finish logging in.
        Connecting => "connecting",
        /// Linked to a live Unipile account.
        Connected => "connected",
        /// Unipile says the session needs a fresh login (`CREDENTIALS`/`PERMISSIONS`).
        ReconnectNeeded => "reconnect_needed",
        /// Not linked (never linked, or torn down).
        Disconnected => "disconnected",
    }
);

string_enum!(
    /// Unipile `sources[].status` ("AccountSourceServiceStatus", unipile-api.md §5).
    SourceStatus, "source status", {
        /// Service running normally: the session is live.
        Ok => "OK",
        /// Temporary: connecting.
        Connecting => "CONNECTING",
        /// The user must log in again.
        Credentials => "CREDENTIALS",
        /// Permissions missing on the host device; also needs a fresh login.
        Permissions => "PERMISSIONS",
        /// Sync stopped after an unexpected error (a blip until it lasts).
        Error => "ERROR",
        /// Sync stopped (a blip until it lasts).
        Stopped => "STOPPED",
    }
);

impl SourceStatus {
    /// True for the statuses that need the user to log in again (DESIGN.md:
    /// "`CREDENTIALS` and `PERMISSIONS` mean a fresh login is needed").
    pub fn needs_login(self) -> bool {
        matches!(self, SourceStatus::Credentials | SourceStatus::Permissions)
    }

    /// True for the statuses shown as "sync interrupted" on a connected row.
    pub fn is_blip(self) -> bool {
        matches!(self, SourceStatus::Error | SourceStatus::Stopped)
    }

    /// Combines several sources into one account-level status: the worst wins
    /// (a login problem beats a blip beats connecting beats OK). `None` for no sources.
    pub fn worst<I: IntoIterator<Item = SourceStatus>>(it: I) -> Option<SourceStatus> {
        fn rank(s: SourceStatus) -> u8 {
            match s {
                SourceStatus::Ok => 0,
                SourceStatus::Connecting => 1,
                SourceStatus::Stopped => 2,
                SourceStatus::Error => 3,
                SourceStatus::Permissions => 4,
                SourceStatus::Credentials => 5,
            }
        }
        it.into_iter().max_by_key(|s| rank(*s))
    }
}

string_enum!(
    /// `campaign_pauses.reason` (DESIGN.md, "Pausing and resuming").
    PauseReason, "pause reason", {
        /// The campaign's LinkedIn account is disconnected; resumes by itself on relink.
        LinkedinAccountDisconnected => "linkedin_account_disconnected",
        /// Too many send failures; cleared by the user's Resume.
        LinkedinHighFailureRate => "linkedin_high_failure_rate",
        /// LinkedIn restricted the account; cleared by the user's Resume.
        AccountRestricted => "account_restricted",
        /// The workspace's subscription ended; resumes by itself on renewal.
        SubscriptionInactive => "subscription_inactive",
        /// The user paused it.
        Manual => "manual",
        /// The sender detected a loop; cleared by the user's Resume.
        StuckLoop => "stuck_loop",
    }
);

impl PauseReason {
    /// The reason in the user's words, as the dashboard shows it under the campaign (the
    /// product guide's pause hints).
    pub fn hint(self) -> &'static str {
        match self {
            PauseReason::LinkedinAccountDisconnected => {
                "LinkedIn account disconnected — resumes by itself after you reconnect"
            }
            PauseReason::LinkedinHighFailureRate => {
                "Too many LinkedIn actions failed — check the account, then Resume"
            }
            PauseReason::AccountRestricted => {
                "LinkedIn restricted the account — Resume once LinkedIn lifts it"
            }
            PauseReason::SubscriptionInactive => {
                "Subscription ended — resumes by itself when it is renewed"
            }
            PauseReason::Manual => "Paused by you",
            PauseReason::StuckLoop => {
                "Stopped: the sequence was repeating itself — Resume to retry"
            }
        }
    }
}

string_enum!(
    /// `campaigns.status`: a campaign is paused exactly while it has a pause reason
    /// (`campaign_pauses`; the database checks that at commit).
    CampaignStatus, "campaign status", {
        /// Sending.
        Active => "active",
        /// Not sending: at least one [`PauseReason`] holds.
        Paused => "paused",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_their_wire_spelling() {
        for s in AccountStatus::ALL {
            assert_eq!(s.as_str().parse::<AccountStatus>(), Ok(*s));
        }
        for s in SourceStatus::ALL {
            assert_eq!(s.as_str().parse::<SourceStatus>(), Ok(*s));
        }
        for r in PauseReason::ALL {
            assert_eq!(r.as_str().parse::<PauseReason>(), Ok(*r));
        }
        assert!(
            "ok".parse::<SourceStatus>().is_err(),
            "source statuses are upper case"
        );
        assert!(
            "IN_APP_VALIDATION".parse::<SourceStatus>().is_err(),
            "a checkpoint, not a status"
        );
    }

    #[test]
    fn worst_source_wins() {
        use SourceStatus::*;
        assert_eq!(
            SourceStatus::worst([Ok, Credentials, Error]),
            Some(Credentials)
        );
        assert_eq!(SourceStatus::worst([Ok, Stopped]), Some(Stopped));
        assert_eq!(SourceStatus::worst([]), None);
    }
}
