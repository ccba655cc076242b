//! relink's activities: every side effect of the workflows (PostgreSQL through the
//! store, Unipile through its client). Each is idempotent or safe to retry; permanent
//! failures are raised as non-retryable (`relink.NonRetryable`).

// The Temporal macros add one undocumented constant per activity, workflow, signal,
// query and update method; each method carries its doc comment by hand.
#![allow(missing_docs)]

mod alerts;
mod deletes;
mod emails;
mod events;
mod healing;
pub mod matching;
mod subscriptions;

pub use alerts::AlertActivities;
pub use deletes::{DeleteActivities, EnvReader, process_env};
pub use emails::{EmailActivities, Mailer, MailerError};
pub use events::{EventActivities, signature_header};
pub use healing::HealingActivities;
pub use subscriptions::SubscriptionActivities;

use relink_domain::truth::Seen;
use relink_domain::{
    AccountId, AccountStatus, SourceStatus,
    reconnect::{
        AbandonLinkInput, CreateLinkInput, CreatedLink, FindLiveSessionInput, LinkAccountInput,
        LinkKind, LinkResult, MarkConnectingInput, PreparedLink,
    },
};
use relink_store::{AuditContext, Store, StoreError};
use relink_unipile::{HostedLinkRequest, UnipileClient, UnipileError, unipile_datetime};
use relink_workflows::activities::{NON_RETRYABLE, names};
use std::sync::Arc;
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use url::Url;

/// The activity implementations, over a shared store and Unipile client.
pub struct Activities {
    store: Store,
    unipile: UnipileClient,
    public_base_url: Url,
}

impl Activities {
    /// `POST /api/v1/hosted/accounts/link` for `input` as a `kind` link.
    async fn hosted_link(
        &self,
        input: &CreateLinkInput,
        token: &str,
        kind: LinkKind,
        reconnect_account: Option<String>,
    ) -> Result<String, UnipileError> {
        let (type_, providers) = match kind {
            LinkKind::Create => ("create", Some(vec!["LINKEDIN".to_string()])),
            LinkKind::Reconnect => ("reconnect", None),
        };
        let req = HostedLinkRequest {
            kind: type_.into(),
            providers,
            reconnect_account,
            api_url: self
                .unipile
                .dsn()
                .as_str()
                .trim_end_matches('/')
                .to_string(),
            expires_on: unipile_datetime(input.expires_at),
            name: Some(token.to_string()),
            notify_url: Some(self.notify_url(token)),
            // The browser comes back to the dashboard, which says how it went.
            success_redirect_url: Some(self.return_url(input.account_id, "reconnected")),
            failure_redirect_url: Some(self.return_url(input.account_id, "not_finished")),
        };
        self.unipile.create_hosted_link(&req).await
    }

    /// `public_base_url` is how Unipile reaches the web tier (`PUBLIC_BASE_URL`); the
    /// notify_url of each link is `<public_base_url>/webhooks/unipile/hosted-auth/<token>`.
    pub fn new(store: Store, unipile: UnipileClient, public_base_url: Url) -> Self {
        Self {
            store,
            unipile,
            public_base_url,
        }
    }

    /// Where hosted auth sends the browser back: the dashboard, naming the account and
    /// how the login ended (`reconnected` or `not_finished`).
    fn return_url(&self, account: AccountId, outcome: &str) -> String {
        format!(
            "{}/?account={account}&login={outcome}",
            self.public_base_url.as_str().trim_end_matches('/')
        )
    }

    fn notify_url(&self, token: &str) -> String {
        format!(
            "{}/webhooks/unipile/hosted-auth/{token}",
            self.public_base_url.as_str().trim_end_matches('/')
        )
    }
}

/// How often a writer re-reads (row version, then Unipile) when its compare-and-set
/// lost to a concurrent change, before it leaves the row to whoever changed it.
pub(crate) const MOVED_RETRIES: usize = 3;

/// What Unipile says of one account now (`GET /api/v1/accounts/{id}`): its worst
/// source status (an account without a readable one counts as `ERROR`, a blip), or
/// [`Seen::Gone`] on a 404. A 401 whose error type describes the account's own state
/// (`errors/disconnected_account`, `errors/*credentials*`) is that account needing a
/// fresh login, `CREDENTIALS` (unipile-api.md §6.3), not a problem with our key.
///
/// Errors: [`UnipileError::Unauthorized`] for our own key; transient errors as is.
pub(crate) async fn seen_now(
    unipile: &UnipileClient,
    unipile_account_id: &str,
) -> Result<Seen, UnipileError> {
    match unipile.get_account(unipile_account_id).await {
        Ok(a) => Ok(Seen::Source(
            a.source_status().unwrap_or(SourceStatus::Error),
        )),
        Err(UnipileError::NotFound) => Ok(Seen::Gone),
        Err(UnipileError::AccountNeedsLogin { error_type }) => {
            tracing::info!(
                unipile_account_id,
                error_type,
                "Unipile answered a 401 about the account's own state"
            );
            Ok(Seen::Source(SourceStatus::Credentials))
        }
        Err(e) => Err(e),
    }
}

/// How long a pass activity has left: until `ActivityInfo::deadline` (the sooner of
/// its attempt's start-to-close and its schedule-to-close, UTC), read when the pass
/// starts. A scheduled pass's deadline lies inside its workflow execution timeout
/// (`relink_workflows::activities::pass_activity`), so a pass that checks
/// [`PassClock::has`] before each unit of work ends by itself, with everything it did
/// recorded, instead of being cut off mid-write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PassClock {
    deadline: Option<std::time::Instant>,
}

impl PassClock {
    /// The clock of the running activity (`None` deadline: no bound).
    pub(crate) fn of(ctx: &ActivityContext) -> Self {
        let deadline = ctx.info().deadline.map(|d| {
            let left = d
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            std::time::Instant::now() + left
        });
        Self { deadline }
    }

    /// Time left before the deadline (`None`: unbounded).
    pub(crate) fn left(&self) -> Option<std::time::Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(std::time::Instant::now()))
    }

    /// Whether at least `needed` is left (always, without a deadline).
    pub(crate) fn has(&self, needed: std::time::Duration) -> bool {
        self.left().is_none_or(|l| l >= needed)
    }

    /// `default`, bounded by the time left: what one step (an HTTP request, say) may
    /// take so that it ends before the deadline, keeping `reserve` for recording it.
    pub(crate) fn bound(
        &self,
        default: std::time::Duration,
        reserve: std::time::Duration,
    ) -> std::time::Duration {
        self.left()
            .map_or(default, |l| default.min(l.saturating_sub(reserve)))
    }

    /// The lease (seconds) for the work a pass claims: `default_secs`, or, under a
    /// deadline, the time left plus 30 s, so that work claimed but not reached is due
    /// again soon after the pass has ended.
    pub(crate) fn lease_secs(&self, default_secs: i64) -> i64 {
        self.left().map_or(default_secs, |l| {
            (l.as_secs() as i64 + 30).min(default_secs)
        })
    }
}

pub(crate) fn permanent(msg: String) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(msg)
            .type_name(NON_RETRYABLE.to_string())
            .non_retryable(true)
            .build(),
    )
}

pub(crate) fn store_err(e: StoreError) -> ActivityError {
    if e.is_transient() {
        ActivityError::from(e)
    } else {
        permanent(e.to_string())
    }
}

pub(crate) fn unipile_err(e: UnipileError) -> ActivityError {
    if e.is_transient() {
        ActivityError::from(e)
    } else {
        permanent(e.to_string())
    }
}

fn audit(actor: &str, action: &str, reason: Option<String>, wf: &str, run: &str) -> AuditContext {
    AuditContext {
        action: action.into(),
        actor: actor.into(),
        reason,
        workflow_id: Some(wf.into()),
        run_id: Some(run.into()),
    }
}

#[activities]
impl Activities {
    /// Implements `prepare_link` (declared in `relink_workflows::activities`).
    #[activity(name = names::PREPARE_LINK)]
    #[tracing::instrument(skip_all, fields(account_id = %account))]
    pub async fn prepare_link(
        self: Arc<Self>,
        _ctx: ActivityContext,
        account: AccountId,
    ) -> Result<PreparedLink, ActivityError> {
        self.store.prepare_link(account).await.map_err(store_err)
    }

    /// Implements `create_hosted_link` (declared in `relink_workflows::activities`). A retry after an ambiguous failure may
    /// create a second link at Unipile (it has no idempotency key); only the url this
    /// call returns is ever shown, and the token check makes the other one harmless.
    #[activity(name = names::CREATE_HOSTED_LINK)]
    #[tracing::instrument(skip_all, fields(account_id = %input.account_id))]
    pub async fn create_hosted_link(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: CreateLinkInput,
    ) -> Result<CreatedLink, ActivityError> {
        let reconnect_account = match input.kind {
            LinkKind::Create => None,
            LinkKind::Reconnect => {
                let Some(id) = input.reconnect_account.clone() else {
                    return Err(permanent("reconnect link without an account id".into()));
                };
                Some(id)
            }
        };
        // The token stays in PostgreSQL; history holds its reference. A run recorded
        // before references holds the token itself.
        let stored = self
            .store
            .hosted_link_token(&input.token)
            .await
            .map_err(store_err)?;
        if stored.is_none() && input.token.is_reference() {
            // Its pair is gone (a newer link of this account replaced it): never send
            // the reference itself, which history shows, as the link's credential.
            return Err(permanent(
                "the link's token is gone (a newer link replaced it); click again".into(),
            ));
        }
        let token = stored.as_deref().unwrap_or(input.token.as_str());
        let mut kind = input.kind;
        let url = match self
            .hosted_link(&input, token, kind, reconnect_account.map(Into::into))
            .await
        {
            // Unipile no longer has the session the row names: a reconnect link cannot
            // be made, so the user links afresh (the row becomes a first connection).
            Err(UnipileError::NotFound) if kind == LinkKind::Reconnect => {
                tracing::warn!(account_id = %input.account_id, "the row's Unipile session is gone; issuing a create link");
                kind = LinkKind::Create;
                self.hosted_link(&input, token, kind, None).await
            }
            other => other,
        }
        // Unipile's error body may echo the request (the token is in `name` and the
        // notify_url): only the status goes into history and back to the click.
        .map_err(|e| unipile_err(e.without_body()))?;
        tracing::info!(account_id = %input.account_id, ?kind, "hosted-auth link created");
        if stored.is_none() {
            // A run recorded before references: its history already holds the token.
            return Ok(CreatedLink::Issued { url, kind });
        }
        if !self
            .store
            .record_hosted_link_url(&input.token, &url)
            .await
            .map_err(store_err)?
        {
            return Err(permanent(
                "the link's token is gone (a newer link replaced it); click again".into(),
            ));
        }
        // The url opens a login into the account: it stays out of history too.
        Ok(CreatedLink::Stored { kind })
    }

    /// Implements `mark_connecting` (declared in `relink_workflows::activities`).
    #[activity(name = names::MARK_CONNECTING)]
    #[tracing::instrument(skip_all, fields(account_id = %input.account_id))]
    pub async fn mark_connecting(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: MarkConnectingInput,
    ) -> Result<(), ActivityError> {
        let audit = audit(
            &input.actor,
            "reconnect.link_issued",
            None,
            &input.workflow_id,
            &input.run_id,
        );
        self.store
            .mark_connecting(
                input.account_id,
                input.expected_status,
                &input.token,
                input.kind.unwrap_or(LinkKind::Reconnect),
                input.link.as_ref(),
                &audit,
            )
            .await
            .map_err(store_err)
    }

    /// Implements `link_account` (declared in `relink_workflows::activities`). Re-reads the account from Unipile first:
    /// a 404, or a source that still needs a login, links nothing.
    #[activity(name = names::LINK_ACCOUNT)]
    #[tracing::instrument(skip_all, fields(account_id = %input.account_id, unipile_account_id = %input.unipile_account_id, path = input.path.as_str()))]
    pub async fn link_account(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: LinkAccountInput,
    ) -> Result<LinkResult, ActivityError> {
        let audit = audit(
            &input.actor,
            input.path.audit_action(),
            Some(input.reason.clone()),
            &input.workflow_id,
            &input.run_id,
        );
        let mut result = LinkResult::NotLive;
        for attempt in 0..MOVED_RETRIES {
            // The row's version is read before Unipile is asked whether the session is
            // live; the link is written only while the row is unchanged.
            let row = self
                .store
                .account(input.account_id)
                .await
                .map_err(store_err)?;
            if attempt > 0 && !row.holds_link(&input.token) {
                // A newer link replaced this one since the last attempt: it decides.
                break;
            }
            let account = match self.unipile.get_account(&input.unipile_account_id).await {
                Ok(a) => a,
                Err(UnipileError::NotFound | UnipileError::AccountNeedsLogin { .. }) => {
                    return Ok(LinkResult::NotLive);
                }
                Err(e) => return Err(unipile_err(e)),
            };
            let Some(status) = account.source_status().filter(|s| !s.needs_login()) else {
                return Ok(LinkResult::NotLive);
            };
            result = self
                .store
                .link_account(
                    input.account_id,
                    Some(&input.token),
                    Some(row.version),
                    &account.id,
                    account.linkedin_member_id(),
                    status,
                    input.path,
                    &audit,
                )
                .await
                .map_err(store_err)?;
            // Moved while still `connecting`: something recorded a newer read meanwhile
            // (a webhook) or replaced the token; the next attempt reads both again.
            if result
                != (LinkResult::Moved {
                    status: AccountStatus::Connecting,
                })
            {
                break;
            }
        }
        tracing::info!(account_id = %input.account_id, unipile_account_id = %input.unipile_account_id, ?result, "link_account");
        Ok(result)
    }

    /// Implements `find_live_session` (declared in `relink_workflows::activities`). A reconnect matches its own Unipile id
    /// once that account's source is `OK`. A first connection matches only a single
    /// unclaimed LinkedIn account that appeared on Unipile after linking began, or the
    /// LinkedIn identity the row already knows; anything ambiguous is `None`.
    #[activity(name = names::FIND_LIVE_SESSION)]
    #[tracing::instrument(skip_all, fields(account_id = %input.account_id))]
    pub async fn find_live_session(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: FindLiveSessionInput,
    ) -> Result<Option<String>, ActivityError> {
        if input.kind == LinkKind::Reconnect {
            let Some(id) = input.unipile_account_id else {
                return Ok(None);
            };
            return match seen_now(&self.unipile, &id).await {
                Ok(Seen::Source(SourceStatus::Ok)) => Ok(Some(id.into())),
                Ok(_) => Ok(None),
                Err(e) => Err(unipile_err(e)),
            };
        }
        let row = self
            .store
            .account(input.account_id)
            .await
            .map_err(store_err)?;
        let since = row.connecting_since.unwrap_or(input.linking_since);
        let members: std::collections::HashSet<&str> =
            row.linkedin_member_id.as_deref().into_iter().collect();
        let listing = matching::candidates(
            &self.unipile,
            &self.store,
            Some(since.min(input.linking_since)),
            &members,
            &Default::default(),
        )
        .await
        .map_err(|e| match e {
            matching::ListingError::Unipile(e) => unipile_err(e),
            matching::ListingError::Store(e) => store_err(e),
        })?;
        let intervals = matching::intervals_for(&self.store, input.linking_since)
            .await
            .map_err(store_err)?;
        let found = matching::first_connection(
            &row,
            since,
            &listing.accounts,
            &listing.claimed,
            &intervals,
        );
        // Ambiguity is left to the orphan watcher, which alerts on it.
        Ok(match found {
            relink_domain::truth::FirstConnectionMatch::One { unipile_account_id } => {
                Some(unipile_account_id.into())
            }
            _ => None,
        })
    }

    /// Implements `abandon_link` (declared in `relink_workflows::activities`).
    #[activity(name = names::ABANDON_LINK)]
    #[tracing::instrument(skip_all, fields(account_id = %input.account_id))]
    pub async fn abandon_link(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: AbandonLinkInput,
    ) -> Result<bool, ActivityError> {
        let audit = audit(
            "workflow:reconnect",
            "reconnect.abandoned",
            Some("hosted-auth link expired without a login".into()),
            &input.workflow_id,
            &input.run_id,
        );
        let back_to = if input.back_to == AccountStatus::Connecting {
            AccountStatus::Disconnected
        } else {
            input.back_to
        };
        self.store
            .abandon_link(input.account_id, &input.token, back_to, &audit)
            .await
            .map_err(store_err)
    }
}
