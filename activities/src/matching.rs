//! First-connection matching as the orphan watcher and the link expiry check run it:
//! the unclaimed candidates of a complete listing and the linking intervals of every
//! workspace, handed to the rule, `relink_domain::truth::match_first_connection`
//! (DESIGN.md, "Orphan watcher"; issue 9). Unipile's listing spans every workspace.

use chrono::{DateTime, Duration, Utc};
use relink_domain::{
    SourceStatus,
    truth::{CREATION_SKEW_SECS, FirstConnectionMatch, LinkingInterval, Unclaimed},
};
use relink_store::{AccountRow, Store, StoreError};
use relink_unipile::{Account, UnipileClient, UnipileError};
use std::collections::HashSet;

/// The linking intervals a match for rows linking since `earliest` (UTC) can depend on:
/// those open at some time after `earliest` less twice the creation skew.
pub async fn intervals_for(
    store: &Store,
    earliest: DateTime<Utc>,
) -> Result<Vec<LinkingInterval>, StoreError> {
    store
        .linking_intervals(earliest - Duration::seconds(2 * CREATION_SKEW_SECS))
        .await
}

/// Matches the first connection `row`, linking since `since`, against a complete
/// `listing`, skipping the accounts `claimed` by some row or a Safe delete, with the
/// installation's linking `intervals` ([`intervals_for`]).
pub fn first_connection(
    row: &AccountRow,
    since: DateTime<Utc>,
    listing: &[Account],
    claimed: &HashSet<String>,
    intervals: &[LinkingInterval],
) -> FirstConnectionMatch {
    let unclaimed: Vec<Unclaimed<'_>> = listing
        .iter()
        .filter(|a| a.is_linkedin() && !claimed.contains(&a.id))
        .map(|a| Unclaimed {
            id: &a.id,
            created_at: a.created_at_utc(),
            live: a.source_status() == Some(SourceStatus::Ok),
            member_id: a.linkedin_member_id(),
        })
        .collect();
    relink_domain::truth::match_first_connection(
        row.id,
        since,
        row.linkedin_member_id.as_deref(),
        &unclaimed,
        intervals,
    )
}

/// Why a listing read page by page did not complete: a page failed at Unipile, or
/// staging it in PostgreSQL failed.
#[derive(Debug)]
pub enum ListingError {
    /// A page's failure (the listing is incomplete).
    Unipile(UnipileError),
    /// A database error while the pages were being read.
    Store(StoreError),
}

/// What a match keeps of Unipile's complete listing ([`candidates`]).
#[derive(Debug, Default)]
pub struct Candidates {
    /// The accounts a match can depend on, in listing order.
    pub accounts: Vec<Account>,
    /// Those of `accounts` claimed by some row or by a Safe delete of the last 24 h.
    pub claimed: HashSet<String>,
    /// Accounts listed in all (every page).
    pub listed: usize,
}

/// Reads Unipile's complete listing one page at a time and keeps only what a match can
/// depend on: the accounts named in `own` (a reconnect's own session) and, when first
/// connections are linking since `earliest` (UTC), the LinkedIn accounts created at or
/// after `earliest` less the creation skew or holding one of the LinkedIn identities
/// `members` (the only ones [`relink_domain::truth::match_first_connection`] can
/// count). Memory is one page plus the kept accounts, not the fleet; which kept
/// accounts are claimed is one query. Errors: [`ListingError`] (any page's failure
/// leaves no partial result).
pub async fn candidates(
    unipile: &UnipileClient,
    store: &Store,
    earliest: Option<DateTime<Utc>>,
    members: &HashSet<&str>,
    own: &HashSet<&str>,
) -> Result<Candidates, ListingError> {
    let from = earliest.map(|e| e - Duration::seconds(CREATION_SKEW_SECS));
    let mut pages = unipile.account_pages();
    let mut out = Candidates::default();
    while let Some(page) = pages.next_page().await.map_err(ListingError::Unipile)? {
        out.listed += page.len();
        out.accounts.extend(page.into_iter().filter(|a| {
            own.contains(a.id.as_str())
                || from.is_some_and(|from| {
                    a.is_linkedin()
                        && (a.created_at_utc().is_some_and(|c| c >= from)
                            || a.linkedin_member_id().is_some_and(|m| members.contains(m)))
                })
        }));
    }
    let ids: Vec<&str> = out.accounts.iter().map(|a| a.id.as_str()).collect();
    out.claimed = store
        .claimed_among(&ids)
        .await
        .map_err(ListingError::Store)?;
    Ok(out)
}
