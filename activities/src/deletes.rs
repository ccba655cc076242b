//! Safe delete activities: the env kill switches, the spaced polls, and the final
//! re-check + intent + DELETE. Every delete and every blocked attempt logs one line
//! starting `[SENSITIVE-OP]` and writes one `linkedin_admin_alerts` row.

use chrono::Utc;
use relink_domain::deletes::{
    DEFAULT_MIN_POLL_SPACING_SECS, DEFAULT_MIN_UNDO_WINDOW_SECS, DeleteGate, DeleteKind,
    DeleteOutcome, DeleteRequester, ENV_DELETES, ENV_MIN_POLL_SPACING, ENV_MIN_UNDO_WINDOW,
    ENV_RECONCILER_DELETES, EnvCheck, ExecuteDeleteInput, PollObservation, PollResult,
    RecordDeleteInput, SafeDeleteInput,
};
use relink_domain::{AlertKind, Severity};
use relink_store::{IntentDecision, Store};
use relink_unipile::{UnipileClient, UnipileError};
use relink_workflows::activities::names;
use serde_json::json;
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::{store_err, unipile_err};

/// Reads an environment variable; injectable so tests can open and close gate 1
/// without touching the process environment.
pub type EnvReader = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The process environment.
pub fn process_env() -> EnvReader {
    Arc::new(|k| std::env::var(k).ok())
}

/// Safe delete activities.
pub struct DeleteActivities {
    store: Store,
    unipile: UnipileClient,
    env: EnvReader,
}

impl DeleteActivities {
    /// Over a shared store and Unipile client, reading the switches through `env`.
    pub fn new(store: Store, unipile: UnipileClient, env: EnvReader) -> Self {
        Self {
            store,
            unipile,
            env,
        }
    }

    /// Gate 1: `Some(why)` when the switches block this requester.
    fn env_blocks(&self, requester: &DeleteRequester) -> Option<String> {
        let on = |k: &str| (self.env)(k).is_some_and(|v| v.trim() == "enabled");
        if !on(ENV_DELETES) {
            return Some(format!("{ENV_DELETES} is not `enabled`"));
        }
        if matches!(requester, DeleteRequester::Reconciler { .. }) && !on(ENV_RECONCILER_DELETES) {
            return Some(format!("{ENV_RECONCILER_DELETES} is not `enabled`"));
        }
        None
    }

    async fn alert(
        &self,
        req: &SafeDeleteInput,
        outcome: &DeleteOutcome,
        gates: serde_json::Value,
    ) -> Result<(), ActivityError> {
        let (severity, what) = match outcome {
            DeleteOutcome::Deleted => (Severity::Critical, "deleted".to_string()),
            DeleteOutcome::Cancelled => (
                Severity::Info,
                "cancelled during the undo window".to_string(),
            ),
            DeleteOutcome::Blocked { gate, detail } => (
                Severity::Warning,
                format!("blocked by gate {gate}: {detail}"),
            ),
        };
        let message = format!(
            "[SENSITIVE-OP] Unipile DELETE of account {} {what}; requested by {} ({})",
            req.unipile_account_id,
            req.requester.actor(),
            req.requester.reason()
        );
        tracing::warn!("{message}");
        let payload = json!({
            "unipile_account_id": req.unipile_account_id, "requester": req.requester, "kind": req.kind,
            "outcome": outcome, "gates": gates,
        });
        // A unique key per attempt: every delete and every blocked attempt gets its row.
        let key = format!(
            "{}:{}:{}",
            AlertKind::UnipileDelete,
            req.unipile_account_id,
            relink_store::random_token()
        );
        self.store
            .raise_alert(AlertKind::UnipileDelete, severity, &message, payload, &key)
            .await
            .map_err(store_err)?;
        Ok(())
    }
}

#[activities]
impl DeleteActivities {
    /// Implements `delete_env_check`.
    #[activity(name = names::DELETE_ENV_CHECK)]
    #[tracing::instrument(skip_all, fields(requester = %requester.actor()))]
    pub async fn delete_env_check(
        self: Arc<Self>,
        _ctx: ActivityContext,
        requester: DeleteRequester,
    ) -> Result<EnvCheck, ActivityError> {
        let floor = |k: &str, default: u64| match (self.env)(k) {
            None => Ok(default),
            Some(v) => v.trim().parse::<u64>().map_err(|_| {
                format!(
                    "{k} must be a whole number of seconds, got {:?}",
                    v.chars().take(32).collect::<String>()
                )
            }),
        };
        // A malformed floor blocks the delete: a bad setting never shortens a gate.
        let (poll, undo) = match (
            floor(ENV_MIN_POLL_SPACING, DEFAULT_MIN_POLL_SPACING_SECS),
            floor(ENV_MIN_UNDO_WINDOW, DEFAULT_MIN_UNDO_WINDOW_SECS),
        ) {
            (Ok(p), Ok(u)) => (p, u),
            (Err(e), _) | (_, Err(e)) => {
                return Ok(EnvCheck::Checked {
                    blocked: Some(e),
                    min_poll_spacing_secs: DEFAULT_MIN_POLL_SPACING_SECS,
                    min_undo_window_secs: DEFAULT_MIN_UNDO_WINDOW_SECS,
                });
            }
        };
        Ok(EnvCheck::Checked {
            blocked: self.env_blocks(&requester),
            min_poll_spacing_secs: poll,
            min_undo_window_secs: undo,
        })
    }

    /// Implements `delete_poll`: a literal 404 is `not_found`; any other failure (401,
    /// 403, 429, 5xx, timeout) is recorded as an error observation, which stops the
    /// delete rather than being retried into a pass.
    #[activity(name = names::DELETE_POLL)]
    #[tracing::instrument(skip_all, fields(unipile_account_id = %unipile_account_id))]
    pub async fn delete_poll(
        self: Arc<Self>,
        _ctx: ActivityContext,
        unipile_account_id: String,
    ) -> Result<PollObservation, ActivityError> {
        let result = match self.unipile.get_account(&unipile_account_id).await {
            Ok(_) => PollResult::Present,
            Err(UnipileError::NotFound) => PollResult::NotFound,
            Err(e) => PollResult::Error(e.to_string()),
        };
        let referenced = self
            .store
            .account_by_unipile_id(&unipile_account_id)
            .await
            .map_err(store_err)?
            .is_some();
        Ok(PollObservation {
            at: Utc::now(),
            result,
            referenced,
        })
    }

    /// Implements `execute_delete`.
    #[activity(name = names::EXECUTE_DELETE)]
    #[tracing::instrument(skip_all, fields(unipile_account_id = %input.request.unipile_account_id))]
    pub async fn execute_delete(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ExecuteDeleteInput,
    ) -> Result<DeleteOutcome, ActivityError> {
        let req = &input.request;
        let blocked = |gate: DeleteGate, detail: String| DeleteOutcome::Blocked { gate, detail };
        let own = self
            .store
            .own_delete_intent(&input.workflow_id, &input.run_id)
            .await
            .map_err(store_err)?;
        let gone_now = || async {
            match self.unipile.get_account(&req.unipile_account_id).await {
                Err(UnipileError::NotFound) => Ok(true),
                Ok(_) => Ok(false),
                Err(e) => Err(unipile_err(e)),
            }
        };
        // "Still gone?" is asked on every attempt of a gone account's delete, a retry
        // included: an account that answers again between two attempts is never deleted.
        let gone = if own || req.kind == DeleteKind::Gone {
            Some(gone_now().await?)
        } else {
            None
        };
        let outcome = if own && gone == Some(true) {
            // A retry after the DELETE already went through: done, whatever the gates say now.
            DeleteOutcome::Deleted
        } else if let Some(why) = self.env_blocks(&req.requester) {
            blocked(DeleteGate::Env, why)
        } else if req.kind == DeleteKind::Gone && gone == Some(false) {
            blocked(
                DeleteGate::Polls,
                "the account answered again right before the DELETE".into(),
            )
        } else {
            match self
                .store
                .record_delete_intent(
                    &req.unipile_account_id,
                    &input.workflow_id,
                    &input.run_id,
                    req.kind == DeleteKind::InertDuplicate,
                    &req.requester.actor(),
                    req.requester.reason(),
                )
                .await
                .map_err(store_err)?
            {
                IntentDecision::FlagClosed(why) => blocked(DeleteGate::Flag, why),
                IntentDecision::CapReached(n) => blocked(
                    DeleteGate::HardCap,
                    format!("{n} deletes in the last 24 h (max 3)"),
                ),
                IntentDecision::Referenced(row) => blocked(
                    DeleteGate::Polls,
                    format!("account {row} references it now: not an inert duplicate"),
                ),
                IntentDecision::Proceed => {
                    match self.unipile.delete_account(&req.unipile_account_id).await {
                        // A retried DELETE that finds the account gone is done.
                        Ok(()) | Err(UnipileError::NotFound) => DeleteOutcome::Deleted,
                        Err(e) => return Err(unipile_err(e)),
                    }
                }
            }
        };
        let mut gates = input.gates.clone();
        gates.record(&outcome);
        self.alert(
            req,
            &outcome,
            serde_json::to_value(&gates).unwrap_or_default(),
        )
        .await?;
        Ok(outcome)
    }

    /// Implements `record_delete`.
    #[activity(name = names::RECORD_DELETE)]
    #[tracing::instrument(skip_all, fields(unipile_account_id = %input.request.unipile_account_id))]
    pub async fn record_delete(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RecordDeleteInput,
    ) -> Result<(), ActivityError> {
        let gates = serde_json::to_value(&input.gates).unwrap_or_default();
        self.alert(&input.request, &input.outcome, gates).await
    }
}
