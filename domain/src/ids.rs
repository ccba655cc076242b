//! Identifiers parsed at the boundary, and the builders of the Reconnect and
//! account-status workflow ids (the Safe delete's and the subscription end's are beside
//! their inputs, in `deletes` and `subscriptions`).

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use uuid::Uuid;

use crate::status::ParseError;

/// A relink LinkedIn account row id (`linkedin_accounts.id`, a UUID).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct AccountId(pub Uuid);

/// A workspace id (`workspaces.id`, a UUID); every account belongs to one.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct WorkspaceId(pub Uuid);

/// A Unipile account id (`accounts[].id`, unipile-api.md §5): opaque text that Unipile
/// assigns to one connected session. Derefs to `str`; serialized as the plain string, so
/// workflow histories and JSON bodies keep their shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnipileAccountId(String);

/// A hosted-auth link token: the `name` Unipile echoes in the notify callback and the
/// last path segment of the callback URL — the callback's only credential. Derefs to
/// `str`; `Debug` shows only its first characters.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LinkToken(String);

/// The reference to one hosted-auth link that workflow history carries instead of its
/// secrets: `link_` and 32 hex digits, minted by `Store::prepare_link`. The link's token
/// (the notify callback's only credential) and its wizard url (which opens a login into
/// the account) stay in PostgreSQL (`hosted_auth_links`, `linkedin_accounts.link_ref`),
/// so neither is readable in Temporal history or the Web UI (issue 13). Histories
/// recorded before references carry the token itself in this place; the store accepts
/// either. Derefs to `str`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LinkRef(String);

macro_rules! string_newtype {
    ($t:ident) => {
        impl $t {
            /// Wraps `value` (checked where it enters: the inbound parsers and the store).
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl std::ops::Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl std::borrow::Borrow<str> for $t {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl From<String> for $t {
            fn from(value: String) -> Self {
                Self(value)
            }
        }
        impl From<&str> for $t {
            fn from(value: &str) -> Self {
                Self(value.to_string())
            }
        }
        impl From<$t> for String {
            fn from(value: $t) -> Self {
                value.0
            }
        }
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<String> for $t {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
string_newtype!(UnipileAccountId);
string_newtype!(LinkToken);
string_newtype!(LinkRef);

impl LinkRef {
    /// Whether this is a reference as `Store::prepare_link` mints them (`link_` and 32
    /// lower-case hex digits), not a token carried by a run recorded before references.
    /// A reference must never be taken for a token: it is readable in history.
    pub fn is_reference(&self) -> bool {
        is_link_reference(&self.0)
    }
}

/// Whether `value` has the shape of a [`LinkRef`] (`link_` + 32 lower-case hex digits).
///
/// ```
/// use relink_domain::ids::is_link_reference;
/// assert!(is_link_reference("link_0123456789abcdef0123456789abcdef"));
/// // A token of a run recorded before references (64 hex digits) is not one.
/// assert!(!is_link_reference("f2e2daa785fa7b3f63b44e52563947e1fc0d871e834ecc19022e81bfbf8de92c"));
/// assert!(!is_link_reference("link_0123456789ABCDEF0123456789abcdef"));
/// ```
pub fn is_link_reference(value: &str) -> bool {
    value.strip_prefix("link_").is_some_and(|h| {
        h.len() == 32
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head: String = self.0.chars().take(4).collect();
        write!(f, "LinkToken({head}…)")
    }
}

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
