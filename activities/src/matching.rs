//! Matching a first connection to its Unipile account when the notify callback was
//! lost (DESIGN.md, "Orphan watcher"). Unipile does not keep the hosted-auth `name` on
//! the account, so a row matches only the LinkedIn identity it already knows, or else
//! the single unclaimed LinkedIn account that appeared inside its linking window while
//! no other first connection was linking. Anything else is ambiguous: never a guess.

use chrono::{DateTime, Duration, Utc};
use relink_domain::SourceStatus;
use relink_store::{AccountRow, Store, StoreError};
use relink_unipile::Account;
use std::collections::HashSet;

/// A Unipile account counts as appearing inside a linking window that began up to this
/// long after it was created (clock skew between Unipile and us).
pub const CREATION_SKEW: Duration = Duration::seconds(60);

/// The outcome of matching one row.
#[derive(Debug, Clone)]
pub enum FirstConnectionMatch<'a> {
    /// Exactly one live candidate.
    One(&'a Account),
    /// No candidate (yet).
    NoCandidate,
    /// Several candidates, or other rows linking at the same time: alert, do not link.
    Ambiguous {
        /// Unclaimed LinkedIn accounts that appeared in the window (any status).
        accounts: usize,
        /// Other first connections linking in the window.
        other_rows: i64,
    },
}

/// Matches `row` (a first connection, linking since `since`) against a complete
/// `listing`, skipping accounts already `claimed` by some row.
pub async fn match_first_connection<'a>(
    store: &Store,
    row: &AccountRow,
    since: DateTime<Utc>,
    listing: &'a [Account],
    claimed: &HashSet<String>,
) -> Result<FirstConnectionMatch<'a>, StoreError> {
    let unclaimed: Vec<&Account> = listing
        .iter()
        .filter(|a| a.is_linkedin() && !claimed.contains(&a.id))
        .collect();
    let live = |a: &&Account| a.source_status() == Some(SourceStatus::Ok);
    if let Some(member) = row.linkedin_member_id.as_deref() {
        let by_identity: Vec<&Account> = unclaimed
            .iter()
            .copied()
            .filter(live)
            .filter(|a| a.linkedin_member_id() == Some(member))
            .collect();
        if let [only] = by_identity.as_slice() {
            return Ok(FirstConnectionMatch::One(only));
        }
    }
    // Every unclaimed account that appeared in the window counts, live or not: a second
    // session still CONNECTING makes the live one no less ambiguous.
    let in_window: Vec<&Account> = unclaimed
        .into_iter()
        .filter(|a| {
            a.created_at_utc()
                .is_some_and(|c| c >= since - CREATION_SKEW)
        })
        .collect();
    let other_rows = store
        .other_first_connections_linking_since(row.id, since)
        .await?;
    Ok(match (in_window.as_slice(), other_rows) {
        ([], _) => FirstConnectionMatch::NoCandidate,
        ([only], 0) if live(only) => FirstConnectionMatch::One(only),
        ([_], 0) => FirstConnectionMatch::NoCandidate,
        (accounts, other_rows) => FirstConnectionMatch::Ambiguous {
            accounts: accounts.len(),
            other_rows,
        },
    })
}
