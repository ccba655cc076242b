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
use relink_unipile::Account;
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
