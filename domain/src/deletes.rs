//! Shapes of the Safe delete workflow, the only path to a Unipile `DELETE`
//! (DESIGN.md, "Safe delete"), and its fixed limits.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::UnipileAccountId;

/// Feature flag that must be enabled (with a TTL of at most 4 h) for any delete.
pub const DELETE_FLAG: &str = "unipile_deletes";
/// Longest TTL the delete flag may be enabled for, in seconds (gate 5).
pub const MAX_FLAG_TTL_SECS: i64 = 4 * 3600;
/// At most this many deletes in any rolling 24 h (gate 4).
pub const MAX_DELETES_PER_24H: i64 = 3;
/// Env switch of every delete (gate 1): must be `enabled`.
pub const ENV_DELETES: &str = "RELINK_UNIPILE_DELETES";
/// Env switch of reconciler-requested deletes (gate 1): must also be `enabled`.
pub const ENV_RECONCILER_DELETES: &str = "RELINK_RECONCILER_DELETES";
/// Worker setting: the shortest poll spacing gate 3 accepts, seconds (default 60,
/// DESIGN.md). A Safe delete asking for less is spaced by this floor instead; only a
/// worker configured with a lower floor (tests, the demo) runs shorter timings.
pub const ENV_MIN_POLL_SPACING: &str = "RELINK_DELETE_MIN_POLL_SPACING_SECS";
/// Worker setting: the shortest undo window, seconds (default 60).
pub const ENV_MIN_UNDO_WINDOW: &str = "RELINK_DELETE_MIN_UNDO_SECS";
/// Default of [`ENV_MIN_POLL_SPACING`]: 60 s.
pub const DEFAULT_MIN_POLL_SPACING_SECS: u64 = 60;
/// Default of [`ENV_MIN_UNDO_WINDOW`]: 60 s.
pub const DEFAULT_MIN_UNDO_WINDOW_SECS: u64 = 60;
/// Poll spacing of a Safe delete the reconciler requests (DESIGN.md: polls 60 s apart).
pub const RECONCILER_POLL_SPACING_SECS: u64 = 60;
/// Undo window of a Safe delete the reconciler requests: 10 minutes, in seconds.
pub const RECONCILER_UNDO_WINDOW_SECS: u64 = 600;

/// Result of gate 1's env check: whether the switches block, and the worker's timing
/// floors, which the workflow applies to the poll spacing and undo window it was asked
/// for. Older histories recorded only the blocking reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EnvCheck {
    /// The switches' verdict and the floors (seconds).
    Checked {
        /// `Some(why)` when gate 1 blocks.
        blocked: Option<String>,
        /// Shortest poll spacing, seconds.
        min_poll_spacing_secs: u64,
        /// Shortest undo window, seconds.
        min_undo_window_secs: u64,
    },
    /// Older histories: the blocking reason alone (the default floors apply).
    Legacy(Option<String>),
}

impl EnvCheck {
    /// `Some(why)` when gate 1 blocks.
    pub fn blocked(&self) -> Option<String> {
        match self {
            EnvCheck::Checked { blocked, .. } | EnvCheck::Legacy(blocked) => blocked.clone(),
        }
    }

    /// The poll spacing and undo window to use for `input` (seconds): what it asked
    /// for, never below the worker's floors, and the spacing at least 1 s.
    pub fn timings(&self, input: &SafeDeleteInput) -> (u64, u64) {
        let (poll, undo) = match self {
            EnvCheck::Checked {
                min_poll_spacing_secs,
                min_undo_window_secs,
                ..
            } => (*min_poll_spacing_secs, *min_undo_window_secs),
            EnvCheck::Legacy(_) => (DEFAULT_MIN_POLL_SPACING_SECS, DEFAULT_MIN_UNDO_WINDOW_SECS),
        };
        (
            input.poll_spacing_secs.max(poll).max(1),
            input.undo_window_secs.max(undo),
        )
    }
}

/// Why the reconciler requests a Safe delete (its `DeleteRequester::Reconciler` reason).
pub const RECONCILER_DELETE_REASON: &str = "absent from Unipile's complete account listing";

/// Audit action of a delete intent, written before the DELETE call (gate 4 counts it).
pub const AUDIT_DELETE_INTENT: &str = "unipile.delete";

/// Workflow id of the Safe delete of one Unipile account: `unipile-delete:<id>`.
pub fn delete_workflow_id(unipile_account_id: &str) -> String {
    format!("unipile-delete:{unipile_account_id}")
}

/// Who asks for the delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum DeleteRequester {
    /// An operator (`starter delete`), removing an inert duplicate session.
    Operator {
        /// Operator name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The reconciler, for an account gone from a complete listing.
    Reconciler {
        /// Why.
        reason: String,
    },
}

impl DeleteRequester {
    /// Audit actor.
    pub fn actor(&self) -> String {
        match self {
            DeleteRequester::Operator { name, .. } => format!("operator:{name}"),
            DeleteRequester::Reconciler { .. } => "workflow:account-reconciler".into(),
        }
    }

    /// The stated reason.
    pub fn reason(&self) -> &str {
        match self {
            DeleteRequester::Operator { reason, .. } | DeleteRequester::Reconciler { reason } => {
                reason
            }
        }
    }
}

/// What the three polls must observe (gate 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteKind {
    /// The account must answer a literal 404 three times.
    Gone,
    /// A live inert duplicate: three times present and referenced by no row.
    InertDuplicate,
}

/// Input of the Safe delete workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafeDeleteInput {
    /// The Unipile account.
    pub unipile_account_id: UnipileAccountId,
    /// Who asks, and why.
    pub requester: DeleteRequester,
    /// What the polls must see.
    pub kind: DeleteKind,
    /// Minimum spacing of the three polls, seconds (DESIGN.md: 60).
    pub poll_spacing_secs: u64,
    /// Undo window after every gate passed, seconds (default 600).
    pub undo_window_secs: u64,
}

/// One gate's state, as the `gates` query shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum GateState {
    /// Not reached yet.
    Pending,
    /// Passed.
    Passed,
    /// Stopped the delete.
    Blocked(String),
}

/// A gate of the Safe delete (DESIGN.md, "Safe delete"), and the DELETE call itself.
/// Serialized as its snake_case name (`env`, `sanity`, `polls`, `undo`, `hard_cap`,
/// `flag`, `delete_call`), the spelling older histories carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteGate {
    /// Gate 1: the env kill switches.
    Env,
    /// Gate 2: the reconciler's sanity threshold.
    Sanity,
    /// Gate 3: three spaced polls.
    Polls,
    /// The undo window.
    Undo,
    /// Gate 4: at most 3 deletes in any rolling 24 h.
    HardCap,
    /// Gate 5: the `unipile_deletes` flag.
    Flag,
    /// Not a gate: the DELETE call failed past its retries.
    DeleteCall,
}

impl DeleteGate {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeleteGate::Env => "env",
            DeleteGate::Sanity => "sanity",
            DeleteGate::Polls => "polls",
            DeleteGate::Undo => "undo",
            DeleteGate::HardCap => "hard_cap",
            DeleteGate::Flag => "flag",
            DeleteGate::DeleteCall => "delete_call",
        }
    }
}

impl std::fmt::Display for DeleteGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every gate of one Safe delete run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteGates {
    /// Gate 1, env kill switches.
    pub env: GateState,
    /// Gate 2, sanity threshold (a reconciler pass requesting too many deletes requests none).
    pub sanity: GateState,
    /// Gate 3, the three spaced polls.
    pub polls: GateState,
    /// The polls' observations so far.
    pub observations: Vec<PollObservation>,
    /// Undo window.
    pub undo: GateState,
    /// Gate 4, hard cap.
    pub hard_cap: GateState,
    /// Gate 5, DB flag.
    pub flag: GateState,
    /// The DELETE call (absent in older histories).
    #[serde(default = "pending")]
    pub delete_call: GateState,
}

fn pending() -> GateState {
    GateState::Pending
}

impl DeleteGates {
    /// Records that `gate` stopped the delete with `detail`: the one place that maps a
    /// gate to its field.
    pub fn block(&mut self, gate: DeleteGate, detail: String) {
        let b = GateState::Blocked(detail);
        match gate {
            DeleteGate::Env => self.env = b,
            DeleteGate::Sanity => self.sanity = b,
            DeleteGate::Polls => self.polls = b,
            DeleteGate::Undo => self.undo = b,
            DeleteGate::HardCap => self.hard_cap = b,
            DeleteGate::Flag => self.flag = b,
            DeleteGate::DeleteCall => self.delete_call = b,
        }
    }

    /// Records `outcome` of the final step: a block on its gate, or the flag, the cap
    /// and the call passed.
    pub fn record(&mut self, outcome: &DeleteOutcome) {
        match outcome {
            DeleteOutcome::Blocked { gate, detail } => self.block(*gate, detail.clone()),
            DeleteOutcome::Deleted => {
                self.flag = GateState::Passed;
                self.hard_cap = GateState::Passed;
                self.delete_call = GateState::Passed;
            }
            DeleteOutcome::Cancelled => {}
        }
    }
}

impl Default for DeleteGates {
    fn default() -> Self {
        DeleteGates {
            env: GateState::Pending,
            sanity: GateState::Pending,
            polls: GateState::Pending,
            observations: vec![],
            undo: GateState::Pending,
            hard_cap: GateState::Pending,
            flag: GateState::Pending,
            delete_call: GateState::Pending,
        }
    }
}

/// What one GET of the account answered during gate 3. Recorded in histories by its
/// wire spelling: `not_found` (a literal 404), `present`, or `error: …` (401, 429, 5xx,
/// timeout…), so older histories read back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum PollResult {
    /// Unipile answered 404: the account is gone.
    NotFound,
    /// Unipile answered the account.
    Present,
    /// Anything else: counts against the delete.
    Error(String),
}

impl PollResult {
    /// Whether this poll counts toward the three a delete of `kind` needs: a 404 for a
    /// gone account; a present account no row references for an inert duplicate.
    pub fn counts_for(&self, kind: DeleteKind, referenced: bool) -> bool {
        match kind {
            DeleteKind::Gone => *self == PollResult::NotFound,
            DeleteKind::InertDuplicate => *self == PollResult::Present && !referenced,
        }
    }
}

impl From<PollResult> for String {
    fn from(r: PollResult) -> String {
        r.to_string()
    }
}

impl From<String> for PollResult {
    fn from(s: String) -> Self {
        match s.as_str() {
            "not_found" => PollResult::NotFound,
            "present" => PollResult::Present,
            other => PollResult::Error(other.strip_prefix("error: ").unwrap_or(other).to_string()),
        }
    }
}

impl std::fmt::Display for PollResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollResult::NotFound => f.write_str("not_found"),
            PollResult::Present => f.write_str("present"),
            PollResult::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// One GET of the account during gate 3, as the activity recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollObservation {
    /// When the activity observed it (UTC, the activity's clock).
    pub at: DateTime<Utc>,
    /// What Unipile answered.
    pub result: PollResult,
    /// Whether some row references the account.
    pub referenced: bool,
}

/// Input of the final step: re-check and DELETE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecuteDeleteInput {
    /// The run's input.
    pub request: SafeDeleteInput,
    /// This run's workflow id (with the run id, the idempotency key of the intent row).
    pub workflow_id: String,
    /// This run's run id.
    #[serde(default)]
    pub run_id: String,
    /// The gates as they stood before this step (recorded in the alert).
    #[serde(default)]
    pub gates: DeleteGates,
}

/// How a Safe delete ended (the workflow result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DeleteOutcome {
    /// The account was deleted at Unipile (or a retried DELETE found it gone).
    Deleted,
    /// A gate stopped it.
    Blocked {
        /// The gate that stopped it.
        gate: DeleteGate,
        /// Why.
        detail: String,
    },
    /// An operator cancelled it during the undo window.
    Cancelled,
}

/// Input of the activity that records a blocked or cancelled attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDeleteInput {
    /// The run's input.
    pub request: SafeDeleteInput,
    /// The outcome to record.
    pub outcome: DeleteOutcome,
    /// The gates as they stood.
    pub gates: DeleteGates,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_results_keep_their_wire_spelling_and_count_by_kind() {
        for (r, wire) in [
            (PollResult::NotFound, "\"not_found\""),
            (PollResult::Present, "\"present\""),
            (PollResult::Error("429".into()), "\"error: 429\""),
        ] {
            assert_eq!(serde_json::to_string(&r).unwrap(), wire);
            assert_eq!(serde_json::from_str::<PollResult>(wire).unwrap(), r);
        }
        assert!(PollResult::NotFound.counts_for(DeleteKind::Gone, false));
        assert!(!PollResult::Present.counts_for(DeleteKind::Gone, false));
        assert!(PollResult::Present.counts_for(DeleteKind::InertDuplicate, false));
        assert!(!PollResult::Present.counts_for(DeleteKind::InertDuplicate, true));
        assert!(!PollResult::Error("x".into()).counts_for(DeleteKind::InertDuplicate, false));
    }
}
