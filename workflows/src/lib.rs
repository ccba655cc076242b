//! relink's Temporal workflows: deterministic orchestration only. Every side effect
//! (database, Unipile, clock reads beyond workflow time, randomness) is an activity
//! declared in [`activities`] and implemented by the `activities` crate.

// The Temporal macros add one undocumented constant per activity, workflow, signal,
// query and update method; each method carries its doc comment by hand.
#![allow(missing_docs)]

pub mod activities;
pub mod emails;
pub mod events;
pub mod healing;
pub mod reconnect;
pub mod safe_delete;
pub mod subscriptions;

pub use activities::RelinkActivities;
pub use emails::EmailSenderWorkflow;
pub use events::{AlertNotifierWorkflow, EventDeliveryWorkflow};
pub use healing::{
    AccountReconcilerWorkflow, AccountStatusSyncWorkflow, CampaignSweeperWorkflow,
    OrphanWatcherWorkflow,
};
pub use reconnect::ReconnectWorkflow;
pub use safe_delete::SafeDeleteWorkflow;
pub use subscriptions::SubscriptionEndWorkflow;
