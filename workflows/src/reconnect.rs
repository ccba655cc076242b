//! The Reconnect workflow, id `reconnect:<account_id>` (DESIGN.md, "Reconnect").
//!
//! A click sends the `request_link` update (update-with-start, conflict policy
//! UseExisting). Requests within the reuse window of the current link's issue get the
//! same url, so a double click (or ten parallel clicks) never opens two hosted-auth
//! sessions; link issuance is serialized by the `issuing` flag. A failed link creation
//! leaves no link behind, so the next click tries again. The run then waits, on a
//! durable timer, for the notify callback (signal `hosted_auth_completed`) whose `name`
//! is the current token, until the newest link expires; at expiry it asks Unipile for a
//! live session before putting the row back where it was.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use relink_domain::{
    AccountStatus, LinkRef, UnipileAccountId,
    reconnect::{
        AbandonLinkInput, CreateLinkInput, FindLiveSessionInput, HostedAuthCallback, IssuedLink,
        LinkAccountInput, LinkKind, LinkRefusal, LinkRequest, LinkResult, MarkConnectingInput,
        ReconnectInput, ReconnectOutcome,
    },
    truth::RelinkPath,
};
use std::time::Duration;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult, workflows::select,
};

use crate::activities::{
    RelinkActivities, background_unipile_activity, click_db_local_activity,
    click_unipile_local_activity, db_activity, interactive_unipile_activity, revert_activity,
};

/// Patch id of issuing a link through local activities (issue 14): runs recorded before
/// it issued links through three activity tasks and keep replaying that way.
pub const RECONNECT_LOCAL_ACTIVITIES_PATCH: &str = "reconnect-link-local-activities";

type UpdateError = Box<dyn std::error::Error + Send + Sync>;

/// The link currently out for this account.
#[derive(Debug, Clone)]
struct CurrentLink {
    token: LinkRef,
    url: String,
    kind: LinkKind,
    unipile_account_id: Option<UnipileAccountId>,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl CurrentLink {
    fn issued(&self) -> IssuedLink {
        IssuedLink {
            url: self.url.clone(),
            issued_at: self.issued_at,
            expires_at: self.expires_at,
        }
    }
}

/// Reconnect workflow state.
#[workflow]
pub struct ReconnectWorkflow {
    input: ReconnectInput,
    current: Option<CurrentLink>,
    /// Status before this run flipped the row to `connecting` (restored on abandonment).
    back_to: Option<AccountStatus>,
    /// Issue time of this run's first link: a first connection must appear after it.
    linking_since: Option<DateTime<Utc>>,
    /// A request is creating a link; others wait for it and then reuse its url.
    issuing: bool,
    /// The callback that matched the current token, not yet handled.
    callback: Option<HostedAuthCallback>,
    /// Callbacks that arrived while a link was being issued, before the workflow adopted
    /// its token (the row already holds it, so the web tier forwarded them): applied
    /// once the link is adopted if they name its token. At most [`EARLY_CALLBACKS`].
    early: Vec<HostedAuthCallback>,
    /// A matching callback is being applied: no new link may replace the token now.
    applying_callback: bool,
    /// Set once the run has decided its outcome; later requests are refused.
    finished: bool,
}

/// How many early callbacks (see `ReconnectWorkflow::early`) a run keeps.
const EARLY_CALLBACKS: usize = 4;

fn now(ctx_time: Option<std::time::SystemTime>) -> DateTime<Utc> {
    // Workflow time comes from the activation (replay-safe), never the wall clock.
    ctx_time
        .map(DateTime::<Utc>::from)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

fn millis(ms: u64) -> ChronoDuration {
    ChronoDuration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX / 2))
}

#[workflow_methods]
impl ReconnectWorkflow {
    /// Builds the state from the input (runs before any update handler).
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: ReconnectInput) -> Self {
        Self {
            input,
            current: None,
            back_to: None,
            linking_since: None,
            issuing: false,
            callback: None,
            early: Vec::new(),
            applying_callback: false,
            finished: false,
        }
    }

    /// Waits for a link, then for its callback or expiry. Returns the outcome.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<ReconnectOutcome> {
        let idle = Duration::from_millis(ctx.state(|s| s.input.link_reuse_window_ms));
        // Phase 1: the first link. If every request failed and nobody is trying, end
        // without having changed anything (a later click starts a fresh run).
        loop {
            select! {
                _ = ctx.wait_condition(|s| s.current.is_some()) => break,
                _ = ctx.timer(idle) => {}
            };
            if ctx.state(|s| s.current.is_none() && !s.issuing) {
                return Self::finish(ctx, ReconnectOutcome::NoLink).await;
            }
        }
        // Phase 2: wait for the callback of the newest link until it expires.
        loop {
            let (token, expires_at) = ctx.state(|s| {
                let l = s.current.as_ref().expect("phase 2 has a link");
                (l.token.clone(), l.expires_at)
            });
            let remaining = (expires_at - now(ctx.workflow_time()))
                .to_std()
                .unwrap_or(Duration::ZERO);
            let mut expired = false;
            if ctx.state(|s| s.callback.is_none()) {
                let tok = token.clone();
                select! {
                    _ = ctx.wait_condition(move |s| {
                        s.callback.is_some() || s.current.as_ref().is_some_and(|l| l.token != tok)
                    }) => {}
                    _ = ctx.timer(remaining.max(Duration::from_millis(1))) => { expired = true; }
                };
            }
            let taken = ctx.state_mut(|s| {
                let cb = s.callback.take();
                s.applying_callback = cb.is_some();
                cb
            });
            if let Some(cb) = taken {
                let reason = format!("hosted-auth callback {}", cb.status);
                let linked = Self::link(
                    ctx,
                    &cb.name,
                    &cb.account_id,
                    reason,
                    RelinkPath::HostedAuthCallback,
                )
                .await;
                ctx.state_mut(|s| s.applying_callback = false);
                match linked? {
                    LinkResult::Linked { .. } | LinkResult::AlreadyLinked => {
                        let outcome = ReconnectOutcome::Linked {
                            unipile_account_id: cb.account_id,
                            via: "callback".into(),
                        };
                        return Self::finish(ctx, outcome).await;
                    }
                    LinkResult::Moved { status } if status != AccountStatus::Connecting => {
                        return Self::finish(ctx, ReconnectOutcome::Superseded { status }).await;
                    }
                    // Not live on Unipile (or a newer token): keep waiting.
                    LinkResult::Moved { .. } | LinkResult::NotLive => continue,
                }
            }
            let still_current = ctx.state(|s| s.current.as_ref().is_some_and(|l| l.token == token));
            if !expired || !still_current || ctx.state(|s| s.issuing) {
                if ctx.state(|s| s.issuing) {
                    ctx.wait_condition(|s| !s.issuing).await?;
                }
                continue;
            }
            return Self::on_expiry(ctx, token).await;
        }
    }

    /// The newest link expired without a (matching) callback: a live session on Unipile
    /// is relinked; otherwise the row goes back to its previous status.
    async fn on_expiry(
        ctx: &mut WorkflowContext<Self>,
        token: LinkRef,
    ) -> WorkflowResult<ReconnectOutcome> {
        ctx.state_mut(|s| s.finished = true);
        let (account_id, kind, unipile_id, since, back_to) = ctx.state(|s| {
            let l = s.current.as_ref().expect("expiry has a link");
            (
                s.input.account_id,
                l.kind,
                l.unipile_account_id.clone(),
                s.linking_since.unwrap_or(l.issued_at),
                s.back_to.unwrap_or(AccountStatus::Disconnected),
            )
        });
        // If Unipile cannot be asked (a long outage), the row still goes back: the orphan
        // watcher and the reconciler pick up a live session later.
        let live = ctx
            .execute_activity(
                RelinkActivities::find_live_session,
                FindLiveSessionInput {
                    account_id,
                    kind,
                    unipile_account_id: unipile_id,
                    linking_since: since,
                },
                background_unipile_activity(),
            )
            .await
            .unwrap_or(None);
        if let Some(unipile_account_id) = live {
            let reason = "live session found on Unipile at link expiry".to_string();
            match Self::link(
                ctx,
                &token,
                &unipile_account_id,
                reason,
                RelinkPath::LinkExpiryCheck,
            )
            .await?
            {
                LinkResult::Linked { .. } | LinkResult::AlreadyLinked => {
                    let outcome = ReconnectOutcome::Linked {
                        unipile_account_id: unipile_account_id.into(),
                        via: "expiry_check".into(),
                    };
                    return Self::finish(ctx, outcome).await;
                }
                LinkResult::Moved { status } if status != AccountStatus::Connecting => {
                    return Self::finish(ctx, ReconnectOutcome::Superseded { status }).await;
                }
                LinkResult::Moved { .. } | LinkResult::NotLive => {}
            }
        }
        let input = AbandonLinkInput {
            account_id,
            token,
            back_to,
            workflow_id: ctx.workflow_id().to_string(),
            run_id: ctx.run_id().to_string(),
        };
        let reverted = ctx
            .execute_activity(RelinkActivities::abandon_link, input, revert_activity())
            .await?;
        let outcome = if reverted {
            ReconnectOutcome::Abandoned { back_to }
        } else {
            ReconnectOutcome::Superseded {
                status: AccountStatus::Connected,
            }
        };
        Self::finish(ctx, outcome).await
    }

    async fn link(
        ctx: &mut WorkflowContext<Self>,
        token: &str,
        unipile_account_id: &str,
        reason: String,
        path: RelinkPath,
    ) -> WorkflowResult<LinkResult> {
        let input = LinkAccountInput {
            account_id: ctx.state(|s| s.input.account_id),
            token: token.to_string().into(),
            unipile_account_id: unipile_account_id.to_string().into(),
            actor: "workflow:reconnect".into(),
            reason,
            path,
            workflow_id: ctx.workflow_id().to_string(),
            run_id: ctx.run_id().to_string(),
        };
        // A link that cannot be applied (Unipile or the database down past the retry
        // budget, or a conflict) must not fail the run with the row left `connecting`:
        // it counts as "not live", and the expiry path decides.
        Ok(ctx
            .execute_activity(
                RelinkActivities::link_account,
                input,
                background_unipile_activity(),
            )
            .await
            .unwrap_or(LinkResult::NotLive))
    }

    async fn finish(
        ctx: &mut WorkflowContext<Self>,
        outcome: ReconnectOutcome,
    ) -> WorkflowResult<ReconnectOutcome> {
        ctx.state_mut(|s| s.finished = true);
        // Let an in-flight link request answer before the run closes.
        ctx.wait_condition(|s| !s.issuing).await?;
        Ok(outcome)
    }

    /// Rejects requests once the run has decided its outcome (the caller starts a new run).
    #[update_validator(request_link)]
    fn validate_request_link(
        &self,
        _ctx: &WorkflowContextView,
        _req: &LinkRequest,
    ) -> Result<(), UpdateError> {
        if self.finished {
            return Err(LinkRefusal::RunFinished.message().into());
        }
        Ok(())
    }

    /// A click: answers the current url when it was issued within the reuse window,
    /// otherwise issues a fresh link (and shows the row as linking).
    #[update]
    pub async fn request_link(
        ctx: &mut WorkflowContext<Self>,
        req: LinkRequest,
    ) -> Result<IssuedLink, UpdateError> {
        ctx.wait_condition(|s| !s.issuing).await?;
        let window = millis(ctx.state(|s| s.input.link_reuse_window_ms));
        let t = now(ctx.workflow_time());
        // While a login on the current link is being applied, its token must stay current.
        let login_in_flight = ctx.state(|s| s.callback.is_some() || s.applying_callback);
        if let Some(link) = ctx.state(|s| s.current.clone())
            && (t < link.issued_at + window || login_in_flight)
        {
            return Ok(link.issued());
        }
        if ctx.state(|s| s.finished) {
            return Err(LinkRefusal::RunFinished.message().into());
        }
        ctx.state_mut(|s| s.issuing = true);
        let result = Self::issue(ctx, req, t).await;
        ctx.state_mut(|s| s.issuing = false);
        result
    }

    async fn issue(
        ctx: &mut WorkflowContext<Self>,
        req: LinkRequest,
        t: DateTime<Utc>,
    ) -> Result<IssuedLink, UpdateError> {
        let account_id = ctx.state(|s| s.input.account_id);
        // The three steps run inside the click's workflow task (local activities); a
        // run recorded before the patch scheduled them as activity tasks.
        let local = ctx.patched(RECONNECT_LOCAL_ACTIVITIES_PATCH);
        let prepared = if local {
            ctx.execute_local_activity(
                RelinkActivities::prepare_link,
                account_id,
                click_db_local_activity(),
            )
            .await
        } else {
            ctx.execute_activity(RelinkActivities::prepare_link, account_id, db_activity())
                .await
        }
        .map_err(|e| format!("could not prepare the link: {e}"))?;
        let linking_here = ctx.state(|s| s.current.is_some());
        if prepared.status == AccountStatus::Connected && !linking_here {
            return Err(LinkRefusal::AlreadyConnected.message().into());
        }
        let expires_at = t + millis(ctx.state(|s| s.input.link_ttl_ms));
        let create = CreateLinkInput {
            account_id,
            token: prepared.token.clone(),
            kind: prepared.kind,
            reconnect_account: prepared.unipile_account_id.clone(),
            expires_at,
        };
        let created = if local {
            ctx.execute_local_activity(
                RelinkActivities::create_hosted_link,
                create,
                click_unipile_local_activity(),
            )
            .await
        } else {
            ctx.execute_activity(
                RelinkActivities::create_hosted_link,
                create,
                interactive_unipile_activity(),
            )
            .await
        }
        .map_err(|e| format!("Unipile did not issue a hosted-auth link: {e}"))?;
        let url = created.url().to_string();
        let kind = created.kind(prepared.kind);
        let reconnect_account = match kind {
            LinkKind::Reconnect => prepared.unipile_account_id.clone(),
            LinkKind::Create => None,
        };
        let expected = if linking_here {
            AccountStatus::Connecting
        } else {
            prepared.status
        };
        let mark = MarkConnectingInput {
            account_id,
            expected_status: expected,
            token: prepared.token.clone(),
            actor: req.actor,
            workflow_id: ctx.workflow_id().to_string(),
            run_id: ctx.run_id().to_string(),
            link: Some(IssuedLink {
                url: url.clone(),
                issued_at: t,
                expires_at,
            }),
            kind: Some(kind),
        };
        if local {
            ctx.execute_local_activity(
                RelinkActivities::mark_connecting,
                mark,
                click_db_local_activity(),
            )
            .await
        } else {
            ctx.execute_activity(RelinkActivities::mark_connecting, mark, db_activity())
                .await
        }
        .map_err(|e| format!("could not mark the account as linking: {e}"))?;
        let link = CurrentLink {
            token: prepared.token,
            url,
            kind,
            unipile_account_id: reconnect_account,
            issued_at: t,
            expires_at,
        };
        let issued = link.issued();
        ctx.state_mut(|s| {
            if s.back_to.is_none() {
                // A row already `connecting` before this run (a run that was terminated)
                // goes back to what its Unipile link implies.
                s.back_to = Some(match prepared.status {
                    AccountStatus::Connecting if link.unipile_account_id.is_some() => {
                        AccountStatus::ReconnectNeeded
                    }
                    AccountStatus::Connecting => AccountStatus::Disconnected,
                    other => other,
                });
            }
            s.linking_since.get_or_insert(t);
            // A callback for this token that arrived before the token was adopted.
            if let Some(i) = s.early.iter().position(|cb| cb.name == link.token) {
                s.callback = Some(s.early.swap_remove(i));
            }
            s.early.clear();
            s.current = Some(link);
        });
        Ok(issued)
    }

    /// Unipile's notify_url callback, forwarded by the web tier. Only a callback whose
    /// `name` is the current token counts; older links' callbacks are ignored. One that
    /// arrives while a link is being issued waits for that link's token.
    #[signal]
    pub fn hosted_auth_completed(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        callback: HostedAuthCallback,
    ) {
        if self
            .current
            .as_ref()
            .is_some_and(|l| l.token == callback.name)
        {
            self.callback = Some(callback);
        } else if self.issuing && self.early.len() < EARLY_CALLBACKS {
            // The link being issued may be this callback's: its token is on the row
            // before this run adopts it. Kept until the issue ends.
            self.early.push(callback);
        }
    }

    /// The link currently out, if any (for operators and the web tier).
    #[query]
    pub fn current_link(&self, _ctx: &WorkflowContextView) -> Option<IssuedLink> {
        self.current.as_ref().map(CurrentLink::issued)
    }
}
