//! What a read of Unipile means for a row, in one place (issue 9, "the truth under
//! concurrency"). Every writer whose write a Unipile read justifies — the reconciler,
//! the orphan watcher, the account-status sync, the link expiry check and the notify
//! callback — asks [`decide`] what the read means and hands the answer to the store's
//! one compare-and-set helper, which writes it only while the row's version is still the
//! one read before Unipile was asked.
//!
//! The matching of a first connection whose notify callback was lost is here too
//! ([`match_first_connection`]): it decides on the linking intervals of every row of the
//! installation, because Unipile's listing spans every workspace.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::{AccountId, AccountStatus, SourceStatus, UnipileAccountId};

/// What a fresh read of Unipile says about one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "seen", content = "source_status", rename_all = "snake_case")]
pub enum Seen {
    /// The account exists with this (worst) source status.
    Source(SourceStatus),
    /// The account does not exist: a 404 on `GET /accounts/{id}`, or absent from a
    /// complete listing (which a caller confirms with a GET before writing).
    Gone,
}

/// What to write for one row after a read of Unipile ([`decide`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", content = "source_status", rename_all = "snake_case")]
pub enum Decision {
    /// Nothing: the read says nothing the row does not already show, or the row is in
    /// the user's hands (`connecting`: the Reconnect workflow decides).
    Nothing,
    /// Record the source status, no status flip (a blip is watched from here; `OK` on a
    /// `connected` row resumes what a long blip paused).
    Record(SourceStatus),
    /// `connected` → `reconnect_needed`: campaigns paused, one reconnect email queued.
    NeedsLogin(SourceStatus),
    /// `connected` or `reconnect_needed` → `disconnected`: the session is gone from
    /// Unipile (campaigns paused; the reconciler then asks for a gated Safe delete).
    Gone,
    /// Back to `connected` through the one relink path (the store's `relink`).
    Relink(SourceStatus),
}

impl Decision {
    /// True for the flips away from `connected` and for every "gone" flip: the ones a
    /// listing alone may not justify (a fresh single-account GET must agree) and the
    /// sanity gate counts.
    pub fn is_away(self) -> bool {
        matches!(self, Decision::NeedsLogin(_) | Decision::Gone)
    }

    /// The row status this decision writes, if it flips one.
    pub fn target(self) -> Option<AccountStatus> {
        match self {
            Decision::NeedsLogin(_) => Some(AccountStatus::ReconnectNeeded),
            Decision::Gone => Some(AccountStatus::Disconnected),
            Decision::Relink(_) => Some(AccountStatus::Connected),
            Decision::Nothing | Decision::Record(_) => None,
        }
    }
}

/// The rule: what `seen` means for a row in `status` that names a Unipile session.
/// `may_recover` is false when relink itself took the row down (its workspace's
/// subscription ended): a live session then does not bring it back.
///
/// - `connected`: a login problem (`CREDENTIALS`/`PERMISSIONS`) flips to
///   `reconnect_needed`; gone flips to `disconnected`; anything else is recorded.
/// - `reconnect_needed`: `OK` relinks; gone flips to `disconnected` (there is no
///   session left to log in to); other statuses are recorded.
/// - `disconnected`: `OK` relinks; other statuses are recorded.
/// - `connecting`: the user is linking; statuses are recorded (so that a relink decided
///   on an older read loses its compare-and-set), never flipped.
pub fn decide(status: AccountStatus, seen: Seen, may_recover: bool) -> Decision {
    match (status, seen) {
        (AccountStatus::Connected, Seen::Source(s)) if s.needs_login() => Decision::NeedsLogin(s),
        (AccountStatus::Connected | AccountStatus::ReconnectNeeded, Seen::Gone) => Decision::Gone,
        (_, Seen::Gone) => Decision::Nothing,
        (AccountStatus::ReconnectNeeded, Seen::Source(SourceStatus::Ok)) => {
            Decision::Relink(SourceStatus::Ok)
        }
        (AccountStatus::Disconnected, Seen::Source(SourceStatus::Ok)) if may_recover => {
            Decision::Relink(SourceStatus::Ok)
        }
        (_, Seen::Source(s)) => Decision::Record(s),
    }
}

/// Every `(row status, seen, may_recover)` a row can meet, with what [`decide`] says of
/// it: the rule over its whole (finite) domain, 4 statuses × 7 seens × 2 = 56 entries,
/// in a fixed order. A pass that joins a staged listing against staged rows in
/// PostgreSQL looks decisions up here instead of restating the rule in SQL.
pub fn decision_table() -> Vec<(AccountStatus, Seen, bool, Decision)> {
    let seens =
        std::iter::once(Seen::Gone).chain(SourceStatus::ALL.iter().map(|s| Seen::Source(*s)));
    let mut table = Vec::new();
    for seen in seens {
        for status in AccountStatus::ALL {
            for may_recover in [false, true] {
                table.push((
                    *status,
                    seen,
                    may_recover,
                    decide(*status, seen, may_recover),
                ));
            }
        }
    }
    table
}

/// True for the Unipile error types that describe one account's state rather than our
/// API key or the request: `errors/disconnected_account` and the `errors/*credentials*`
/// types except `errors/missing_credentials` (no or a wrong `X-API-KEY`)
/// (unipile-api.md §6.3). Such an error makes relink re-read the account at once.
pub fn is_account_state_error(error_type: &str) -> bool {
    error_type == "errors/disconnected_account"
        || (error_type.starts_with("errors/")
            && error_type.contains("credentials")
            && error_type != "errors/missing_credentials")
}

/// The failure-rate window (issue 9): a campaign is paused with
/// `linkedin_high_failure_rate` when, among its last [`FAILURE_WINDOW_SENDS`] reported
/// outcomes within [`FAILURE_WINDOW_SECS`], at least [`FAILURE_MIN_COUNT`] failed and
/// failures are at least [`FAILURE_MIN_PERCENT`] % of them.
pub const FAILURE_WINDOW_SENDS: i64 = 20;
/// The failure-rate window's look-back: one hour, in seconds.
pub const FAILURE_WINDOW_SECS: i64 = 3600;
/// At least this many failures in the window...
pub const FAILURE_MIN_COUNT: i64 = 5;
/// ... and at least this percentage of the window's outcomes.
pub const FAILURE_MIN_PERCENT: i64 = 30;

/// True when `failures` of `outcomes` (the window) trip the failure-rate pause.
pub fn failure_rate_trips(failures: i64, outcomes: i64) -> bool {
    failures >= FAILURE_MIN_COUNT && failures * 100 >= FAILURE_MIN_PERCENT * outcomes
}

/// A Unipile account counts as appearing inside a linking interval that began up to
/// this long after it was created, or ended up to this long before (clock skew between
/// Unipile and us). Larger skew only makes more matches ambiguous.
pub const CREATION_SKEW_SECS: i64 = 60;

/// One row's linking interval: it was `connecting` from `start` until `end` (UTC;
/// `None` while it still is). Read from the audit log and the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkingInterval {
    /// The row.
    pub account: AccountId,
    /// Flip to `connecting` (UTC).
    pub start: DateTime<Utc>,
    /// Flip away from `connecting` (UTC), or `None` while linking.
    pub end: Option<DateTime<Utc>>,
}

impl LinkingInterval {
    /// True when the row was linking at `t`, give or take `skew`.
    pub fn covers(&self, t: DateTime<Utc>, skew: Duration) -> bool {
        self.start <= t + skew && self.end.is_none_or(|e| e >= t - skew)
    }
}

/// An unclaimed LinkedIn account of Unipile's listing (no row holds it, no Safe delete
/// is removing it), as the first-connection matching sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unclaimed<'a> {
    /// Unipile account id.
    pub id: &'a str,
    /// `created_at` (UTC), when Unipile gave one.
    pub created_at: Option<DateTime<Utc>>,
    /// Its source status is `OK`.
    pub live: bool,
    /// LinkedIn member id (`connection_params.im.id`), when known.
    pub member_id: Option<&'a str>,
}

/// The outcome of matching one first connection to its Unipile account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "match", rename_all = "snake_case")]
pub enum FirstConnectionMatch {
    /// Exactly one live candidate, and no other row was linking when it appeared.
    One {
        /// The Unipile account id.
        unipile_account_id: UnipileAccountId,
    },
    /// No candidate (yet), or the single candidate is not live yet.
    NoCandidate,
    /// Several candidates, or other rows linking when the candidate appeared: alert,
    /// never link.
    Ambiguous {
        /// Unclaimed LinkedIn accounts that appeared while the row was linking.
        accounts: usize,
        /// Other rows (any workspace) linking when the single candidate appeared.
        other_rows: usize,
    },
}

/// Matches the first connection `row` (linking since `since`, knowing LinkedIn identity
/// `member` if any) against the `unclaimed` accounts of a complete listing, given the
/// linking `intervals` of every row of the installation (every workspace).
///
/// The row's known identity, held by exactly one live unclaimed account, matches it.
/// Otherwise exactly one unclaimed account must have appeared (`created_at`) while the
/// row was linking, and no other row may have been linking at that moment: a session
/// created while two rows were linking could be either's, and Unipile keeps nothing
/// that tells them apart. A single candidate that is not live yet is
/// [`FirstConnectionMatch::NoCandidate`] (the next pass looks again).
pub fn match_first_connection(
    row: AccountId,
    since: DateTime<Utc>,
    member: Option<&str>,
    unclaimed: &[Unclaimed<'_>],
    intervals: &[LinkingInterval],
) -> FirstConnectionMatch {
    let skew = Duration::seconds(CREATION_SKEW_SECS);
    if let Some(member) = member {
        let by_identity: Vec<&Unclaimed<'_>> = unclaimed
            .iter()
            .filter(|a| a.live && a.member_id == Some(member))
            .collect();
        if let [only] = by_identity.as_slice() {
            return FirstConnectionMatch::One {
                unipile_account_id: only.id.to_string().into(),
            };
        }
    }
    // Every unclaimed account that appeared in the window counts, live or not: a second
    // session still CONNECTING makes the live one no less ambiguous.
    let in_window: Vec<&Unclaimed<'_>> = unclaimed
        .iter()
        .filter(|a| a.created_at.is_some_and(|c| c >= since - skew))
        .collect();
    let only = match in_window.as_slice() {
        [] => return FirstConnectionMatch::NoCandidate,
        [only] => *only,
        more => {
            return FirstConnectionMatch::Ambiguous {
                accounts: more.len(),
                other_rows: 0,
            };
        }
    };
    let Some(appeared) = only.created_at else {
        return FirstConnectionMatch::NoCandidate;
    };
    let mut others: Vec<AccountId> = intervals
        .iter()
        .filter(|i| i.account != row && i.covers(appeared, skew))
        .map(|i| i.account)
        .collect();
    others.sort_by_key(|a| a.0);
    others.dedup();
    if !others.is_empty() {
        return FirstConnectionMatch::Ambiguous {
            accounts: 1,
            other_rows: others.len(),
        };
    }
    if !only.live {
        return FirstConnectionMatch::NoCandidate;
    }
    FirstConnectionMatch::One {
        unipile_account_id: only.id.to_string().into(),
    }
}

/// How a row came back to `connected`. Every path ends in the store's one relink
/// (`relink_store::relink`); the path is what its audit row and log line name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelinkPath {
    /// Unipile's notify_url callback after hosted auth.
    HostedAuthCallback,
    /// The Reconnect workflow's check at link expiry found the session live.
    LinkExpiryCheck,
    /// The hourly orphan watcher matched a row stuck linking to its session.
    OrphanWatcher,
    /// The reconciler saw the row's own session live again.
    Reconciler,
    /// An account-status webhook's re-read saw the row's own session live again.
    AccountStatusSync,
}

impl RelinkPath {
    /// The audit action of a relink on this path (the spelling audit rows have always
    /// carried).
    pub fn audit_action(self) -> &'static str {
        match self {
            RelinkPath::HostedAuthCallback | RelinkPath::LinkExpiryCheck => "reconnect.linked",
            RelinkPath::OrphanWatcher => "orphan.relinked",
            RelinkPath::Reconciler => "reconciler.flip",
            RelinkPath::AccountStatusSync => "unipile.account_status",
        }
    }

    /// The path's name in logs, e.g. `orphan_watcher`.
    pub fn as_str(self) -> &'static str {
        match self {
            RelinkPath::HostedAuthCallback => "hosted_auth_callback",
            RelinkPath::LinkExpiryCheck => "link_expiry_check",
            RelinkPath::OrphanWatcher => "orphan_watcher",
            RelinkPath::Reconciler => "reconciler",
            RelinkPath::AccountStatusSync => "account_status_sync",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    #[test]
    fn the_failure_rate_needs_five_failures_and_thirty_percent() {
        assert!(!failure_rate_trips(4, 4));
        assert!(failure_rate_trips(5, 5));
        assert!(failure_rate_trips(6, 20));
        assert!(!failure_rate_trips(5, 20), "25 % is below the rate");
        assert!(is_account_state_error("errors/disconnected_account"));
        assert!(is_account_state_error("errors/expired_credentials"));
        assert!(!is_account_state_error("errors/missing_credentials"));
        assert!(!is_account_state_error("errors/too_many_requests"));
    }

    #[test]
    fn the_decision_table_covers_every_input_once_as_decide_says() {
        let table = decision_table();
        assert_eq!(
            table.len(),
            AccountStatus::ALL.len() * (SourceStatus::ALL.len() + 1) * 2
        );
        let mut keys: Vec<_> = table
            .iter()
            .map(|(s, seen, m, _)| format!("{s}/{seen:?}/{m}"))
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), table.len(), "an input appears twice");
        for (status, seen, may_recover, d) in table {
            assert_eq!(d, decide(status, seen, may_recover));
        }
    }

    #[test]
    fn a_listing_never_flips_a_row_the_user_is_linking() {
        for s in SourceStatus::ALL {
            let d = decide(AccountStatus::Connecting, Seen::Source(*s), true);
            assert_eq!(d.target(), None, "{s}");
        }
        assert_eq!(
            decide(AccountStatus::Connecting, Seen::Gone, true),
            Decision::Nothing
        );
    }

    #[test]
    fn only_a_connected_row_flips_away() {
        use SourceStatus::*;
        assert_eq!(
            decide(AccountStatus::Connected, Seen::Source(Credentials), true),
            Decision::NeedsLogin(Credentials)
        );
        assert_eq!(
            decide(AccountStatus::Connected, Seen::Source(Permissions), true),
            Decision::NeedsLogin(Permissions)
        );
        assert_eq!(
            decide(AccountStatus::Connected, Seen::Gone, true),
            Decision::Gone
        );
        assert_eq!(
            decide(AccountStatus::Connected, Seen::Source(Error), true),
            Decision::Record(Error)
        );
        for st in [AccountStatus::ReconnectNeeded, AccountStatus::Disconnected] {
            for s in SourceStatus::ALL {
                assert!(!decide(st, Seen::Source(*s), true).is_away(), "{st} {s}");
            }
        }
        assert_eq!(
            decide(AccountStatus::ReconnectNeeded, Seen::Gone, true),
            Decision::Gone,
            "no session is left to log in to"
        );
        assert_eq!(
            decide(AccountStatus::Disconnected, Seen::Gone, true),
            Decision::Nothing
        );
    }

    #[test]
    fn a_live_session_brings_back_a_reconnect_needed_or_disconnected_row() {
        assert_eq!(
            decide(
                AccountStatus::ReconnectNeeded,
                Seen::Source(SourceStatus::Ok),
                true
            ),
            Decision::Relink(SourceStatus::Ok)
        );
        assert_eq!(
            decide(
                AccountStatus::Disconnected,
                Seen::Source(SourceStatus::Ok),
                true
            ),
            Decision::Relink(SourceStatus::Ok)
        );
        assert_eq!(
            decide(
                AccountStatus::Disconnected,
                Seen::Source(SourceStatus::Ok),
                false
            ),
            Decision::Record(SourceStatus::Ok),
            "a subscription that ended keeps its rows down"
        );
    }

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(1_000_000 + min)
    }

    fn acct(n: u128) -> AccountId {
        AccountId(Uuid::from_u128(n))
    }

    #[test]
    fn a_session_created_while_two_rows_of_any_workspace_link_is_nobodys() {
        // Seat A (workspace A) links since minute 0, seat B (workspace B) since 19; A's
        // user creates a session at minute 24. B's orphan check must not take it.
        let a = acct(1);
        let b = acct(2);
        let intervals = [
            LinkingInterval {
                account: a,
                start: at(0),
                end: None,
            },
            LinkingInterval {
                account: b,
                start: at(19),
                end: None,
            },
        ];
        let unclaimed = [Unclaimed {
            id: "s",
            created_at: Some(at(24)),
            live: true,
            member_id: None,
        }];
        let m = match_first_connection(b, at(19), None, &unclaimed, &intervals);
        assert_eq!(
            m,
            FirstConnectionMatch::Ambiguous {
                accounts: 1,
                other_rows: 1
            }
        );
        // A's interval ended (its link expired) after the session appeared: still A's.
        let intervals = [
            LinkingInterval {
                account: a,
                start: at(0),
                end: Some(at(25)),
            },
            LinkingInterval {
                account: b,
                start: at(19),
                end: None,
            },
        ];
        let m = match_first_connection(b, at(19), None, &unclaimed, &intervals);
        assert!(matches!(m, FirstConnectionMatch::Ambiguous { .. }));
        // Alone, B gets it.
        let m = match_first_connection(b, at(19), None, &unclaimed, &intervals[1..]);
        assert_eq!(
            m,
            FirstConnectionMatch::One {
                unipile_account_id: "s".into()
            }
        );
    }

    /// One simulated installation: rows of several workspaces link in intervals; each
    /// session is created by the user of the one row it belongs to, while that row
    /// links; some notify callbacks are lost (the session stays unclaimed).
    #[derive(Debug, Clone)]
    struct Scenario {
        /// (row, start minute, length in minutes or open, creates a session at offset)
        rows: Vec<(u8, i64, Option<i64>, Option<i64>)>,
        /// Callbacks lost: these rows' sessions stay unclaimed.
        lost: Vec<bool>,
    }

    fn scenario() -> impl Strategy<Value = Scenario> {
        let row = (
            0u8..3,
            0i64..120,
            proptest::option::of(1i64..40),
            proptest::option::of(0i64..40),
        );
        (
            proptest::collection::vec(row, 1..12),
            proptest::collection::vec(any::<bool>(), 12),
        )
            .prop_map(|(rows, lost)| Scenario { rows, lost })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        /// No row is ever matched to a session that its own user did not create.
        #[test]
        fn no_row_is_given_another_rows_session(sc in scenario()) {
            let intervals: Vec<LinkingInterval> = sc.rows.iter().enumerate().map(|(i, (_, start, len, _))| {
                LinkingInterval { account: acct(i as u128 + 1), start: at(*start), end: len.map(|l| at(start + l)) }
            }).collect();
            // Sessions: created by their owner while it links (offset clamped into the interval).
            let mut sessions: Vec<(String, DateTime<Utc>, usize)> = Vec::new();
            for (i, (_, start, len, creates)) in sc.rows.iter().enumerate() {
                if let Some(off) = creates {
                    let off = len.map_or(*off, |l| (*off).min(l));
                    sessions.push((format!("s{i}"), at(start + off), i));
                }
            }
            let ids: Vec<String> = sessions.iter().map(|s| s.0.clone()).collect();
            let unclaimed: Vec<Unclaimed<'_>> = sessions.iter().zip(&ids)
                .filter(|((_, _, owner), _)| sc.lost[*owner])
                .map(|((_, created, _), id)| Unclaimed { id, created_at: Some(*created), live: true, member_id: None })
                .collect();
            for (i, iv) in intervals.iter().enumerate() {
                if iv.end.is_some() { continue; } // only rows still linking are healed
                if let FirstConnectionMatch::One { unipile_account_id } =
                    match_first_connection(iv.account, iv.start, None, &unclaimed, &intervals)
                {
                    let owner = sessions.iter().find(|s| unipile_account_id == s.0).map(|s| s.2);
                    prop_assert_eq!(owner, Some(i), "row {} got {}", i, unipile_account_id);
                }
            }
        }
    }
}
