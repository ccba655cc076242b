//! The reconnect email's rules: when a failed delivery is tried again, its stable
//! Message-ID, and the signed single-account link it carries (never the workspace API
//! token). Pure: the sender (activities) and the web tier (which checks the link) share
//! these functions.

use serde::{Deserialize, Serialize};

use crate::{AccountId, signing};

/// Schedule and workflow id of the email sender (every minute).
pub const EMAIL_SENDER: &str = "email-sender";
/// Interval of the email sender's Schedule, seconds.
pub const EMAIL_SENDER_INTERVAL_SECS: u64 = 60;

/// Input of one email-sender pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailPassInput {
    /// The most emails one pass sends.
    pub batch: i64,
}

impl Default for EmailPassInput {
    fn default() -> Self {
        Self { batch: 100 }
    }
}

/// What one email-sender pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailPassSummary {
    /// Outbox rows delivered to the SMTP server.
    pub sent: Vec<i64>,
    /// Outbox rows whose attempt failed (retried later).
    pub failed: Vec<i64>,
    /// Outbox rows withdrawn between the claim and the send (not sent).
    pub withdrawn: Vec<i64>,
    /// Claimed but not started: too little of the pass's run was left. Due again once
    /// the short lease is over.
    #[serde(default)]
    pub deferred: Vec<i64>,
    /// True when the worker has no SMTP server configured (`SMTP_URL`): nothing sent.
    pub not_configured: bool,
}

/// How long the link in a reconnect email stays valid: 7 days, in seconds.
pub const ACCOUNT_LINK_TTL_SECS: i64 = 7 * 24 * 3600;
/// The shortest accepted key for signing account links, in bytes.
pub const MIN_ACCOUNT_LINK_KEY_LEN: usize = signing::MIN_KEY_LEN;
/// The purpose an account link's signature is made for (`signing`).
const LINK_PURPOSE: &str = "account-link";
/// Delay before the first retry of a failed delivery, seconds; it doubles per attempt.
pub const FIRST_RETRY_DELAY_SECS: u64 = 30;
/// The longest delay between two delivery attempts: one hour, in seconds.
pub const MAX_RETRY_DELAY_SECS: u64 = 3600;
/// Delivery attempts after which an email is given up (about a day of retries; a bad
/// address or a refusing server does not get a try every hour forever).
pub const MAX_DELIVERY_ATTEMPTS: i32 = 30;

/// Seconds to wait before the next delivery attempt after `attempts` failed ones
/// (1 → 30 s, 2 → 60 s, … at most 1 h): exponential backoff.
pub fn retry_delay_secs(attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_RETRY_DELAY_SECS
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_DELAY_SECS)
}

/// The Message-ID of outbox row `outbox_id` about `account`, sent from `domain` (e.g.
/// `example.com`): the same for every attempt, so a retry after an unrecorded success is
/// recognised by the receiver as the same email (RFC 5322 §3.6.4); the account's id
/// keeps it unique across databases.
pub fn message_id(outbox_id: i64, account: AccountId, domain: &str) -> String {
    format!("<relink-outbox-{outbox_id}.{account}@{domain}>")
}

/// Why an account link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccountLinkError {
    /// The signature does not match (tampered, another account, another key).
    #[error("the link is not valid")]
    BadSignature,
    /// The link is older than its expiry.
    #[error("the link has expired; open relink and sign in")]
    Expired,
}

/// What an account link signs: the account, the email it was sent in, its expiry.
fn link_message(account: AccountId, outbox_id: i64, expires_at: i64) -> String {
    format!("{account}:{outbox_id}:{expires_at}")
}

/// The signature (lower-case hex HMAC-SHA256) of a link, sent in outbox email
/// `outbox_id`, that opens `account` until `expires_at` (Unix seconds, UTC). The web tier
/// also requires that email to be the account's newest and the account to need a login.
pub fn sign_account_link(
    key: &[u8],
    account: AccountId,
    outbox_id: i64,
    expires_at: i64,
) -> String {
    signing::sign(
        key,
        LINK_PURPOSE,
        &link_message(account, outbox_id, expires_at),
    )
}

/// Checks a link's signature (in constant time) and expiry against `now` (Unix seconds,
/// UTC). Errors: [`AccountLinkError`].
pub fn verify_account_link(
    key: &[u8],
    account: AccountId,
    outbox_id: i64,
    expires_at: i64,
    signature: &str,
    now: i64,
) -> Result<(), AccountLinkError> {
    let message = link_message(account, outbox_id, expires_at);
    if !signing::verify(key, LINK_PURPOSE, &message, signature) {
        return Err(AccountLinkError::BadSignature);
    }
    if now > expires_at {
        return Err(AccountLinkError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        assert_eq!(retry_delay_secs(1), 30);
        assert_eq!(retry_delay_secs(2), 60);
        assert_eq!(retry_delay_secs(3), 120);
        assert_eq!(retry_delay_secs(8), 3600);
        assert_eq!(retry_delay_secs(u32::MAX), 3600);
    }

    #[test]
    fn a_link_opens_its_own_account_from_its_own_email_until_it_expires() {
        use AccountLinkError::*;
        let key = [7u8; 32];
        let (a, b) = (AccountId(Uuid::from_u128(1)), AccountId(Uuid::from_u128(2)));
        let sig = sign_account_link(&key, a, 5, 1_000);
        let check = |k: &[u8], acc, email, exp, sig: &str, now| {
            verify_account_link(k, acc, email, exp, sig, now)
        };
        assert_eq!(check(&key, a, 5, 1_000, &sig, 999), Ok(()));
        assert_eq!(check(&key, a, 5, 1_000, &sig, 1_001), Err(Expired));
        assert_eq!(check(&key, b, 5, 1_000, &sig, 999), Err(BadSignature));
        assert_eq!(check(&key, a, 6, 1_000, &sig, 999), Err(BadSignature));
        assert_eq!(check(&key, a, 5, 2_000, &sig, 999), Err(BadSignature));
        assert_eq!(check(&[8u8; 32], a, 5, 1_000, &sig, 999), Err(BadSignature));
        assert_eq!(check(&key, a, 5, 1_000, "zz", 999), Err(BadSignature));
    }
}
