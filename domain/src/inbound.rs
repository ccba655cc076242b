//! Parsers of the web tier's untrusted request bodies: Unipile's hosted-auth notify
//! callback (unipile-api.md §9), Unipile's account-status webhook (§10.2) and our own
//! send-reservation request. Bytes in, a domain value or an [`InboundError`] out; the
//! error's message is what the web tier answers in its 400 body.
//!
//! These functions are pure and must never panic whatever the bytes: they run on
//! unauthenticated input (the notify callback is authenticated only by the token in
//! its path) and are fuzzed by the `fuzz/` project. Bodies are parsed as JSON whatever
//! their content type, because Unipile sends none (§9, §10.2).

use serde::{Deserialize, Serialize};

use crate::{ParseError, UnipileAccountId, pacing::ActionType, reconnect::HostedAuthCallback};

/// Decodes `body` as JSON of shape `T`; `what` names the body in the error.
fn decode<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &'static str,
) -> Result<T, InboundError> {
    serde_json::from_slice(body).map_err(|detail| InboundError::Malformed { what, detail })
}

/// Longest Unipile account id accepted (bytes). Unipile documents no length; its ids
/// are around 22 characters, and anything past this bound is refused before it reaches
/// a workflow id or the database.
pub const MAX_UNIPILE_ID_LEN: usize = 128;

/// Longest hosted-auth link token accepted from a callback path (bytes); ours are far
/// shorter, so a longer one cannot be a link we issued.
pub const MAX_LINK_TOKEN_LEN: usize = 128;

/// How many characters of an account-status `message` are kept (the documented values,
/// §10.3, are all shorter; the cut only bounds what unknown values can carry).
pub const MAX_STATUS_MESSAGE_CHARS: usize = 64;

/// The notify `status` values that mean "the login succeeded" (§9): `CREATION_SUCCESS`
/// for `type: create` links, `RECONNECTED` for `type: reconnect` links.
pub const NOTIFY_SUCCESS_STATUSES: [&str; 2] = ["CREATION_SUCCESS", "RECONNECTED"];

/// Why an inbound body was refused. Every variant but [`InboundError::StaleLink`] means
/// "answer 400 with this message"; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    /// The body is not JSON of the expected shape (missing field, wrong type, unknown
    /// field where those are denied, not JSON at all). Answer 400.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Which body, e.g. `notify body`.
        what: &'static str,
        /// serde_json's description of the first problem (with line and column).
        detail: serde_json::Error,
    },
    /// The notify `status` is not one of [`NOTIFY_SUCCESS_STATUSES`] (§9 documents no
    /// failure callback). Answer 400.
    #[error("unexpected notify status {0:?}")]
    UnexpectedNotifyStatus(String),
    /// The notify `account_id` is blank or longer than [`MAX_UNIPILE_ID_LEN`]. Answer 400.
    #[error("account_id must be a non-empty Unipile id")]
    NotifyAccountId,
    /// The notify `name` is present and differs from the token in the callback path
    /// (§9: `name` echoes the link request's `name`, which is our token). Answer 400.
    #[error("name does not match the link")]
    NameMismatch,
    /// The callback path's token is longer than [`MAX_LINK_TOKEN_LEN`], so it cannot be
    /// a link we issued. Answer 404, like any unknown or stale link.
    #[error("unknown or stale link")]
    StaleLink,
    /// The account-status `account_id` is blank (after trimming), longer than
    /// [`MAX_UNIPILE_ID_LEN`], or holds characters other than ASCII letters, digits,
    /// `_` and `-`. Answer 400.
    #[error("account_id must be a Unipile account id")]
    WebhookAccountId,
    /// The reservation `action` is not a known [`ActionType`]. Answer 400.
    #[error(transparent)]
    Action(#[from] ParseError),
    /// A send outcome's `outcome` is not `sent` or `failed`, or its `provider_error` is
    /// not a Unipile error type (`errors/<snake_case>`, at most 64 bytes). Answer 400.
    #[error("{0}")]
    SendOutcome(&'static str),
}

/// The flat body Unipile POSTs to a hosted-auth link's `notify_url` (§9). Unknown extra
/// fields are tolerated; `name` may be absent (undocumented for reconnects).
#[derive(Deserialize)]
struct NotifyBody {
    status: String,
    account_id: String,
    name: Option<String>,
}

/// Parses the body of `POST /webhooks/unipile/hosted-auth/{token}` (unipile-api.md §9:
/// `{"status","account_id","name"}`) for the link `token` taken from the path.
///
/// Checks, in this order: JSON shape, `status` ∈ [`NOTIFY_SUCCESS_STATUSES`],
/// `account_id` non-blank and at most [`MAX_UNIPILE_ID_LEN`] bytes, `name` (when
/// present) equal to `token`, then `token` at most [`MAX_LINK_TOKEN_LEN`] bytes
/// ([`InboundError::StaleLink`], a 404). The token is not returned: the web tier looks
/// it up and signals the workflow with the link's reference
/// ([`HostedAuthNotice::for_link`]), so the token never reaches workflow history.
pub fn parse_hosted_auth_notify(
    body: &[u8],
    token: &str,
) -> Result<HostedAuthNotice, InboundError> {
    let body: NotifyBody = decode(body, "notify body")?;
    if !NOTIFY_SUCCESS_STATUSES.contains(&body.status.as_str()) {
        return Err(InboundError::UnexpectedNotifyStatus(body.status));
    }
    if body.account_id.trim().is_empty() || body.account_id.len() > MAX_UNIPILE_ID_LEN {
        return Err(InboundError::NotifyAccountId);
    }
    if body.name.as_deref().is_some_and(|n| n != token) {
        return Err(InboundError::NameMismatch);
    }
    if token.len() > MAX_LINK_TOKEN_LEN {
        return Err(InboundError::StaleLink);
    }
    Ok(HostedAuthNotice {
        status: body.status,
        account_id: body.account_id.into(),
    })
}

/// An accepted notify callback (unipile-api.md §9), its token checked against the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedAuthNotice {
    /// `CREATION_SUCCESS` or `RECONNECTED`.
    pub status: String,
    /// The Unipile account id the login created or reconnected.
    pub account_id: UnipileAccountId,
}

impl HostedAuthNotice {
    /// The `hosted_auth_completed` signal for the link `link` (the reference of the row
    /// that holds the callback's token).
    pub fn for_link(self, link: crate::LinkRef) -> HostedAuthCallback {
        HostedAuthCallback {
            status: self.status,
            account_id: self.account_id,
            name: link,
        }
    }
}

/// The account-status webhook delivery body (unipile-api.md §10.2):
/// `{"AccountStatus":{"account_id","account_type","message"}}`. No timestamp, no event
/// id, no `name`. Unknown extra fields are tolerated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountStatusEvent {
    /// The event.
    #[serde(rename = "AccountStatus")]
    pub account_status: AccountStatusBody,
}

/// Inner part of [`AccountStatusEvent`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountStatusBody {
    /// Unipile account id.
    pub account_id: String,
    /// Provider, e.g. `LINKEDIN`.
    #[serde(default)]
    pub account_type: Option<String>,
    /// `OK`, `CREDENTIALS`, `RECONNECTED`, … (§10.3).
    pub message: String,
}

/// An accepted account-status webhook: which Unipile account, and what Unipile said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountStatusNotice {
    /// The trimmed account id: 1 to [`MAX_UNIPILE_ID_LEN`] ASCII letters, digits, `_`
    /// or `-` (safe in a workflow id and a log line).
    pub unipile_account_id: UnipileAccountId,
    /// The `message`, cut to its first [`MAX_STATUS_MESSAGE_CHARS`] characters. Not
    /// checked against §10.3's list: the workflow re-reads the account from Unipile and
    /// uses the message only as a hint.
    pub message: String,
}

/// Whether `c` may appear in a Unipile account id as we accept it from the webhook.
fn is_unipile_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Parses the body of `POST /webhooks/unipile/account-status` (unipile-api.md §10.2),
/// after the caller has checked the `Unipile-Auth` secret.
///
/// The `account_id` is trimmed, then must be 1 to [`MAX_UNIPILE_ID_LEN`] characters of
/// ASCII letters, digits, `_` and `-`; the `message` is cut to
/// [`MAX_STATUS_MESSAGE_CHARS`] characters.
pub fn parse_account_status_webhook(body: &[u8]) -> Result<AccountStatusNotice, InboundError> {
    let event: AccountStatusEvent = decode(body, "account-status body")?;
    let account_id = event.account_status.account_id.trim();
    if account_id.is_empty()
        || account_id.len() > MAX_UNIPILE_ID_LEN
        || !account_id.chars().all(is_unipile_id_char)
    {
        return Err(InboundError::WebhookAccountId);
    }
    Ok(AccountStatusNotice {
        unipile_account_id: account_id.to_string().into(),
        message: event
            .account_status
            .message
            .chars()
            .take(MAX_STATUS_MESSAGE_CHARS)
            .collect(),
    })
}

/// The raw body of `POST /api/accounts/{id}/send-reservations`; unknown fields are
/// refused so a misspelt `campaign_id` does not silently skip the campaign check.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReservationBody {
    action: String,
    campaign_id: Option<uuid::Uuid>,
}

/// An accepted send-reservation request: "may this account do `action` now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendReservationRequest {
    /// The action to reserve a slot for.
    pub action: ActionType,
    /// The campaign the action is for (checked not paused), if any.
    pub campaign_id: Option<uuid::Uuid>,
}

/// Parses the body of `POST /api/accounts/{id}/send-reservations` (DESIGN.md, "Send
/// pacing and the send gate"): `{"action": "invite"|"message"|"inmail"|"profile_view",
/// "campaign_id"?: uuid}`, no other field.
pub fn parse_send_reservation(body: &[u8]) -> Result<SendReservationRequest, InboundError> {
    let raw: ReservationBody = decode(body, "reservation request")?;
    Ok(SendReservationRequest {
        action: raw.action.parse()?,
        campaign_id: raw.campaign_id,
    })
}

/// The body of `POST /api/accounts/{id}/send-outcomes`; unknown fields are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendOutcomeBody {
    campaign_id: uuid::Uuid,
    action: String,
    outcome: String,
    provider_error: Option<String>,
}

/// What the platform's sender did with one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SendOutcome {
    /// LinkedIn accepted the action.
    Sent,
    /// The action failed at Unipile or LinkedIn (`provider_error` says how).
    Failed,
}

impl SendOutcome {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SendOutcome::Sent => "sent",
            SendOutcome::Failed => "failed",
        }
    }
}

/// An accepted send-outcome report. Internal deferrals are never reported here: only
/// actions the sender actually attempted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutcomeReport {
    /// The campaign the action belonged to (its failure-rate window).
    pub campaign_id: uuid::Uuid,
    /// The action attempted.
    pub action: ActionType,
    /// Sent or failed.
    pub outcome: SendOutcome,
    /// Unipile's error `type` of a failure, e.g. `errors/disconnected_account`.
    pub provider_error: Option<String>,
}

/// Longest `provider_error` accepted (bytes).
pub const MAX_PROVIDER_ERROR_LEN: usize = 64;

/// Parses the body of `POST /api/accounts/{id}/send-outcomes`: `{"campaign_id": uuid,
/// "action": "invite"|"message"|"inmail"|"profile_view", "outcome": "sent"|"failed",
/// "provider_error"?: "errors/<snake_case>"}` (Unipile's error types, unipile-api.md
/// §6.3), no other field.
pub fn parse_send_outcome(body: &[u8]) -> Result<SendOutcomeReport, InboundError> {
    let raw: SendOutcomeBody = decode(body, "send outcome")?;
    let outcome = match raw.outcome.as_str() {
        "sent" => SendOutcome::Sent,
        "failed" => SendOutcome::Failed,
        _ => return Err(InboundError::SendOutcome("outcome must be sent or failed")),
    };
    if let Some(e) = &raw.provider_error {
        let rest = e.strip_prefix("errors/").unwrap_or("");
        let ok = e.len() <= MAX_PROVIDER_ERROR_LEN
            && !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(InboundError::SendOutcome(
                "provider_error must be a Unipile error type, errors/<snake_case>",
            ));
        }
    }
    Ok(SendOutcomeReport {
        campaign_id: raw.campaign_id,
        action: raw.action.parse()?,
        outcome,
        provider_error: raw.provider_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn bytes(v: serde_json::Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    // --- notify callback (§9) ---

    #[test]
    fn notify_accepts_fixture_bodies() {
        let body = br#"{"status": "CREATION_SUCCESS", "account_id": "Tz5nHc8JqW1eMb4rUo6GyK", "name": "seat_7f3c2a9e"}"#;
        let cb = parse_hosted_auth_notify(body, "seat_7f3c2a9e").expect("accepted");
        assert_eq!(
            cb,
            HostedAuthNotice {
                status: "CREATION_SUCCESS".into(),
                account_id: "Tz5nHc8JqW1eMb4rUo6GyK".into(),
            }
        );
        let body = br#"{"status":"RECONNECTED","account_id":"Wd8kQm2ZrT5vLx0pNa3hYc","name":"seat_2b91d4c0"}"#;
        assert_eq!(
            parse_hosted_auth_notify(body, "seat_2b91d4c0")
                .expect("accepted")
                .status,
            "RECONNECTED"
        );
    }

    #[test]
    fn notify_tolerates_missing_name_and_extra_fields() {
        let body = bytes(
            json!({"status": "RECONNECTED", "account_id": "acc", "object": "x", "extra": [1]}),
        );
        let cb = parse_hosted_auth_notify(&body, "tok").expect("accepted");
        assert_eq!(
            cb.for_link("link_1".into()).name,
            "link_1",
            "the signal names the link"
        );
        let body = bytes(json!({"status": "RECONNECTED", "account_id": "acc", "name": null}));
        assert!(parse_hosted_auth_notify(&body, "tok").is_ok());
    }

    #[test]
    fn notify_rejects_malformed_bodies() {
        for body in [
            &b""[..],
            b"not json",
            b"[]",
            b"{}",
            br#"{"status":"RECONNECTED"}"#,
            br#"{"status":1,"account_id":"a"}"#,
        ] {
            let err = parse_hosted_auth_notify(body, "tok").expect_err("refused");
            assert!(
                matches!(
                    err,
                    InboundError::Malformed {
                        what: "notify body",
                        ..
                    }
                ),
                "{err:?}"
            );
            assert!(
                err.to_string().starts_with("malformed notify body: "),
                "{err}"
            );
        }
    }

    #[test]
    fn notify_rejects_other_statuses() {
        for status in ["CREATION_FAIL", "reconnected", "", "OK"] {
            let body = bytes(json!({"status": status, "account_id": "acc", "name": "tok"}));
            let err = parse_hosted_auth_notify(&body, "tok").expect_err("refused");
            assert_eq!(
                err.to_string(),
                format!("unexpected notify status {status:?}")
            );
        }
    }

    #[test]
    fn notify_rejects_blank_or_long_account_ids() {
        for id in [
            String::new(),
            " \t\n".into(),
            "a".repeat(MAX_UNIPILE_ID_LEN + 1),
        ] {
            let body = bytes(json!({"status": "RECONNECTED", "account_id": id, "name": "tok"}));
            let err = parse_hosted_auth_notify(&body, "tok").expect_err("refused");
            assert!(matches!(err, InboundError::NotifyAccountId), "{err:?}");
            assert_eq!(err.to_string(), "account_id must be a non-empty Unipile id");
        }
        let body =
            bytes(json!({"status": "RECONNECTED", "account_id": "a".repeat(MAX_UNIPILE_ID_LEN)}));
        assert!(
            parse_hosted_auth_notify(&body, "tok").is_ok(),
            "the bound itself is accepted"
        );
    }

    #[test]
    fn notify_rejects_a_name_other_than_the_token() {
        let body = bytes(json!({"status": "RECONNECTED", "account_id": "acc", "name": "other"}));
        let err = parse_hosted_auth_notify(&body, "tok").expect_err("refused");
        assert!(matches!(err, InboundError::NameMismatch), "{err:?}");
        assert_eq!(err.to_string(), "name does not match the link");
    }

    #[test]
    fn notify_with_an_overlong_token_is_a_stale_link_not_a_bad_request() {
        let token = "t".repeat(MAX_LINK_TOKEN_LEN + 1);
        let body = bytes(json!({"status": "RECONNECTED", "account_id": "acc", "name": token}));
        let err = parse_hosted_auth_notify(&body, &token).expect_err("refused");
        assert!(matches!(err, InboundError::StaleLink), "{err:?}");
        assert_eq!(err.to_string(), "unknown or stale link");
        // A body error still wins over the token length (the 400 comes first, as before).
        let body = bytes(json!({"status": "OK", "account_id": "acc"}));
        assert!(matches!(
            parse_hosted_auth_notify(&body, &token),
            Err(InboundError::UnexpectedNotifyStatus(_))
        ));
        let token = "t".repeat(MAX_LINK_TOKEN_LEN);
        let body = bytes(json!({"status": "RECONNECTED", "account_id": "acc"}));
        assert!(
            parse_hosted_auth_notify(&body, &token).is_ok(),
            "the bound itself is accepted"
        );
    }

    // --- account-status webhook (§10.2) ---

    #[test]
    fn webhook_accepts_fixture_bodies() {
        let body = br#"{"AccountStatus": {"account_id": "Wd8kQm2ZrT5vLx0pNa3hYc", "account_type": "LINKEDIN", "message": "CREDENTIALS"}}"#;
        assert_eq!(
            parse_account_status_webhook(body).expect("accepted"),
            AccountStatusNotice {
                unipile_account_id: "Wd8kQm2ZrT5vLx0pNa3hYc".into(),
                message: "CREDENTIALS".into()
            }
        );
        let body = br#"{"AccountStatus":{"account_id":"Wd8kQm2ZrT5vLx0pNa3hYc","message":"OK"},"extra":1}"#;
        assert_eq!(
            parse_account_status_webhook(body)
                .expect("accepted")
                .message,
            "OK"
        );
    }

    #[test]
    fn webhook_trims_the_account_id_and_cuts_the_message() {
        let long: String = "é".repeat(100);
        let body = bytes(json!({"AccountStatus": {"account_id": "  ab_C-9\n", "message": long}}));
        let n = parse_account_status_webhook(&body).expect("accepted");
        assert_eq!(n.unipile_account_id, "ab_C-9");
        assert_eq!(
            n.message,
            "é".repeat(MAX_STATUS_MESSAGE_CHARS),
            "cut on characters, not bytes"
        );
    }

    #[test]
    fn webhook_rejects_malformed_bodies() {
        for body in [
            &b""[..],
            b"{",
            br#"{"account_id":"a","message":"OK"}"#,
            br#"{"AccountStatus":{"account_id":"a"}}"#,
            br#"{"AccountStatus":{"account_id":7,"message":"OK"}}"#,
            br#"{"AccountStatus":null}"#,
        ] {
            let err = parse_account_status_webhook(body).expect_err("refused");
            assert!(
                err.to_string()
                    .starts_with("malformed account-status body: "),
                "{err}"
            );
        }
    }

    #[test]
    fn webhook_rejects_bad_account_ids() {
        for id in [
            String::new(),
            "   ".into(),
            "a b".into(),
            "a/b".into(),
            "é".into(),
            "a".repeat(MAX_UNIPILE_ID_LEN + 1),
        ] {
            let body = bytes(json!({"AccountStatus": {"account_id": id, "message": "OK"}}));
            let err = parse_account_status_webhook(&body).expect_err("refused");
            assert!(
                matches!(err, InboundError::WebhookAccountId),
                "{id:?}: {err:?}"
            );
            assert_eq!(err.to_string(), "account_id must be a Unipile account id");
        }
        let body = bytes(
            json!({"AccountStatus": {"account_id": "a".repeat(MAX_UNIPILE_ID_LEN), "message": "OK"}}),
        );
        assert!(
            parse_account_status_webhook(&body).is_ok(),
            "the bound itself is accepted"
        );
    }

    #[test]
    fn webhook_event_round_trips_through_serde() {
        let event = AccountStatusEvent {
            account_status: AccountStatusBody {
                account_id: "acc".into(),
                account_type: Some("LINKEDIN".into()),
                message: "OK".into(),
            },
        };
        let text = serde_json::to_string(&event).expect("serializes");
        assert_eq!(
            text,
            r#"{"AccountStatus":{"account_id":"acc","account_type":"LINKEDIN","message":"OK"}}"#
        );
    }

    // --- send reservation ---

    #[test]
    fn reservation_accepts_every_action() {
        for action in [
            ActionType::Invite,
            ActionType::Message,
            ActionType::Inmail,
            ActionType::ProfileView,
        ] {
            let body = bytes(json!({"action": action.as_str()}));
            assert_eq!(
                parse_send_reservation(&body).expect("accepted"),
                SendReservationRequest {
                    action,
                    campaign_id: None
                }
            );
        }
        let id = uuid::Uuid::from_u128(42);
        let body = bytes(json!({"action": "invite", "campaign_id": id}));
        assert_eq!(
            parse_send_reservation(&body).expect("accepted").campaign_id,
            Some(id)
        );
        let body = bytes(json!({"action": "invite", "campaign_id": null}));
        assert_eq!(
            parse_send_reservation(&body).expect("accepted").campaign_id,
            None
        );
    }

    #[test]
    fn reservation_rejects_malformed_bodies() {
        for body in [
            &b""[..],
            b"{}",
            br#"{"action":"invite","campaign":"x"}"#,
            br#"{"action":"invite","campaign_id":"not-a-uuid"}"#,
            br#"{"action":3}"#,
        ] {
            let err = parse_send_reservation(body).expect_err("refused");
            assert!(
                matches!(
                    err,
                    InboundError::Malformed {
                        what: "reservation request",
                        ..
                    }
                ),
                "{err:?}"
            );
            assert!(
                err.to_string()
                    .starts_with("malformed reservation request: "),
                "{err}"
            );
        }
    }

    #[test]
    fn reservation_rejects_unknown_actions() {
        let body = bytes(json!({"action": "Invite"}));
        let err = parse_send_reservation(&body).expect_err("refused");
        assert!(matches!(err, InboundError::Action(_)), "{err:?}");
        assert_eq!(err.to_string(), r#"invalid action type: "Invite""#);
    }

    // --- no input panics ---

    /// Field values that reach past the JSON layer: printable, unicode, blanks, long.
    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("RECONNECTED".to_string()),
            Just("CREATION_SUCCESS".to_string()),
            "[A-Za-z0-9_ -]{0,140}",
            any::<String>(),
        ]
    }

    proptest! {
        #[test]
        fn notify_never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512), token in any::<String>()) {
            let _ = parse_hosted_auth_notify(&body, &token);
        }

        #[test]
        fn webhook_never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_account_status_webhook(&body);
        }

        #[test]
        fn reservation_never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_send_reservation(&body);
        }

        #[test]
        fn notify_accepts_only_bounded_matching_callbacks(
            status in field(), account_id in field(), name in proptest::option::of(field()), token in field(),
        ) {
            let body = bytes(json!({"status": status, "account_id": account_id, "name": name}));
            if let Ok(cb) = parse_hosted_auth_notify(&body, &token) {
                prop_assert!(NOTIFY_SUCCESS_STATUSES.contains(&cb.status.as_str()));
                prop_assert!(!cb.account_id.trim().is_empty() && cb.account_id.len() <= MAX_UNIPILE_ID_LEN);
                prop_assert!(name.as_ref().is_none_or(|n| n == &token), "a name other than the path token");
                prop_assert!(token.len() <= MAX_LINK_TOKEN_LEN);
            }
        }

        #[test]
        fn webhook_accepts_only_clean_ids_and_short_messages(account_id in field(), message in field()) {
            let body = bytes(json!({"AccountStatus": {"account_id": account_id, "message": message}}));
            if let Ok(n) = parse_account_status_webhook(&body) {
                prop_assert!(!n.unipile_account_id.is_empty() && n.unipile_account_id.len() <= MAX_UNIPILE_ID_LEN);
                prop_assert!(n.unipile_account_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
                prop_assert!(n.message.chars().count() <= MAX_STATUS_MESSAGE_CHARS);
                prop_assert!(message.starts_with(&n.message));
            }
        }
    }

    // --- send outcomes ---

    #[test]
    fn send_outcomes_accept_the_documented_shape_only() {
        let c = uuid::Uuid::nil();
        let ok = parse_send_outcome(&bytes(json!({"campaign_id": c, "action": "invite", "outcome": "failed", "provider_error": "errors/disconnected_account"}))).expect("accepted");
        assert_eq!(ok.outcome, SendOutcome::Failed);
        assert_eq!(
            ok.provider_error.as_deref(),
            Some("errors/disconnected_account")
        );
        assert!(
            parse_send_outcome(&bytes(
                json!({"campaign_id": c, "action": "message", "outcome": "sent"})
            ))
            .is_ok()
        );
        for bad in [
            json!({"campaign_id": c, "action": "invite", "outcome": "deferred"}),
            json!({"campaign_id": c, "action": "wave", "outcome": "sent"}),
            json!({"campaign_id": "nope", "action": "invite", "outcome": "sent"}),
            json!({"campaign_id": c, "action": "invite", "outcome": "failed", "provider_error": "disconnected"}),
            json!({"campaign_id": c, "action": "invite", "outcome": "failed", "provider_error": "errors/Bad Type"}),
            json!({"campaign_id": c, "action": "invite", "outcome": "sent", "extra": 1}),
        ] {
            assert!(parse_send_outcome(&bytes(bad.clone())).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn send_outcome_never_panics_on_bytes(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_send_outcome(&b);
        }
    }
}
