//! Activities of the healing loops: orphan watcher, sweeper, reconciler and the
//! account-status sync. Every listing is complete or unused; every flip is
//! compare-and-set on the status the pass read.

use chrono::Utc;
use relink_domain::{
    AccountStatus, SourceStatus,
    healing::{
        AccountStatusSyncInput, BlipCheck, OrphanPassInput, OrphanPassSummary,
        PASS_LISTING_ATTEMPTS, PlannedFlip, ReconcileInput, ReconcileReport, SweepInput,
        SweepSummary, SyncResult, sanity_gate_holds,
    },
};
use relink_store::{AuditContext, Store};
use relink_unipile::{Account, AccountStatusEntry, UnipileClient, UnipileError};
use relink_workflows::activities::names;
use serde_json::json;
use std::{collections::HashMap, sync::Arc};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::{matching::FirstConnectionMatch, permanent, store_err, unipile_err};

/// Alert kind of an orphan row with more than one possible Unipile account.
pub const ALERT_ORPHAN_AMBIGUOUS: &str = "orphan.ambiguous_match";
/// Alert kind of a reconciler pass stopped by the sanity gate.
pub const ALERT_SANITY_GATE: &str = "reconciler.sanity_gate";
/// Alert kind of Unipile refusing our own API key.
pub const ALERT_UNAUTHORIZED: &str = "unipile.unauthorized";
/// Alert kind of a pass aborted because Unipile's listing could not be read completely.
pub const ALERT_PASS_ABORTED: &str = "healing.pass_aborted";

/// The healing-loop activities.
pub struct HealingActivities {
    store: Store,
    unipile: UnipileClient,
}

impl HealingActivities {
    /// Over a shared store and Unipile client.
    pub fn new(store: Store, unipile: UnipileClient) -> Self {
        Self { store, unipile }
    }

    async fn alert_unauthorized(&self, body: &str) -> Result<(), ActivityError> {
        self.store
            .raise_alert(
                ALERT_UNAUTHORIZED,
                "critical",
                "Unipile rejected relink's API key (401); nothing was flipped",
                json!({"body": body}),
                ALERT_UNAUTHORIZED,
            )
            .await
            .map_err(store_err)?;
        Ok(())
    }

    /// Unipile's complete listing for a pass. A transient failure (5xx, 429, timeout,
    /// a failing page) is retried by Temporal until attempt [`PASS_LISTING_ATTEMPTS`];
    /// that attempt, or any permanent failure, aborts the pass with one admin alert
    /// keyed by the workflow run (one per aborted pass, however many attempts saw the
    /// failure). A 401 raises the unauthorized alert. Errors: the retryable failure
    /// itself, or a database error raising an alert.
    async fn listing_or_abort<T>(
        &self,
        ctx: &ActivityContext,
        pass: &str,
        listing: impl std::future::Future<Output = Result<Vec<T>, UnipileError>>,
    ) -> Result<Listing<T>, ActivityError> {
        // The pass activities have a 60 s heartbeat timeout: a long listing (many pages,
        // a slow Unipile) heartbeats every 10 s so that it is not timed out mid-way.
        let e = match with_heartbeats(ctx, listing).await {
            Ok(listing) => return Ok(Listing::Complete(listing)),
            Err(UnipileError::Unauthorized { body }) => {
                self.alert_unauthorized(&body).await?;
                return Ok(Listing::Unauthorized);
            }
            Err(e) => e,
        };
        let info = ctx.info();
        if e.is_transient() && info.attempt < PASS_LISTING_ATTEMPTS {
            tracing::warn!(pass, attempt = info.attempt, error = %e, "listing failed; the pass will retry");
            return Err(unipile_err(e));
        }
        let cause = e.to_string();
        let run = format!(
            "{}/{}",
            info.workflow_id.as_deref().unwrap_or("-"),
            info.workflow_run_id.as_deref().unwrap_or("-")
        );
        self.store
            .raise_alert(
                ALERT_PASS_ABORTED,
                "critical",
                &format!(
                    "{pass} pass aborted after {} attempts: Unipile's listing failed ({cause}); nothing was changed",
                    info.attempt
                ),
                json!({"pass": pass, "attempts": info.attempt, "cause": cause, "run": run}),
                &format!("{ALERT_PASS_ABORTED}:{run}"),
            )
            .await
            .map_err(store_err)?;
        Ok(Listing::Aborted(cause))
    }
}

/// Runs `work`, recording an activity heartbeat every 10 s until it finishes.
async fn with_heartbeats<F: std::future::Future>(ctx: &ActivityContext, work: F) -> F::Output {
    tokio::pin!(work);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
    tick.tick().await;
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => {
                if let Err(e) = ctx.record_heartbeat(()).await {
                    tracing::warn!(error = %e, "heartbeat not recorded");
                }
            }
        }
    }
}

/// What a pass got when it asked for Unipile's complete listing.
enum Listing<T> {
    /// Every page.
    Complete(Vec<T>),
    /// Unipile refused our API key (alerted).
    Unauthorized,
    /// Not readable completely within the pass's attempts (alerted): the cause.
    Aborted(String),
}

/// One linked account as its row and Unipile see it now.
enum Reread {
    /// No row is linked to this Unipile account.
    NoRow,
    /// Unipile answers 404 for it.
    Gone,
    /// The row and Unipile's current account.
    Found(relink_store::AccountRow, Account),
}

impl HealingActivities {
    /// Reads the row linked to `unipile_account_id` and re-reads the account from
    /// Unipile. A 401 for our own API key raises the admin alert and is permanent; other
    /// Unipile trouble is retried by Temporal.
    async fn reread(&self, unipile_account_id: &str) -> Result<Reread, ActivityError> {
        let Some(row) = self
            .store
            .account_by_unipile_id(unipile_account_id)
            .await
            .map_err(store_err)?
        else {
            return Ok(Reread::NoRow);
        };
        match self.unipile.get_account(unipile_account_id).await {
            Ok(a) => Ok(Reread::Found(row, a)),
            Err(UnipileError::NotFound) => Ok(Reread::Gone),
            Err(UnipileError::Unauthorized { body }) => {
                self.alert_unauthorized(&body).await?;
                Err(permanent("Unipile rejected our API key".into()))
            }
            Err(e) => Err(unipile_err(e)),
        }
    }
}

fn audit(actor: &str, action: &str, reason: String) -> AuditContext {
    AuditContext {
        action: action.into(),
        actor: actor.into(),
        reason: Some(reason),
        ..Default::default()
    }
}

fn live_linkedin(a: &Account) -> bool {
    a.is_linkedin() && a.source_status() == Some(SourceStatus::Ok)
}

#[activities]
impl HealingActivities {
    /// Implements `orphan_pass`: rows `connecting` for too long are relinked when their
    /// session is live. A reconnect matches its own Unipile id once its source is `OK`; a
    /// first connection matches the LinkedIn identity the row knows, or else the single
    /// unclaimed LinkedIn account that appeared inside its linking window while no other
    /// first connection was linking. Anything ambiguous raises an alert, never a guess.
    #[activity(name = names::ORPHAN_PASS)]
    pub async fn orphan_pass(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: OrphanPassInput,
    ) -> Result<OrphanPassSummary, ActivityError> {
        let cutoff =
            Utc::now() - chrono::Duration::seconds(input.connecting_longer_than_secs as i64);
        let rows = self
            .store
            .stale_connecting(cutoff)
            .await
            .map_err(store_err)?;
        let mut summary = OrphanPassSummary {
            examined: rows.len(),
            ..Default::default()
        };
        let mut still_ambiguous = Vec::new();
        if !rows.is_empty() {
            let listing = match self
                .listing_or_abort(&ctx, "orphan-watcher", self.unipile.list_all_accounts())
                .await?
            {
                Listing::Complete(l) => l,
                Listing::Unauthorized => {
                    summary.aborted = Some("Unipile rejected the API key (401)".into());
                    return Ok(summary);
                }
                Listing::Aborted(cause) => {
                    summary.aborted = Some(cause);
                    return Ok(summary);
                }
            };
            let mut claimed = self.store.claimed_unipile_ids().await.map_err(store_err)?;
            for row in rows {
                let candidate: Result<Option<&Account>, usize> = match &row.unipile_account_id {
                    Some(own) => Ok(listing.iter().find(|a| &a.id == own && live_linkedin(a))),
                    None => {
                        let since = row.connecting_since.unwrap_or(cutoff);
                        match crate::matching::match_first_connection(
                            &self.store,
                            &row,
                            since,
                            &listing,
                            &claimed,
                        )
                        .await
                        .map_err(store_err)?
                        {
                            FirstConnectionMatch::One(a) => Ok(Some(a)),
                            FirstConnectionMatch::NoCandidate => Ok(None),
                            FirstConnectionMatch::Ambiguous {
                                accounts,
                                other_rows,
                            } => Err(accounts + other_rows as usize),
                        }
                    }
                };
                match candidate {
                    Ok(Some(account)) => {
                        let status = account.source_status().unwrap_or(SourceStatus::Ok);
                        let a = audit(
                            "workflow:orphan-watcher",
                            "orphan.relinked",
                            "session live on Unipile while the row was stuck connecting".into(),
                        );
                        let r = self
                            .store
                            .link_account(
                                row.id,
                                None,
                                &account.id,
                                account.linkedin_member_id(),
                                status,
                                &a,
                            )
                            .await;
                        match r {
                            Ok(relink_domain::reconnect::LinkResult::Linked { .. }) => {
                                claimed.insert(account.id.clone());
                                summary.relinked.push(row.id);
                            }
                            Ok(_) => summary.unmatched.push(row.id),
                            Err(relink_store::StoreError::Conflict(_)) => {
                                summary.unmatched.push(row.id)
                            }
                            Err(e) => return Err(store_err(e)),
                        }
                    }
                    Ok(None) => summary.unmatched.push(row.id),
                    Err(candidates) => {
                        let key = format!("{ALERT_ORPHAN_AMBIGUOUS}:{}", row.id);
                        self.store
                            .raise_alert(
                                ALERT_ORPHAN_AMBIGUOUS,
                                "warning",
                                &format!(
                                    "{} is stuck linking and {candidates} Unipile accounts or linking rows could be its session; not linked",
                                    row.display_name
                                ),
                                json!({"account_id": row.id, "workspace_id": row.workspace_id, "candidates": candidates}),
                                &key,
                            )
                            .await
                            .map_err(store_err)?;
                        still_ambiguous.push(key);
                        summary.ambiguous.push(row.id);
                    }
                }
            }
        }
        self.store
            .acknowledge_healed(ALERT_ORPHAN_AMBIGUOUS, &still_ambiguous)
            .await
            .map_err(store_err)?;
        tracing::info!(?summary, "orphan-watcher pass");
        Ok(summary)
    }

    /// Implements `sweep_campaigns`: bounded batches until nothing is left, with a
    /// heartbeat (the running totals) after each batch.
    #[activity(name = names::SWEEP_CAMPAIGNS)]
    pub async fn sweep_campaigns(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SweepInput,
    ) -> Result<SweepSummary, ActivityError> {
        let batch = i64::from(input.batch_size.clamp(1, 10_000));
        let mut total = SweepSummary::default();
        let mut after = None;
        loop {
            let t = self
                .store
                .sweep_disconnect_pauses(batch, after)
                .await
                .map_err(store_err)?;
            after = t.last;
            total.batches += 1;
            total.reasons_cleared += t.reasons_cleared;
            total.campaigns_resumed += t.campaigns_resumed;
            total.still_paused += t.still_paused;
            ctx.record_heartbeat(total).await?;
            if t.reasons_cleared < batch as u64 {
                return Ok(total);
            }
        }
    }

    /// Implements `reconcile_pass`: a complete listing (any page error fails the pass),
    /// a plan, the sanity gate, then compare-and-set flips (recoveries are not gated).
    #[activity(name = names::RECONCILE_PASS)]
    pub async fn reconcile_pass(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ReconcileInput,
    ) -> Result<ReconcileReport, ActivityError> {
        let mut report = ReconcileReport {
            dry_run: input.dry_run,
            ..Default::default()
        };
        let listing = match self
            .listing_or_abort(
                &ctx,
                "account-reconciler",
                self.unipile.list_all_account_statuses(),
            )
            .await?
        {
            Listing::Complete(l) => l,
            Listing::Unauthorized => {
                report.unauthorized = true;
                return Ok(report);
            }
            Listing::Aborted(cause) => {
                report.aborted = Some(cause);
                return Ok(report);
            }
        };
        report.listed = listing.len();
        let by_id: HashMap<&str, &AccountStatusEntry> =
            listing.iter().map(|a| (a.id.as_str(), a)).collect();
        let rows = self.store.linked_accounts().await.map_err(store_err)?;
        report.fleet = rows.len();
        let mut provider_updates = Vec::new();
        for (id, status, unipile_id, provider) in &rows {
            let seen = by_id.get(unipile_id.as_str()).map(|a| a.source_status());
            let flip = |to: AccountStatus, source_status: Option<SourceStatus>| PlannedFlip {
                account_id: *id,
                unipile_account_id: unipile_id.clone(),
                from: *status,
                to,
                source_status,
            };
            match seen {
                None if *status == AccountStatus::Connected => {
                    report.plan.push(flip(AccountStatus::Disconnected, None))
                }
                None => {}
                Some(src) => {
                    let src = src.unwrap_or(SourceStatus::Error);
                    if src.needs_login() && *status == AccountStatus::Connected {
                        report
                            .plan
                            .push(flip(AccountStatus::ReconnectNeeded, Some(src)));
                    } else if src == SourceStatus::Ok && *status == AccountStatus::ReconnectNeeded {
                        report.plan.push(flip(AccountStatus::Connected, Some(src)));
                    } else if *provider != Some(src) && *status == AccountStatus::Connected {
                        provider_updates.push((*id, src));
                    }
                }
            }
        }
        let away = report.plan.iter().filter(|f| f.is_away()).count();
        report.gated = sanity_gate_holds(away, report.fleet);
        if input.dry_run {
            return Ok(report);
        }
        if report.gated {
            self.store
                .raise_alert(
                    ALERT_SANITY_GATE,
                    "critical",
                    &format!(
                        "reconciler would flip {away} of {} linked accounts away from connected; flipped none",
                        report.fleet
                    ),
                    json!({"would_flip": away, "fleet": report.fleet, "listed": report.listed}),
                    ALERT_SANITY_GATE,
                )
                .await
                .map_err(store_err)?;
        } else {
            self.store
                .acknowledge_healed(ALERT_SANITY_GATE, &[])
                .await
                .map_err(store_err)?;
        }
        for f in &report.plan {
            if report.gated && f.is_away() {
                continue;
            }
            let reason = match f.source_status {
                Some(s) => format!("Unipile source status {s}"),
                None => "absent from Unipile's complete account listing".into(),
            };
            let a = audit("workflow:account-reconciler", "reconciler.flip", reason);
            let done = self
                .store
                .reconcile_flip(f.account_id, f.from, f.to, f.source_status, &a)
                .await
                .map_err(store_err)?;
            if done {
                report.applied += 1;
                if f.source_status.is_none() {
                    report.delete_requests.push(f.unipile_account_id.clone());
                }
            } else {
                report.moved += 1;
            }
        }
        // Gate 2 of Safe delete: a pass that would request too many deletes requests none.
        let requests = report.delete_requests.len();
        if sanity_gate_holds(requests, report.fleet) {
            self.store
                .raise_alert(
                    "reconciler.delete_sanity_gate",
                    "critical",
                    &format!("reconciler would request {requests} Unipile deletes of {} linked accounts; requested none", report.fleet),
                    json!({"would_request": requests, "fleet": report.fleet}),
                    "reconciler.delete_sanity_gate",
                )
                .await
                .map_err(store_err)?;
            report.delete_requests.clear();
            report.deletes_gated = true;
        }
        for (id, src) in provider_updates {
            self.store
                .set_provider_status(id, src)
                .await
                .map_err(store_err)?;
        }
        tracing::info!(
            fleet = report.fleet,
            planned = report.plan.len(),
            applied = report.applied,
            gated = report.gated,
            "reconciler pass"
        );
        Ok(report)
    }

    /// Implements `sync_account_status`: re-reads the account from Unipile (webhooks
    /// arrive late, twice or out of order) and applies what it finds.
    #[activity(name = names::SYNC_ACCOUNT_STATUS)]
    pub async fn sync_account_status(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: AccountStatusSyncInput,
    ) -> Result<SyncResult, ActivityError> {
        let (row, account) = match self.reread(&input.unipile_account_id).await? {
            Reread::NoRow => return Ok(SyncResult::UnknownAccount),
            Reread::Gone => return Ok(SyncResult::Gone),
            Reread::Found(row, account) => (row, account),
        };
        let Some(src) = account.source_status() else {
            return Err(permanent(format!(
                "account {} has no readable source status",
                account.id
            )));
        };
        let a = audit(
            "workflow:account-status",
            "unipile.account_status",
            format!("Unipile source status {src}"),
        );
        let flipped = if src.needs_login() {
            let f = self
                .store
                .mark_reconnect_needed(row.id, src, &a)
                .await
                .map_err(store_err)?;
            if !f {
                self.store
                    .set_provider_status(row.id, src)
                    .await
                    .map_err(store_err)?;
            }
            f
        } else if src == SourceStatus::Ok && row.status == AccountStatus::ReconnectNeeded {
            self.store
                .recover_connected(row.id, src, &a)
                .await
                .map_err(store_err)?
                .is_some()
        } else if src == SourceStatus::Ok && row.status == AccountStatus::Connected {
            self.store
                .provider_ok_again(row.id)
                .await
                .map_err(store_err)?;
            false
        } else {
            self.store
                .set_provider_status(row.id, src)
                .await
                .map_err(store_err)?;
            false
        };
        Ok(SyncResult::Applied {
            source_status: src,
            flipped,
        })
    }

    /// Implements `check_blip`: runs after the blip tolerance; re-reads the account and
    /// pauses the campaigns only while the blip has lasted the whole tolerance.
    #[activity(name = names::CHECK_BLIP)]
    pub async fn check_blip(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: AccountStatusSyncInput,
    ) -> Result<BlipCheck, ActivityError> {
        let (row, account) = match self.reread(&input.unipile_account_id).await? {
            Reread::NoRow | Reread::Gone => return Ok(BlipCheck::Healed),
            Reread::Found(row, account) => (row, account),
        };
        match account.source_status() {
            Some(s) if s.is_blip() => {
                self.store
                    .set_provider_status(row.id, s)
                    .await
                    .map_err(store_err)?;
                match self
                    .store
                    .pause_for_blip(row.id, input.blip_tolerance_secs)
                    .await
                    .map_err(store_err)?
                {
                    Some(campaigns) => {
                        tracing::warn!(account_id = %row.id, paused = campaigns.len(), "sync blip outlasted its tolerance");
                        Ok(BlipCheck::Paused { campaigns })
                    }
                    None => Ok(BlipCheck::Healed),
                }
            }
            _ => Ok(BlipCheck::Healed),
        }
    }

    /// Implements `subscription_ended`.
    #[activity(name = names::SUBSCRIPTION_ENDED)]
    pub async fn subscription_ended(
        self: Arc<Self>,
        _ctx: ActivityContext,
        workspace: relink_domain::WorkspaceId,
    ) -> Result<u64, ActivityError> {
        self.store
            .subscription_end(workspace)
            .await
            .map_err(store_err)
    }

    /// Implements `subscription_renewed`.
    #[activity(name = names::SUBSCRIPTION_RENEWED)]
    pub async fn subscription_renewed(
        self: Arc<Self>,
        _ctx: ActivityContext,
        workspace: relink_domain::WorkspaceId,
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
    pub async fn disconnect_workspace(
        self: Arc<Self>,
        _ctx: ActivityContext,
        workspace: relink_domain::WorkspaceId,
    ) -> Result<u64, ActivityError> {
        let a = audit(
            "workflow:subscription-end",
            "subscription.grace_ended",
            "no renewal within the grace period".into(),
        );
        self.store
            .disconnect_workspace(workspace, &a)
            .await
            .map_err(store_err)
    }
}
