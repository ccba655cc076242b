//! The one keyed signature relink makes itself: HMAC-SHA256 (RFC 2104), hex-encoded,
//! checked in constant time. Used for the account links of reconnect emails and for the
//! dashboard's CSRF tokens; each use prefixes its message with its own purpose, so a
//! signature made for one can never pass for the other.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The shortest key relink accepts for signing, in bytes.
pub const MIN_KEY_LEN: usize = 32;

fn mac(key: &[u8], purpose: &str, message: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length (RFC 2104); the settings refuse short ones.
    #[allow(clippy::expect_used)]
    let mut m =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    m.update(format!("{purpose}:{message}").as_bytes());
    m
}

/// The lower-case hex HMAC-SHA256 of `message` for `purpose` under `key`.
pub fn sign(key: &[u8], purpose: &str, message: &str) -> String {
    hex::encode(mac(key, purpose, message).finalize().into_bytes())
}

/// Whether `signature` (hex) is [`sign`]'s for the same key, purpose and message,
/// compared in constant time.
pub fn verify(key: &[u8], purpose: &str, message: &str, signature: &str) -> bool {
    hex::decode(signature).is_ok_and(|sig| mac(key, purpose, message).verify_slice(&sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_only_for_its_key_purpose_and_message() {
        let sig = sign(b"k", "account-link", "a");
        assert!(verify(b"k", "account-link", "a", &sig));
        assert!(!verify(b"j", "account-link", "a", &sig));
        assert!(!verify(b"k", "csrf", "a", &sig));
        assert!(!verify(b"k", "account-link", "b", &sig));
        assert!(!verify(b"k", "account-link", "a", "not hex"));
    }
}
