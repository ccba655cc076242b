//! Shapes of the Reconnect workflow: its input, update, signal and result, and the
//! inputs/outputs of the activities it calls (DESIGN.md, "Reconnect").
//! Times are UTC; durations are whole milliseconds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{AccountId, AccountStatus, LinkRef, UnipileAccountId, WorkspaceId, truth::RelinkPath};

/// Default reuse window of a hosted-auth link: every request within 90 s of a link's
/// issue gets the same url (DESIGN.md, "Reconnect").
pub const DEFAULT_LINK_REUSE_WINDOW_MS: u64 = 90_000;
/// Default lifetime of a hosted-auth link (`expiresOn` = issue + this). Unipile asks
/// for short links (unipile-api.md §11: "minutes to a few hours").
pub const DEFAULT_LINK_TTL_MS: u64 = 15 * 60_000;

/// Which hosted-auth link to create (unipile-api.md §8.1 `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// First connection: the row has no Unipile account yet.
    Create,
    /// Fresh login for the row's existing Unipile account (keeps the account id).
    Reconnect,
}

/// Input of the Reconnect workflow (`reconnect:<account_id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconnectInput {
    /// The row being (re)linked.
    pub account_id: AccountId,
    /// Its workspace (also a search attribute).
    pub workspace_id: WorkspaceId,
    /// Requests within this many ms of a link's issue get the same url.
    pub link_reuse_window_ms: u64,
    /// Lifetime of each link in ms: the workflow waits this long after the newest
    /// link's issue for the notify callback.
    pub link_ttl_ms: u64,
}

/// The update a Reconnect click sends: "give me a hosted-auth link".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRequest {
    /// Who clicked (audit actor), e.g. `user:<workspace>`.
    pub actor: String,
}

/// Why the Reconnect workflow refused a [`LinkRequest`]. The Rust SDK carries an update's
/// failure to the caller as a message only, so the message starts with the refusal's
/// code ([`LinkRefusal::message`]) and the web tier reads it back with
/// [`LinkRefusal::from_failure_message`]: one definition on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// The run has decided its outcome; the caller retries, which starts a fresh run.
    RunFinished,
    /// The account is connected and no link of this run is out: nothing to reconnect.
    AlreadyConnected,
}

impl LinkRefusal {
    const ALL: [LinkRefusal; 2] = [LinkRefusal::RunFinished, LinkRefusal::AlreadyConnected];

    /// The stable code, e.g. `relink.AlreadyConnected`.
    pub fn code(self) -> &'static str {
        match self {
            LinkRefusal::RunFinished => "relink.RunFinished",
            LinkRefusal::AlreadyConnected => "relink.AlreadyConnected",
        }
    }

    /// The update failure's message: `<code>: <explanation>`.
    pub fn message(self) -> String {
        format!("{}: {}", self.code(), self.legacy_message())
    }

    /// The refusal an update failure's message names, if it is one. Workers of the
    /// previous release sent the explanation without the code: recognised too, until
    /// no such worker can be running (remove with the next release).
    pub fn from_failure_message(message: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| {
            message
                .strip_prefix(r.code())
                .is_some_and(|rest| rest.starts_with(':'))
                || message == r.legacy_message()
        })
    }

    fn legacy_message(self) -> &'static str {
        match self {
            LinkRefusal::RunFinished => "this reconnect run has finished; start a new one",
            LinkRefusal::AlreadyConnected => "account is already connected",
        }
    }
}

/// The answer to a [`LinkRequest`]: when the current link was issued and expires. Its
/// wizard url is not here (it opens a login into the account, so it stays out of
/// workflow history): the web tier reads it from the row (`Store::current_link_url`).
/// Runs recorded before that carried the url, which is still read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedLink {
    /// Unipile hosted-auth wizard url in older histories; empty (and not serialized)
    /// since the url stays in PostgreSQL.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// When the link was issued (workflow time, UTC).
    pub issued_at: DateTime<Utc>,
    /// When the link expires (UTC); the `expiresOn` sent to Unipile.
    pub expires_at: DateTime<Utc>,
}

/// Body of Unipile's notify_url callback (unipile-api.md §9), delivered to the
/// workflow as the `hosted_auth_completed` signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedAuthCallback {
    /// `CREATION_SUCCESS` or `RECONNECTED`.
    pub status: String,
    /// The Unipile account id.
    pub account_id: UnipileAccountId,
    /// The reference of the link whose token the callback presented (the web tier
    /// looks the token up and forwards the row's [`LinkRef`], never the token).
    pub name: LinkRef,
}

/// How a Reconnect workflow run ended (its result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReconnectOutcome {
    /// The row is `connected` to this Unipile account.
    Linked {
        /// Unipile account id now on the row.
        unipile_account_id: UnipileAccountId,
        /// `callback` (notify_url) or `expiry_check` (found live on Unipile at expiry).
        via: String,
    },
    /// The link expired without a login; the row went back to `back_to`.
    Abandoned {
        /// Status the row returned to.
        back_to: AccountStatus,
    },
    /// No link could be issued (every request failed); nothing was changed.
    NoLink,
    /// Another writer moved the row meanwhile (e.g. the orphan watcher relinked it);
    /// this run stepped aside without writing.
    Superseded {
        /// Status the row had when this run noticed.
        status: AccountStatus,
    },
}

/// Output of the `prepare_link` activity: a fresh token and what to link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedLink {
    /// Reference to a fresh random link token (the hosted-auth `name` and the callback
    /// path secret), which stays in PostgreSQL.
    pub token: LinkRef,
    /// Create or reconnect.
    pub kind: LinkKind,
    /// The row's Unipile account id, for reconnect links.
    pub unipile_account_id: Option<UnipileAccountId>,
    /// The row's status when read.
    pub status: AccountStatus,
}

/// Input of the `create_hosted_link` activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateLinkInput {
    /// The row being linked (for logs).
    pub account_id: AccountId,
    /// Reference of the link token to send as `name` (looked up in PostgreSQL).
    pub token: LinkRef,
    /// Create or reconnect.
    pub kind: LinkKind,
    /// Account to reconnect (`reconnect_account`), for reconnect links.
    pub reconnect_account: Option<UnipileAccountId>,
    /// `expiresOn` (UTC).
    pub expires_at: DateTime<Utc>,
}

/// Output of the `create_hosted_link` activity: the kind of link actually created (a
/// reconnect link for a session Unipile no longer has, 404, falls back to a create
/// link). The wizard url is stored under the link's reference in PostgreSQL; older
/// histories recorded it here, or recorded the bare url.
///
/// ```
/// use relink_domain::reconnect::{CreatedLink, LinkKind};
/// let old: CreatedLink = serde_json::from_str(r#"{"url":"https://u/x","kind":"create"}"#).unwrap();
/// assert_eq!(old.url(), "https://u/x");
/// let new: CreatedLink = serde_json::from_str(r#"{"kind":"create"}"#).unwrap();
/// assert_eq!((new.url(), new.kind(LinkKind::Reconnect)), ("", LinkKind::Create));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CreatedLink {
    /// The url and the kind created.
    Issued {
        /// Unipile hosted-auth wizard url.
        url: String,
        /// The kind Unipile was asked for in the end.
        kind: LinkKind,
    },
    /// The url alone (older histories: the kind asked for).
    Url(String),
    /// The kind created (listed last: untagged variants are tried in order, and an
    /// older `{url, kind}` must read as `Issued`); the url is in PostgreSQL (`hosted_auth_links`).
    Stored {
        /// The kind Unipile was asked for in the end.
        kind: LinkKind,
    },
}

impl CreatedLink {
    /// The wizard url recorded in history (older runs), or `""` when it is stored in
    /// PostgreSQL.
    pub fn url(&self) -> &str {
        match self {
            CreatedLink::Issued { url, .. } | CreatedLink::Url(url) => url,
            CreatedLink::Stored { .. } => "",
        }
    }

    /// The kind created; `asked` for an older, bare-url result.
    pub fn kind(&self, asked: LinkKind) -> LinkKind {
        match self {
            CreatedLink::Issued { kind, .. } | CreatedLink::Stored { kind } => *kind,
            CreatedLink::Url(_) => asked,
        }
    }
}

/// Input of the `mark_connecting` activity: the row shows "Linking" with this token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkConnectingInput {
    /// The row.
    pub account_id: AccountId,
    /// The status the workflow read (compare-and-set), or `connecting` when the row is
    /// already linking under this workflow.
    pub expected_status: AccountStatus,
    /// Reference of the new current token.
    pub token: LinkRef,
    /// Audit actor.
    pub actor: String,
    /// Audit context.
    pub workflow_id: String,
    /// Audit context.
    pub run_id: String,
    /// The link just issued under `token`, recorded on the row so that a repeated click
    /// within the reuse window is answered from PostgreSQL (absent in older histories).
    #[serde(default)]
    pub link: Option<IssuedLink>,
    /// The kind of link created; a `create` link for a row that names a session (gone
    /// at Unipile) makes the row a first connection. Absent in older histories (then
    /// nothing is dropped).
    #[serde(default)]
    pub kind: Option<LinkKind>,
}

/// Input of the `link_account` activity: relink the row to a live Unipile account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkAccountInput {
    /// The row.
    pub account_id: AccountId,
    /// Reference of the token the row must still hold (a newer link supersedes older
    /// callbacks).
    pub token: LinkRef,
    /// The Unipile account id to link.
    pub unipile_account_id: UnipileAccountId,
    /// Audit actor, e.g. `workflow:reconnect`.
    pub actor: String,
    /// Audit reason, e.g. `hosted-auth callback RECONNECTED`.
    pub reason: String,
    /// Which way back this is (histories recorded before the field: the callback).
    #[serde(default = "callback_path")]
    pub path: RelinkPath,
    /// Audit context.
    pub workflow_id: String,
    /// Audit context.
    pub run_id: String,
}

fn callback_path() -> RelinkPath {
    RelinkPath::HostedAuthCallback
}

/// Result of relinking a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum LinkResult {
    /// The row is now connected; these campaigns became active again.
    Linked {
        /// Campaign ids that became active.
        resumed_campaigns: Vec<uuid::Uuid>,
    },
    /// It was already connected to this account with this token (a duplicate); nothing changed.
    AlreadyLinked,
    /// The row moved on (another token, or another status); nothing changed.
    Moved {
        /// The row's status now.
        status: AccountStatus,
    },
    /// Unipile does not know this account (404), or its session is not live; nothing changed.
    NotLive,
}

/// Input of the `find_live_session` activity, run when a link expires without callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindLiveSessionInput {
    /// The row.
    pub account_id: AccountId,
    /// Create or reconnect.
    pub kind: LinkKind,
    /// The account being reconnected (reconnect links).
    pub unipile_account_id: Option<UnipileAccountId>,
    /// When the first link of this run was issued: a first connection must have
    /// appeared on Unipile after it.
    pub linking_since: DateTime<Utc>,
}

/// Input of the `abandon_link` activity: the user never finished; put the row back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbandonLinkInput {
    /// The row.
    pub account_id: AccountId,
    /// Reference of the token the row must still hold.
    pub token: LinkRef,
    /// The status before this run flipped it to `connecting`.
    pub back_to: AccountStatus,
    /// Audit context.
    pub workflow_id: String,
    /// Audit context.
    pub run_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_back_from_its_message_and_nothing_else_does() {
        for r in LinkRefusal::ALL {
            assert_eq!(LinkRefusal::from_failure_message(&r.message()), Some(r));
        }
        assert_eq!(
            LinkRefusal::from_failure_message("could not prepare the link: x"),
            None
        );
        assert_eq!(
            LinkRefusal::from_failure_message("relink.RunFinishedSoon: x"),
            None
        );
    }
}
