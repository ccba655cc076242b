//! The account listing's cursor: opaque to clients, like Unipile's. It is standard
//! base64 (with padding) of `{"limit":N,"cursor":{"last_id":"<id>"}}`, the decoded
//! shape Unipile's Node SDK declares for it (unipile-api.md §1); clients must not rely
//! on that, and relink's client does not.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};

/// Where a listing resumes: after `last_id`, with pages of `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    pub limit: usize,
    pub last_id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Decoded {
    limit: usize,
    cursor: LastId,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LastId {
    last_id: String,
}

/// The cursor of the page after `last_id`.
pub(crate) fn encode(limit: usize, last_id: &str) -> String {
    let decoded = Decoded {
        limit,
        cursor: LastId {
            last_id: last_id.to_string(),
        },
    };
    // Serializing a struct of a number and a string cannot fail; an empty cursor
    // would only be refused by `decode`, never loop.
    let json = serde_json::to_vec(&decoded).unwrap_or_default();
    STANDARD.encode(json)
}

/// The position a cursor names; `None` for anything `encode` did not make (not
/// base64, not the JSON shape, an empty id, a limit outside 1-250).
pub(crate) fn decode(cursor: &str) -> Option<Position> {
    let bytes = STANDARD.decode(cursor).ok()?;
    let d: Decoded = serde_json::from_slice(&bytes).ok()?;
    ((1..=250).contains(&d.limit) && !d.cursor.last_id.is_empty()).then_some(Position {
        limit: d.limit,
        last_id: d.cursor.last_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_is_standard_base64() {
        let c = encode(2, "Qk3vT9xLp2RaN7uYc1WdZe");
        assert!(
            c.len().is_multiple_of(4)
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        );
        assert!(!c.contains("Qk3vT9xLp2RaN7uYc1WdZe"), "opaque: {c}");
        assert_eq!(
            decode(&c),
            Some(Position {
                limit: 2,
                last_id: "Qk3vT9xLp2RaN7uYc1WdZe".into()
            })
        );
    }

    #[test]
    fn anything_else_is_not_a_cursor() {
        for bad in [
            "",
            "after:Qk3vT9xLp2RaN7uYc1WdZe",
            "not base64!",
            &STANDARD.encode("not json"),
            &STANDARD.encode(r#"{"limit":2,"cursor":{"last_id":""}}"#),
            &STANDARD.encode(r#"{"limit":0,"cursor":{"last_id":"a"}}"#),
            &STANDARD.encode(r#"{"limit":251,"cursor":{"last_id":"a"}}"#),
            &STANDARD.encode(r#"{"cursor":{"last_id":"a"}}"#),
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
