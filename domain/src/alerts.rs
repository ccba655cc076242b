//! Admin alerts: what went wrong ([`AlertKind`]) and how urgently a person must look
//! ([`Severity`]). Stored in `linkedin_admin_alerts` by their wire spelling.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

use crate::status::ParseError;

crate::status::string_enum!(
    /// What an admin alert is about; each is raised by one rule.
    AlertKind, "alert kind", {
        /// An orphaned linking row could be matched to more than one Unipile account
        /// (orphan watcher, expiry check): nothing was linked.
        OrphanAmbiguous => "orphan.ambiguous_match",
        /// The reconciler's sanity gate held a pass that would flip too many rows.
        SanityGate => "reconciler.sanity_gate",
        /// The reconciler would request too many Unipile deletes; it requested none.
        DeleteSanityGate => "reconciler.delete_sanity_gate",
        /// Unipile's listing and a fresh single-account read disagreed: rows untouched.
        ListingDisagrees => "reconciler.listing_disagrees",
        /// A pass stopped because Unipile's listing could not be read completely.
        PassAborted => "healing.pass_aborted",
        /// Unipile refused relink's own API key (401).
        Unauthorized => "unipile.unauthorized",
        /// A Safe delete ran, was blocked or was cancelled (`[SENSITIVE-OP]`).
        UnipileDelete => "unipile.delete",
    }
);

crate::status::string_enum!(
    /// How urgently a person must look at an alert.
    Severity, "alert severity", {
        /// For the record (e.g. a Safe delete cancelled in its undo window).
        Info => "info",
        /// Something to review today.
        Warning => "warning",
        /// Something to act on now.
        Critical => "critical",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_wire_spelling() {
        for k in AlertKind::ALL {
            assert_eq!(k.as_str().parse::<AlertKind>(), Ok(*k));
        }
        assert!("reconciler.other".parse::<AlertKind>().is_err());
    }
}
