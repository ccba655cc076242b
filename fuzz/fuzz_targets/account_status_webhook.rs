//! Fuzzes `parse_account_status_webhook` (the account-status webhook, unipile-api.md §10.2).
//! Input: the raw request body.
//! Asserts: no panic; an accepted account id is 1–128 ASCII letters, digits, `_` or `-`
//! (it goes into a workflow id) and an accepted message is at most 64 characters.

#![no_main]

use libfuzzer_sys::fuzz_target;
use relink_domain::inbound::parse_account_status_webhook;

fuzz_target!(|data: &[u8]| {
    match parse_account_status_webhook(data) {
        Ok(notice) => {
            let id = &notice.unipile_account_id;
            assert!(!id.is_empty() && id.len() <= 128, "account id of {} bytes accepted", id.len());
            assert!(
                id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "account id {id:?} accepted"
            );
            assert!(notice.message.chars().count() <= 64, "message of {} chars", notice.message.chars().count());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
