//! A workspace's subscription end: the workflow's id, input and outcome, and the grace
//! period before its accounts disconnect (DESIGN.md, "Subscription end").

use serde::{Deserialize, Serialize};

/// Default grace period after a subscription ends: 7 days, in seconds.
pub const DEFAULT_SUBSCRIPTION_GRACE_SECS: u64 = 7 * 24 * 3600;

/// Workflow id of a workspace's subscription end: `subscription-end:<workspace_id>`.
pub fn subscription_workflow_id(workspace: crate::WorkspaceId) -> String {
    format!("subscription-end:{workspace}")
}

/// Input of the subscription-end workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionEndInput {
    /// The workspace.
    pub workspace_id: crate::WorkspaceId,
    /// Grace period before the accounts are disconnected, seconds (default 7 days).
    pub grace_secs: u64,
}

/// How a subscription end ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SubscriptionOutcome {
    /// Renewed within the grace: the `subscription_inactive` reason is gone.
    Renewed {
        /// Campaigns that became active.
        campaigns_resumed: usize,
    },
    /// No renewal within the grace: the accounts are `disconnected` (nothing deleted).
    Disconnected {
        /// Accounts flipped.
        accounts: u64,
    },
}
