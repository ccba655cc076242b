//! Identifiers parsed at the boundary, and the one builder of workflow ids.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use uuid::Uuid;

use crate::status::ParseError;

/// A relink LinkedIn account row id (`linkedin_accounts.id`, a UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(pub Uuid);

/// A workspace id (`workspaces.id`, a UUID); every account belongs to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkspaceId(pub Uuid);

macro_rules! uuid_newtype {
    ($t:ident, $what:literal) => {
        impl FromStr for $t {
            type Err = ParseError;
            /// Parses a hyphenated UUID; anything else is [`ParseError::Invalid`].
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim())
                    .map($t)
                    .map_err(|_| ParseError::Invalid {
                        what: $what,
                        value: s.chars().take(64).collect(),
                    })
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}
uuid_newtype!(AccountId, "account id");
uuid_newtype!(WorkspaceId, "workspace id");

/// Workflow id of the Reconnect workflow of one account: `reconnect:<account_id>`
/// (DESIGN.md, "Reconnect"). One id per account is what makes a double click join
/// the running workflow instead of opening a second hosted-auth session.
pub fn reconnect_workflow_id(account: AccountId) -> String {
    format!("reconnect:{account}")
}

/// Workflow id of the account-status sync of one Unipile account:
/// `account-status:<unipile_account_id>`. Every webhook for the account signals (or
/// starts) this one workflow, so that their re-reads are applied one at a time.
pub fn account_status_workflow_id(unipile_account_id: &str) -> String {
    format!("account-status:{unipile_account_id}")
}

/// Inverse of [`reconnect_workflow_id`]: the account a `reconnect:` workflow id names,
/// or `None` for any other id.
pub fn account_of_reconnect_workflow(workflow_id: &str) -> Option<AccountId> {
    workflow_id.strip_prefix("reconnect:")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_workflow_id_round_trips() {
        let id = AccountId(Uuid::from_u128(7));
        let wf = reconnect_workflow_id(id);
        assert_eq!(wf, "reconnect:00000000-0000-0000-0000-000000000007");
        assert_eq!(account_of_reconnect_workflow(&wf), Some(id));
        assert_eq!(account_of_reconnect_workflow("unipile-delete:x"), None);
    }

    #[test]
    fn garbage_ids_are_rejected_with_what_they_were() {
        let err = "not-a-uuid".parse::<AccountId>().unwrap_err();
        assert!(err.to_string().contains("account id"));
    }
}
