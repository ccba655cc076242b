//! The listing side of first-connection matching: which of Unipile's accounts are
//! unclaimed candidates. The rule itself is `relink_domain::truth::match_first_connection`
//! (DESIGN.md, "Orphan watcher"; issue 9): it decides on the linking intervals of every
//! row of the installation, because Unipile's listing spans every workspace.

use relink_domain::{SourceStatus, truth::Unclaimed};
use relink_unipile::Account;
use std::collections::HashSet;

/// The LinkedIn accounts of a complete `listing` that no row holds and no Safe delete
/// is removing (`claimed`), as the matching sees them.
pub fn unclaimed<'a>(listing: &'a [Account], claimed: &HashSet<String>) -> Vec<Unclaimed<'a>> {
    listing
        .iter()
        .filter(|a| a.is_linkedin() && !claimed.contains(&a.id))
        .map(|a| Unclaimed {
            id: &a.id,
            created_at: a.created_at_utc(),
            live: a.source_status() == Some(SourceStatus::Ok),
            member_id: a.linkedin_member_id(),
        })
        .collect()
}
