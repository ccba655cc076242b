//! Activities of a workspace's subscription end: pausing its campaigns, resuming them
//! on renewal, and disconnecting its accounts when the grace period is over.

use relink_domain::WorkspaceId;
use relink_store::{AuditContext, Store};
use relink_workflows::activities::names;
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::store_err;

/// The subscription activities.
pub struct SubscriptionActivities {
    store: Store,
}

impl SubscriptionActivities {
    /// Over a shared store.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[activities]
impl SubscriptionActivities {
    /// Implements `subscription_ended`.
    #[activity(name = names::SUBSCRIPTION_ENDED)]
    #[tracing::instrument(skip_all, fields(workspace_id = %workspace))]
    pub async fn subscription_ended(
        self: Arc<Self>,
        _ctx: ActivityContext,
        workspace: WorkspaceId,
    ) -> Result<u64, ActivityError> {
        self.store
            .subscription_end(workspace)
            .await
            .map_err(store_err)
    }

    /// Implements `subscription_renewed`.
    #[activity(name = names::SUBSCRIPTION_RENEWED)]
    #[tracing::instrument(skip_all, fields(workspace_id = %workspace))]
    pub async fn subscription_renewed(
        self: Arc<Self>,
        _ctx: ActivityContext,
        workspace: WorkspaceId,
    ) -> Result<usize, ActivityError> {
        Ok(self
            .store
            .subscription_renew(workspace)
            .await
            .map_err(store_err)?
            .len())
    }

    /// Implements `disconnect_workspace`.
    #[activity(name = names::DISCONNECT_WORKSPACE)]
    #[tracing::instrument(skip_all, fields(workspace_id = %workspace))]
    pub async fn disconnect_workspace(
        self: Arc<Self>,
        _ctx: ActivityContext,
        workspace: WorkspaceId,
    ) -> Result<u64, ActivityError> {
        let a = AuditContext {
            action: "subscription.grace_ended".into(),
            actor: "workflow:subscription-end".into(),
            reason: Some("no renewal within the grace period".into()),
            ..Default::default()
        };
        self.store
            .disconnect_workspace(workspace, &a)
            .await
            .map_err(store_err)
    }
}
