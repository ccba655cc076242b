//! Shapes of the healing loops: orphan watcher, campaign resume sweeper, reconciler and
//! the account-status sync (DESIGN.md, "Workflows"), and the reconciler's sanity gate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{AccountId, AccountStatus, SourceStatus, UnipileAccountId};

/// Schedule id and workflow type of the hourly orphan watcher.
pub const ORPHAN_WATCHER: &str = "orphan-watcher";
/// Schedule id of the 5-minute campaign resume sweeper.
pub const CAMPAIGN_SWEEPER: &str = "campaign-sweeper";
/// Schedule id of the account reconciler.
pub const ACCOUNT_RECONCILER: &str = "account-reconciler";

/// The reconciler's sanity gate: at most this many flips away from `connected` per pass
/// (DESIGN.md, "Reconciler").
pub const GATE_MAX_AWAY: usize = 5;
/// ... and at most this percentage of the fleet when at least two would flip.
pub const GATE_MAX_FLEET_PERCENT: usize = 25;

/// True when a pass that would flip `away` of `fleet` linked rows away from `connected`
/// must flip none of them: more than 5, or more than 25 % of the fleet when at least 2.
pub fn sanity_gate_holds(away: usize, fleet: usize) -> bool {
    away > GATE_MAX_AWAY || (away >= 2 && away * 100 > fleet * GATE_MAX_FLEET_PERCENT)
}

/// Input of one orphan-watcher pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrphanPassInput {
    /// Rows `connecting` for longer than this many seconds are examined (default 300).
    pub connecting_longer_than_secs: u64,
}

impl Default for OrphanPassInput {
    fn default() -> Self {
        Self {
            connecting_longer_than_secs: 300,
        }
    }
}

/// What one orphan-watcher pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrphanPassSummary {
    /// Rows examined (connecting for too long).
    pub examined: usize,
    /// Rows relinked to a live Unipile session.
    pub relinked: Vec<AccountId>,
    /// Rows with an ambiguous match (alerted, not linked).
    pub ambiguous: Vec<AccountId>,
    /// Rows with no live session yet (left alone).
    pub unmatched: Vec<AccountId>,
    /// Rows not looked at: too little of the pass's run was left (its Schedule gives it
    /// nine tenths of the interval); the next pass takes them.
    #[serde(default)]
    pub deferred: Vec<AccountId>,
    /// The pass was aborted because Unipile's listing could not be read completely
    /// (the cause); nothing was linked and one admin alert was raised.
    #[serde(default)]
    pub aborted: Option<String>,
}

/// Input of one sweeper pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepInput {
    /// Campaigns per transaction (bounded batches).
    pub batch_size: u32,
}

impl Default for SweepInput {
    fn default() -> Self {
        Self { batch_size: 500 }
    }
}

/// Totals of one sweeper pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepSummary {
    /// Batches run.
    pub batches: u64,
    /// `linkedin_account_disconnected` reasons removed.
    pub reasons_cleared: u64,
    /// Campaigns that became active.
    pub campaigns_resumed: u64,
    /// Campaigns that keep another reason.
    pub still_paused: u64,
    /// The pass stopped before the last batch: too little of its run was left; the next
    /// pass goes on (each batch is its own transaction).
    #[serde(default)]
    pub cut_short: bool,
}

/// Input of one reconciler pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileInput {
    /// Compute and return the plan without writing anything.
    pub dry_run: bool,
}

/// One flip the reconciler plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFlip {
    /// The row.
    pub account_id: AccountId,
    /// Its Unipile account.
    pub unipile_account_id: UnipileAccountId,
    /// Status read.
    pub from: AccountStatus,
    /// Status to set.
    pub to: AccountStatus,
    /// Unipile's source status (`None`: gone from the complete listing).
    pub source_status: Option<SourceStatus>,
}

/// The reconciler's plan and what it did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileReport {
    /// Linked rows compared.
    pub fleet: usize,
    /// Unipile accounts listed.
    pub listed: usize,
    /// Planned flips: the first [`PLAN_SHOWN`] of them (all are counted in `planned`).
    pub plan: Vec<PlannedFlip>,
    /// Planned flips in all (reports recorded before the field: see `plan`).
    #[serde(default)]
    pub planned: usize,
    /// The sanity gate held: no flip away from `connected` was made.
    pub gated: bool,
    /// Flips written.
    pub applied: usize,
    /// Flips skipped because the row moved meanwhile (compare-and-set lost).
    pub moved: usize,
    /// Dry run: nothing written.
    pub dry_run: bool,
    /// Unipile refused our API key: nothing flipped, an alert was raised.
    pub unauthorized: bool,
    /// Unipile accounts of rows this pass flipped to `disconnected` because they are gone
    /// from the complete listing: the workflow requests a Safe delete for each.
    #[serde(default)]
    pub delete_requests: Vec<String>,
    /// Gate 2 held: the pass would have requested too many deletes and requested none.
    #[serde(default)]
    pub deletes_gated: bool,
    /// The pass was aborted because Unipile's listing could not be read completely
    /// (the cause); nothing was flipped and one admin alert was raised.
    #[serde(default)]
    pub aborted: Option<String>,
    /// Flips away from `connected` that a fresh single-account read contradicted: not
    /// written, one `reconciler.listing_disagrees` alert for the pass.
    #[serde(default)]
    pub disagreed: usize,
    /// Flips away from `connected` whose fresh read failed: left for the next pass.
    #[serde(default)]
    pub unconfirmed: usize,
    /// Planned writes not made: too little of the pass's run was left (its Schedule gives
    /// it nine tenths of the interval). Left for the next pass, which plans afresh; the
    /// delete requests stand for the flips that were written.
    #[serde(default)]
    pub deferred: usize,
}

/// Planned flips a [`ReconcileReport`] lists. The report is the pass activity's result,
/// recorded in workflow history, whose payloads Temporal limits (2 MB by default): a
/// pass that plans a flip for most of a large fleet (an incident, which the sanity gate
/// holds) must still be able to report.
pub const PLAN_SHOWN: usize = 100;

/// Attempts a pass gives Unipile's listing (500, 429, timeouts, a failing page) before
/// it aborts with one admin alert instead of retrying until the next scheduled pass
/// would have run. Retries are spaced by the pass activity's retry policy (0.5 s, 1 s).
pub const PASS_LISTING_ATTEMPTS: u32 = 3;

/// Input of the account-status sync workflow (`account-status:<unipile_account_id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountStatusSyncInput {
    /// The Unipile account the webhook named.
    pub unipile_account_id: UnipileAccountId,
    /// How long an `ERROR`/`STOPPED` blip may last before the account's campaigns are
    /// paused, in seconds (DESIGN.md: 2 h, configurable).
    #[serde(default = "default_blip_tolerance")]
    pub blip_tolerance_secs: u64,
    /// Activities a run executes before it continues as new (a fresh history carrying
    /// this input); default [`SYNC_RUN_LENGTH`]. Inputs of earlier releases lack it.
    #[serde(default = "default_sync_run_length")]
    pub continue_as_new_after: u32,
}

/// Activities one account-status sync run executes before it continues as new: its
/// history stays near a few hundred events however long a storm of webhooks lasts
/// (Temporal suggests continuing as new well before 50,000 events or 50 MB).
pub const SYNC_RUN_LENGTH: u32 = 100;

fn default_sync_run_length() -> u32 {
    SYNC_RUN_LENGTH
}

/// Default blip tolerance: 2 hours.
pub const DEFAULT_BLIP_TOLERANCE_SECS: u64 = 2 * 3600;

fn default_blip_tolerance() -> u64 {
    DEFAULT_BLIP_TOLERANCE_SECS
}

/// The blip rule, part 1: does the provider status `next` start a new episode (so its
/// "since" time restarts), coming after `previous`? A change of status does, except
/// from one blip status to another (`ERROR` → `STOPPED` is one continuing blip).
pub fn provider_status_restarts(previous: Option<SourceStatus>, next: SourceStatus) -> bool {
    match previous {
        None => true,
        Some(p) if p == next => false,
        Some(p) => !(p.is_blip() && next.is_blip()),
    }
}

/// The blip rule, part 2: has a connected row's blip outlasted the tolerance, so that
/// its campaigns pause (DESIGN.md: "ERROR/STOPPED for longer than the tolerance, 2 h by
/// default")? True only while the row is `connected` with a blip status that has held
/// since at least `tolerance_secs` before `now` (UTC).
pub fn blip_outlasted(
    status: AccountStatus,
    provider_status: Option<SourceStatus>,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    tolerance_secs: u64,
) -> bool {
    // At most 100 years: any longer tolerance never expires, and the arithmetic stays in
    // range.
    let secs = i64::try_from(tolerance_secs)
        .unwrap_or(i64::MAX)
        .min(100 * 365 * 86_400);
    let Some(outlasted_before) = now.checked_sub_signed(chrono::Duration::seconds(secs)) else {
        return false;
    };
    status == AccountStatus::Connected
        && provider_status.is_some_and(SourceStatus::is_blip)
        && since.is_some_and(|t| t <= outlasted_before)
}

/// What one account-status sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SyncResult {
    /// No row is linked to this Unipile account.
    UnknownAccount,
    /// The row now reflects Unipile's status; `flipped` tells whether its status changed.
    Applied {
        /// Source status read from Unipile.
        source_status: SourceStatus,
        /// Whether the row's status changed.
        flipped: bool,
    },
    /// Unipile answered 404 for the account (left to the reconciler).
    Gone,
}

impl SyncResult {
    /// True when the account is in a sync blip (`ERROR`/`STOPPED`) whose duration must
    /// be watched.
    pub fn is_blip(&self) -> bool {
        matches!(self, SyncResult::Applied { source_status, .. } if source_status.is_blip())
    }
}

/// What the blip check did once the tolerance had passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum BlipCheck {
    /// The blip is over (or the row is no longer connected): nothing paused.
    Healed,
    /// Still interrupted past the tolerance: these campaigns were paused.
    Paused {
        /// Campaigns that got the `linkedin_account_disconnected` reason.
        campaigns: Vec<uuid::Uuid>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blip_continues_across_blip_statuses_and_restarts_on_any_other_change() {
        use SourceStatus::*;
        assert!(provider_status_restarts(None, Ok));
        assert!(!provider_status_restarts(Some(Error), Error));
        assert!(
            !provider_status_restarts(Some(Error), Stopped),
            "one continuing blip"
        );
        assert!(provider_status_restarts(Some(Ok), Error));
        assert!(provider_status_restarts(Some(Error), Ok));
        assert!(provider_status_restarts(Some(Stopped), Credentials));
    }

    #[test]
    fn only_a_connected_rows_blip_older_than_the_tolerance_has_outlasted_it() {
        use SourceStatus::*;
        let now = Utc::now();
        let old = Some(now - chrono::Duration::seconds(7200));
        let young = Some(now - chrono::Duration::seconds(7199));
        assert!(blip_outlasted(
            AccountStatus::Connected,
            Some(Error),
            old,
            now,
            7200
        ));
        assert!(!blip_outlasted(
            AccountStatus::Connected,
            Some(Error),
            young,
            now,
            7200
        ));
        assert!(!blip_outlasted(
            AccountStatus::Connected,
            Some(Ok),
            old,
            now,
            7200
        ));
        assert!(!blip_outlasted(
            AccountStatus::ReconnectNeeded,
            Some(Stopped),
            old,
            now,
            7200
        ));
        assert!(!blip_outlasted(
            AccountStatus::Connected,
            Some(Error),
            None,
            now,
            7200
        ));
    }

    #[test]
    fn the_gate_holds_above_five_or_above_a_quarter_of_the_fleet() {
        assert!(!sanity_gate_holds(0, 100));
        assert!(
            !sanity_gate_holds(1, 1),
            "a single flip is never gated by the fraction"
        );
        assert!(!sanity_gate_holds(5, 100));
        assert!(sanity_gate_holds(6, 1000));
        assert!(!sanity_gate_holds(2, 8), "exactly 25 % passes");
        assert!(sanity_gate_holds(2, 7), "over 25 % holds");
        assert!(sanity_gate_holds(3, 10));
    }
}
