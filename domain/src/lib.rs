//! relink's domain model: identifiers, account and source statuses, the status pill,
//! and the input/output shapes shared by workflows, activities, the web tier and the
//! starter. No async and no I/O here, so every crate (including the deterministic
//! `workflows` crate) can depend on it.

pub mod alerts;
pub mod deletes;
pub mod emails;
pub mod events;
pub mod healing;
pub mod ids;
pub mod inbound;
pub mod metrics;
pub mod pacing;
pub mod pill;
pub mod reconnect;
pub mod signing;
pub mod status;
pub mod subscriptions;
pub mod truth;

pub use alerts::{AlertKind, Severity};
pub use ids::{
    AccountId, LinkRef, LinkToken, UnipileAccountId, WorkspaceId, account_of_reconnect_workflow,
    account_status_workflow_id, reconnect_workflow_id,
};
pub use pill::{Pill, PillInput, PillState, PillTone, derive_pill, first_connected_on};
pub use status::{AccountStatus, CampaignStatus, ParseError, PauseReason, SourceStatus};

/// Default Temporal task queue for every relink workflow and activity
/// (DESIGN.md, "Workflows"; overridden by `TEMPORAL_TASK_QUEUE`).
pub const DEFAULT_TASK_QUEUE: &str = "linkedin-accounts";

/// Name of the Keyword search attribute that carries the account id on workflows.
pub const SEARCH_ATTR_ACCOUNT_ID: &str = "AccountId";
/// Name of the Keyword search attribute that carries the workspace id on workflows.
pub const SEARCH_ATTR_WORKSPACE_ID: &str = "WorkspaceId";
/// Every custom search attribute relink's workflows are started with (all Keyword): the
/// worker and the web tier add the missing ones to their namespace at start-up
/// (`relink_runtime::ensure_search_attributes`).
pub const SEARCH_ATTRIBUTES: [&str; 2] = [SEARCH_ATTR_ACCOUNT_ID, SEARCH_ATTR_WORKSPACE_ID];
