//! Activities of the healing loops: orphan watcher, sweeper, reconciler and the
//! account-status sync. Every listing is complete or unused; every flip is
//! compare-and-set on the status the pass read.

use chrono::Utc;
use relink_domain::{
    AccountStatus, AlertKind, Severity, SourceStatus,
    healing::{
        AccountStatusSyncInput, BlipCheck, OrphanPassInput, OrphanPassSummary,
        PASS_LISTING_ATTEMPTS, PlannedFlip, ReconcileInput, ReconcileReport, SweepInput,
        SweepSummary, SyncResult, sanity_gate_holds,
    },
    truth::{Decision, FirstConnectionMatch, RelinkPath, Seen, decide},
};
use relink_store::{Applied, AuditContext, Planned, Store};
use relink_unipile::{UnipileClient, UnipileError};
use relink_workflows::activities::names;
use serde_json::json;
use std::{collections::HashSet, sync::Arc};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::{
    PassClock,
    matching::{Candidates, ListingError},
    permanent, store_err, unipile_err,
};

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
                AlertKind::Unauthorized,
                Severity::Critical,
                "Unipile rejected relink's API key (401); nothing was flipped",
                json!({"body": body}),
                AlertKind::Unauthorized.as_str(),
            )
            .await
            .map_err(store_err)?;
        Ok(())
    }

    /// Runs `listing`, a pass's read of Unipile's complete listing (page by page, with
    /// what the pass keeps of it as `T`). A transient failure (5xx, 429, timeout, a
    /// failing page) is retried by Temporal until attempt [`PASS_LISTING_ATTEMPTS`];
    /// that attempt, or any permanent failure, aborts the pass with one admin alert
    /// keyed by the workflow run (one per aborted pass, however many attempts saw the
    /// failure). A 401 raises the unauthorized alert. Errors: the retryable failure
    /// itself, a database error while the pages were read, or one raising an alert.
    async fn listing_or_abort<T>(
        &self,
        ctx: &ActivityContext,
        pass: &str,
        listing: impl Future<Output = Result<T, ListingError>>,
    ) -> Result<Listing<T>, ActivityError> {
        // The pass activities have a 60 s heartbeat timeout: a long listing (many pages,
        // a slow Unipile) heartbeats every 10 s so that it is not timed out mid-way.
        let e = match with_heartbeats(ctx, listing).await {
            Ok(listing) => {
                // Healed: this loop reads the whole listing again, with our API key.
                // Another loop's aborted passes stay open (keyed by `pass`).
                self.store
                    .acknowledge_pass_healed(pass)
                    .await
                    .map_err(store_err)?;
                self.store
                    .acknowledge_healed(AlertKind::Unauthorized, &[])
                    .await
                    .map_err(store_err)?;
                return Ok(Listing::Complete(listing));
            }
            Err(ListingError::Store(e)) => return Err(store_err(e)),
            Err(ListingError::Unipile(UnipileError::Unauthorized { body })) => {
                self.alert_unauthorized(&body).await?;
                return Ok(Listing::Unauthorized);
            }
            Err(ListingError::Unipile(e)) => e,
        };
        let info = ctx.info();
        if e.is_transient() && info.attempt < PASS_LISTING_ATTEMPTS {
            tracing::warn!(pass, attempt = info.attempt, error = %e, "listing failed; the pass will retry");
            return Err(unipile_err(e));
        }
        let cause = e.to_string();
        let run = run_key(ctx);
        self.store
            .raise_alert(
                AlertKind::PassAborted,
                Severity::Critical,
                &format!(
                    "{pass} pass aborted after {} attempts: Unipile's listing failed ({cause}); nothing was changed",
                    info.attempt
                ),
                json!({"pass": pass, "attempts": info.attempt, "cause": cause, "run": run}),
                &format!("{}:{run}", AlertKind::PassAborted),
            )
            .await
            .map_err(store_err)?;
        Ok(Listing::Aborted(cause))
    }
}

/// `<workflow id>/<run id>` of the activity's run: the dedup key of the alerts raised
/// once per pass.
fn run_key(ctx: &ActivityContext) -> String {
    let info = ctx.info();
    format!(
        "{}/{}",
        info.workflow_id.as_deref().unwrap_or("-"),
        info.workflow_run_id.as_deref().unwrap_or("-")
    )
}

/// Time a pass keeps, before its deadline (`PassClock`), for one row (up to two Unipile
/// reads at the default 10 s timeout each, and its transactions) or one sweeper batch:
/// with less left, the rest is left for the next pass.
const ROW_RESERVE: std::time::Duration = std::time::Duration::from_secs(25);

/// Planned decisions a reconciler pass reads from its stage at a time.
const STAGED_BATCH: i64 = 500;

/// Runs `work`, recording an activity heartbeat every 10 s until it finishes.
async fn with_heartbeats<F: Future>(ctx: &ActivityContext, work: F) -> F::Output {
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

/// Stages Unipile's complete listing in `stage`, a page at a time (an account whose
/// status this client does not know is staged as `ERROR`: not live). Returns the
/// accounts listed. Errors: a page's failure, or the database's.
async fn stage_listing(
    unipile: &UnipileClient,
    stage: &mut relink_store::ReconcileStage,
) -> Result<usize, ListingError> {
    let mut pages = unipile.account_status_pages();
    let mut listed = 0usize;
    // Each page is staged while the next one is fetched.
    let mut next = pages.next_page().await.map_err(ListingError::Unipile)?;
    while let Some(page) = next {
        let entries: Vec<(&str, SourceStatus)> = page
            .iter()
            .map(|a| {
                (
                    a.id.as_str(),
                    a.source_status().unwrap_or(SourceStatus::Error),
                )
            })
            .collect();
        let (staged, fetched) = tokio::join!(stage.add_listing_page(&entries), pages.next_page());
        staged.map_err(ListingError::Store)?;
        next = fetched.map_err(ListingError::Unipile)?;
        listed += page.len();
    }
    Ok(listed)
}

/// What a pass got when it asked for Unipile's complete listing.
enum Listing<T> {
    /// Every page was read: what the pass kept of them.
    Complete(T),
    /// Unipile refused our API key (alerted).
    Unauthorized,
    /// Not readable completely within the pass's attempts (alerted): the cause.
    Aborted(String),
}

/// One linked account as its row and Unipile see it now.
enum Reread {
    /// No row is linked to this Unipile account.
    NoRow,
    /// The row (read first) and what Unipile says of its account now.
    Found(Box<relink_store::AccountRow>, Seen),
}

impl HealingActivities {
    /// Reads the row linked to `unipile_account_id` (its version first), then re-reads
    /// the account from Unipile ([`crate::seen_now`]). A 401 for our own API key raises
    /// the admin alert and is permanent; other Unipile trouble is retried by Temporal.
    async fn reread(&self, unipile_account_id: &str) -> Result<Reread, ActivityError> {
        let Some(row) = self
            .store
            .account_by_unipile_id(unipile_account_id)
            .await
            .map_err(store_err)?
        else {
            return Ok(Reread::NoRow);
        };
        match crate::seen_now(&self.unipile, unipile_account_id).await {
            Ok(seen) => Ok(Reread::Found(Box::new(row), seen)),
            Err(UnipileError::Unauthorized { body }) => {
                self.alert_unauthorized(&body).await?;
                Err(permanent("Unipile rejected our API key".into()))
            }
            Err(e) => Err(unipile_err(e)),
        }
    }

    /// Whether a `disconnected` row of this workspace may come back on a live session
    /// (false once relink itself took it down at a subscription's end).
    async fn may_recover(&self, row: &relink_store::AccountRow) -> Result<bool, ActivityError> {
        if row.status != AccountStatus::Disconnected {
            return Ok(true);
        }
        self.store
            .subscription_active(row.workspace_id)
            .await
            .map_err(store_err)
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

#[activities]
impl HealingActivities {
    /// Implements `orphan_pass`: rows `connecting` for too long are relinked when their
    /// session is live. A reconnect matches its own Unipile id once its source is `OK`; a
    /// first connection matches the LinkedIn identity the row knows, or else the single
    /// unclaimed LinkedIn account that appeared inside its linking window while no other
    /// first connection was linking. Anything ambiguous raises an alert, never a guess.
    #[activity(name = names::ORPHAN_PASS)]
    #[tracing::instrument(skip_all)]
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
            // Only what a match can depend on is kept of the listing (the rows' own
            // sessions, accounts created since the earliest row began linking, the
            // identities the rows know): memory is a page, not the fleet.
            let earliest = rows
                .iter()
                .map(|r| r.connecting_since.unwrap_or(cutoff))
                .min()
                .unwrap_or(cutoff);
            let first_since = rows
                .iter()
                .filter(|r| r.unipile_account_id.is_none())
                .map(|r| r.connecting_since.unwrap_or(cutoff))
                .min();
            let own: HashSet<&str> = rows
                .iter()
                .filter_map(|r| r.unipile_account_id.as_ref().map(|u| u.as_str()))
                .collect();
            let members: HashSet<&str> = rows
                .iter()
                .filter(|r| r.unipile_account_id.is_none())
                .filter_map(|r| r.linkedin_member_id.as_deref())
                .collect();
            let Candidates {
                accounts: listing,
                mut claimed,
                ..
            } = match self
                .listing_or_abort(
                    &ctx,
                    "orphan-watcher",
                    crate::matching::candidates(
                        &self.unipile,
                        &self.store,
                        first_since,
                        &members,
                        &own,
                    ),
                )
                .await?
            {
                Listing::Complete(c) => c,
                Listing::Unauthorized => {
                    summary.aborted = Some("Unipile rejected the API key (401)".into());
                    return Ok(summary);
                }
                Listing::Aborted(cause) => {
                    summary.aborted = Some(cause);
                    return Ok(summary);
                }
            };
            // Linking intervals of every workspace: the listing spans them all.
            let intervals = crate::matching::intervals_for(&self.store, earliest)
                .await
                .map_err(store_err)?;
            let clock = PassClock::of(&ctx);
            for row in rows {
                if !clock.has(ROW_RESERVE) {
                    // Its ambiguity alert (if any) stays open for the next pass.
                    still_ambiguous.push(format!("{}:{}", AlertKind::OrphanAmbiguous, row.id));
                    summary.deferred.push(row.id);
                    continue;
                }
                let candidate: Result<Option<String>, usize> = match &row.unipile_account_id {
                    Some(own) => Ok(listing
                        .iter()
                        .find(|a| {
                            *own == a.id
                                && a.is_linkedin()
                                && a.source_status() == Some(SourceStatus::Ok)
                        })
                        .map(|a| a.id.clone())),
                    None => {
                        let since = row.connecting_since.unwrap_or(cutoff);
                        match crate::matching::first_connection(
                            &row, since, &listing, &claimed, &intervals,
                        ) {
                            FirstConnectionMatch::One { unipile_account_id } => {
                                Ok(Some(unipile_account_id.into()))
                            }
                            FirstConnectionMatch::NoCandidate => Ok(None),
                            FirstConnectionMatch::Ambiguous {
                                accounts,
                                other_rows,
                            } => Err(accounts + other_rows),
                        }
                    }
                };
                match candidate {
                    Ok(Some(unipile_id)) => {
                        let Some(account) = listing.iter().find(|a| a.id == unipile_id) else {
                            summary.unmatched.push(row.id);
                            continue;
                        };
                        let a = audit(
                            "workflow:orphan-watcher",
                            RelinkPath::OrphanWatcher.audit_action(),
                            "session live on Unipile while the row was stuck connecting".into(),
                        );
                        // Compare-and-set on the version read before the listing: a
                        // callback, a re-click or an expiry in between wins. A write that
                        // only recorded a newer read (the row still linking, e.g. the
                        // session's own account-status webhook) is not a winner: the row
                        // and the session are read again, and the link retried.
                        let mut version = row.version;
                        let mut r = Ok(relink_domain::reconnect::LinkResult::NotLive);
                        for attempt in 0..crate::MOVED_RETRIES {
                            if attempt > 0 {
                                let now = self.store.account(row.id).await.map_err(store_err)?;
                                let live = match self.unipile.get_account(&account.id).await {
                                    Ok(a) => a.source_status() == Some(SourceStatus::Ok),
                                    Err(
                                        UnipileError::NotFound
                                        | UnipileError::AccountNeedsLogin { .. },
                                    ) => false,
                                    Err(e) => return Err(unipile_err(e)),
                                };
                                // Only the same linking attempt (same token, same start): a
                                // re-click or a new link in between wins.
                                let same_attempt = now.status == AccountStatus::Connecting
                                    && now.link_token == row.link_token
                                    && now.connecting_since == row.connecting_since;
                                if !same_attempt || !live {
                                    break;
                                }
                                version = now.version;
                            }
                            r = self
                                .store
                                .link_account(
                                    row.id,
                                    None,
                                    Some(version),
                                    &account.id,
                                    account.linkedin_member_id(),
                                    SourceStatus::Ok,
                                    RelinkPath::OrphanWatcher,
                                    &a,
                                )
                                .await;
                            let still_linking = relink_domain::reconnect::LinkResult::Moved {
                                status: AccountStatus::Connecting,
                            };
                            if !matches!(&r, Ok(m) if *m == still_linking) {
                                break;
                            }
                        }
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
                        let key = format!("{}:{}", AlertKind::OrphanAmbiguous, row.id);
                        self.store
                            .raise_alert(
                                AlertKind::OrphanAmbiguous,
                                Severity::Warning,
                                &format!(
                                    "{} is stuck linking and {candidates} Unipile accounts or linking rows (any workspace) could be its session; not linked",
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
            .acknowledge_healed(AlertKind::OrphanAmbiguous, &still_ambiguous)
            .await
            .map_err(store_err)?;
        // Still linking past the threshold: the platform hears it once per attempt.
        for id in summary.unmatched.iter().chain(&summary.ambiguous) {
            self.store
                .record_linking_stuck(*id)
                .await
                .map_err(store_err)?;
        }
        tracing::info!(?summary, "orphan-watcher pass");
        if summary.deferred.is_empty() {
            self.store
                .record_schedule_success(relink_domain::healing::ORPHAN_WATCHER)
                .await
                .map_err(store_err)?;
        }
        Ok(summary)
    }

    /// Implements `sweep_campaigns`: bounded batches until nothing is left, with a
    /// heartbeat (the running totals) after each batch.
    #[activity(name = names::SWEEP_CAMPAIGNS)]
    #[tracing::instrument(skip_all)]
    pub async fn sweep_campaigns(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SweepInput,
    ) -> Result<SweepSummary, ActivityError> {
        let batch = i64::from(input.batch_size.clamp(1, 10_000));
        let mut total = SweepSummary::default();
        let mut after = None;
        let clock = PassClock::of(&ctx);
        loop {
            if !clock.has(ROW_RESERVE) {
                total.cut_short = true;
                tracing::warn!(
                    ?total,
                    "sweeper pass cut short by its deadline; the next pass goes on"
                );
                return Ok(total);
            }
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
                self.store
                    .record_schedule_success(relink_domain::healing::CAMPAIGN_SWEEPER)
                    .await
                    .map_err(store_err)?;
                return Ok(total);
            }
        }
    }

    /// Implements `reconcile_pass`: a complete listing (any page error fails the pass),
    /// a plan, the sanity gate, then compare-and-set flips (recoveries are not gated).
    #[activity(name = names::RECONCILE_PASS)]
    #[tracing::instrument(skip_all, fields(dry_run = input.dry_run))]
    pub async fn reconcile_pass(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ReconcileInput,
    ) -> Result<ReconcileReport, ActivityError> {
        let mut report = ReconcileReport {
            dry_run: input.dry_run,
            ..Default::default()
        };
        // The rows (with their versions) are read *before* Unipile's listing: a user,
        // a webhook or another loop that changes a row while the pages load makes that
        // row's write a no-op instead of being undone. The rows, the listing and the
        // plan are staged in PostgreSQL (`ReconcileStage`): the worker holds one page at
        // a time, however large the fleet.
        let (mut stage, fleet) = self.store.stage_reconcile().await.map_err(store_err)?;
        report.fleet = fleet as usize;
        let staged = self
            .listing_or_abort(
                &ctx,
                "account-reconciler",
                stage_listing(&self.unipile, &mut stage),
            )
            .await?;
        report.listed = match staged {
            Listing::Complete(listed) => listed,
            Listing::Unauthorized => {
                report.unauthorized = true;
                return Ok(report);
            }
            Listing::Aborted(cause) => {
                report.aborted = Some(cause);
                return Ok(report);
            }
        };
        // The whole plan, before anything is written: the gate decides on all of it.
        let counts = stage
            .plan(&relink_domain::truth::decision_table())
            .await
            .map_err(store_err)?;
        report.planned = counts.flips as usize;
        report.plan = stage
            .planned(
                Planned::Flips,
                None,
                relink_domain::healing::PLAN_SHOWN as i64,
            )
            .await
            .map_err(store_err)?
            .into_iter()
            .filter_map(|row| {
                Some(PlannedFlip {
                    account_id: row.id,
                    to: row.decision.target()?,
                    unipile_account_id: row.unipile_account_id.into(),
                    from: row.status,
                    source_status: match row.seen {
                        Seen::Source(s) => Some(s),
                        Seen::Gone => None,
                    },
                })
            })
            .collect();
        let away = counts.away as usize;
        report.gated = sanity_gate_holds(away, report.fleet);
        if input.dry_run {
            stage.close().await.map_err(store_err)?;
            return Ok(report);
        }
        if report.gated {
            self.store
                .raise_alert(
                    AlertKind::SanityGate,
                    Severity::Critical,
                    &format!(
                        "reconciler would flip {away} of {} linked accounts away from connected; flipped none",
                        report.fleet
                    ),
                    json!({"would_flip": away, "fleet": report.fleet, "listed": report.listed}),
                    AlertKind::SanityGate.as_str(),
                )
                .await
                .map_err(store_err)?;
        } else {
            self.store
                .acknowledge_healed(AlertKind::SanityGate, &[])
                .await
                .map_err(store_err)?;
        }
        let mut disagreements = Vec::new();
        let clock = PassClock::of(&ctx);
        let mut after = None;
        // A gated pass reads only the recoveries (never the flips it holds).
        let which = if report.gated {
            Planned::Recoveries
        } else {
            Planned::Flips
        };
        'flips: loop {
            let batch = stage
                .planned(which, after, STAGED_BATCH)
                .await
                .map_err(store_err)?;
            let full = batch.len() as i64 == STAGED_BATCH;
            after = batch.last().map(|r| r.id);
            for row in batch {
                let decision = row.decision;
                if report.gated && decision.is_away() {
                    continue;
                }
                if !clock.has(ROW_RESERVE) {
                    report.deferred += 1;
                    continue;
                }
                if decision.is_away() {
                    // A flip away from `connected` is confirmed by a fresh single-account
                    // read right before it is written; a disagreement writes nothing.
                    let now_seen = match crate::seen_now(&self.unipile, &row.unipile_account_id)
                        .await
                    {
                        Ok(seen) => seen,
                        Err(UnipileError::Unauthorized { body }) => {
                            self.alert_unauthorized(&body).await?;
                            report.unauthorized = true;
                            break 'flips;
                        }
                        Err(e) => {
                            tracing::warn!(account_id = %row.id, error = %e, "could not confirm a flip; left for the next pass");
                            report.unconfirmed += 1;
                            continue;
                        }
                    };
                    let confirmed = decide(row.status, now_seen, row.may_recover);
                    if confirmed != decision {
                        disagreements.push(json!({
                            "account_id": row.id,
                            "unipile_account_id": row.unipile_account_id,
                            "listing": format!("{decision:?}"),
                            "fresh_read": format!("{confirmed:?}"),
                        }));
                        continue;
                    }
                }
                let reason = match decision {
                    Decision::Gone => {
                        "absent from Unipile's complete account listing, and 404 on a fresh read"
                            .into()
                    }
                    Decision::NeedsLogin(s) | Decision::Relink(s) | Decision::Record(s) => {
                        format!("Unipile source status {s}")
                    }
                    Decision::Nothing => String::new(),
                };
                let a = audit(
                    "workflow:account-reconciler",
                    RelinkPath::Reconciler.audit_action(),
                    reason,
                );
                match self
                    .store
                    .apply_decision(row.id, row.version, decision, RelinkPath::Reconciler, &a)
                    .await
                    .map_err(store_err)?
                {
                    Applied::Written { .. } => {
                        report.applied += 1;
                        if decision == Decision::Gone {
                            report.delete_requests.push(row.unipile_account_id.clone());
                        }
                    }
                    Applied::Moved { .. } => report.moved += 1,
                }
            }
            if !full {
                break;
            }
        }
        if disagreements.is_empty() && report.deferred == 0 {
            // (A pass that deferred flips has not re-checked them: an open alert stays.)
            self.store
                .acknowledge_healed(AlertKind::ListingDisagrees, &[])
                .await
                .map_err(store_err)?;
        } else {
            let run = run_key(&ctx);
            report.disagreed = disagreements.len();
            self.store
                .raise_alert(
                    AlertKind::ListingDisagrees,
                    Severity::Warning,
                    &format!(
                        "reconciler: Unipile's listing and a fresh read disagree on {} account(s); left them as they were",
                        disagreements.len()
                    ),
                    json!({"accounts": disagreements, "run": run}),
                    &format!("{}:{run}", AlertKind::ListingDisagrees),
                )
                .await
                .map_err(store_err)?;
        }
        // Gate 2 of Safe delete: a pass that would request too many deletes requests none.
        let requests = report.delete_requests.len();
        if sanity_gate_holds(requests, report.fleet) {
            self.store
                .raise_alert(
                    AlertKind::DeleteSanityGate,
                    Severity::Critical,
                    &format!("reconciler would request {requests} Unipile deletes of {} linked accounts; requested none", report.fleet),
                    json!({"would_request": requests, "fleet": report.fleet}),
                    "reconciler.delete_sanity_gate",
                )
                .await
                .map_err(store_err)?;
            report.delete_requests.clear();
            report.deletes_gated = true;
        } else {
            self.store
                .acknowledge_healed(AlertKind::DeleteSanityGate, &[])
                .await
                .map_err(store_err)?;
        }
        // The requests that stand: the platform hears of each (`safe_delete.requested`).
        if !report.dry_run {
            let requester =
                serde_json::to_value(relink_domain::deletes::DeleteRequester::Reconciler {
                    reason: relink_domain::deletes::RECONCILER_DELETE_REASON.into(),
                })
                .unwrap_or_default();
            for uid in &report.delete_requests {
                self.store
                    .record_safe_delete_requested(uid, &requester)
                    .await
                    .map_err(store_err)?;
            }
        }
        let mut after = None;
        loop {
            let batch = stage
                .planned(Planned::Records, after, STAGED_BATCH)
                .await
                .map_err(store_err)?;
            let full = batch.len() as i64 == STAGED_BATCH;
            after = batch.last().map(|r| r.id);
            for row in batch {
                if !clock.has(ROW_RESERVE) {
                    report.deferred += 1;
                    continue;
                }
                let a = audit(
                    "workflow:account-reconciler",
                    "reconciler.record",
                    String::new(),
                );
                self.store
                    .apply_decision(
                        row.id,
                        row.version,
                        row.decision,
                        RelinkPath::Reconciler,
                        &a,
                    )
                    .await
                    .map_err(store_err)?;
            }
            if !full {
                break;
            }
        }
        stage.close().await.map_err(store_err)?;
        tracing::info!(
            fleet = report.fleet,
            planned = report.planned,
            applied = report.applied,
            moved = report.moved,
            disagreed = report.disagreed,
            gated = report.gated,
            "reconciler pass"
        );
        // A pass that had to defer writes is not a success: a reconciler whose listing
        // eats its budget every time then goes stale (`schedule.stale`) instead of
        // silently never writing.
        if report.deferred == 0 {
            self.store
                .record_schedule_success(relink_domain::healing::ACCOUNT_RECONCILER)
                .await
                .map_err(store_err)?;
        }
        Ok(report)
    }

    /// Implements `sync_account_status`: re-reads the row (its version), then the
    /// account from Unipile (webhooks arrive late, twice or out of order), and writes
    /// what that read means (`truth::decide`) while the row is unchanged. A row changed
    /// in between is read again, up to 3 times; a 404 is left to the reconciler.
    #[activity(name = names::SYNC_ACCOUNT_STATUS)]
    #[tracing::instrument(skip_all, fields(unipile_account_id = %input.unipile_account_id))]
    pub async fn sync_account_status(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: AccountStatusSyncInput,
    ) -> Result<SyncResult, ActivityError> {
        let mut last = None;
        for _ in 0..crate::MOVED_RETRIES {
            let (row, seen) = match self.reread(&input.unipile_account_id).await? {
                Reread::NoRow => return Ok(SyncResult::UnknownAccount),
                Reread::Found(_, Seen::Gone) => return Ok(SyncResult::Gone),
                Reread::Found(row, seen) => (*row, seen),
            };
            let Seen::Source(src) = seen else {
                return Ok(SyncResult::Gone);
            };
            let decision = decide(row.status, seen, self.may_recover(&row).await?);
            let a = audit(
                "workflow:account-status",
                RelinkPath::AccountStatusSync.audit_action(),
                format!("Unipile source status {src}"),
            );
            match self
                .store
                .apply_decision(
                    row.id,
                    row.version,
                    decision,
                    RelinkPath::AccountStatusSync,
                    &a,
                )
                .await
                .map_err(store_err)?
            {
                Applied::Written { flipped, .. } => {
                    return Ok(SyncResult::Applied {
                        source_status: src,
                        flipped,
                    });
                }
                Applied::Moved { status } => {
                    tracing::info!(account_id = %row.id, %status, "row changed during the account-status read; reading again");
                    last = Some(src);
                }
            }
        }
        // Still changing under us: whoever changed it read Unipile later than we did.
        Ok(SyncResult::Applied {
            source_status: last.unwrap_or(SourceStatus::Ok),
            flipped: false,
        })
    }

    /// Implements `check_blip`: runs after the blip tolerance; re-reads the account and
    /// pauses the campaigns only while the blip has lasted the whole tolerance.
    #[activity(name = names::CHECK_BLIP)]
    #[tracing::instrument(skip_all, fields(unipile_account_id = %input.unipile_account_id))]
    pub async fn check_blip(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: AccountStatusSyncInput,
    ) -> Result<BlipCheck, ActivityError> {
        let (row, seen) = match self.reread(&input.unipile_account_id).await? {
            Reread::NoRow => return Ok(BlipCheck::Healed),
            Reread::Found(row, seen) => (*row, seen),
        };
        match seen {
            Seen::Source(s) if s.is_blip() => {
                let a = audit("workflow:account-status", "unipile.blip", String::new());
                // Recorded only while the row is as read; the pause below re-checks the
                // row's own status and blip age under its lock.
                self.store
                    .apply_decision(
                        row.id,
                        row.version,
                        Decision::Record(s),
                        RelinkPath::AccountStatusSync,
                        &a,
                    )
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
}
