//! Fuzzes `parse_hosted_auth_notify` (the hosted-auth notify callback, unipile-api.md §9).
//! Input: the link token (from the callback path) up to the first `\n`, then the body;
//! without a `\n` the whole input is the body and the token is empty.
//! Asserts: no panic, and an accepted callback is one the handler may signal.

#![no_main]

use libfuzzer_sys::fuzz_target;
use relink_domain::inbound::{InboundError, parse_hosted_auth_notify};

fuzz_target!(|data: &[u8]| {
    let (token, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (String::from_utf8_lossy(&data[..i]), &data[i + 1..]),
        None => (Default::default(), data),
    };
    match parse_hosted_auth_notify(body, &token) {
        Ok(cb) => {
            assert!(cb.status == "CREATION_SUCCESS" || cb.status == "RECONNECTED", "status {:?}", cb.status);
            assert!(!cb.account_id.trim().is_empty(), "blank account_id accepted");
            assert!(cb.account_id.len() <= 128, "account_id of {} bytes accepted", cb.account_id.len());
            assert!(token.len() <= 128, "token of {} bytes accepted", token.len());
        }
        Err(e) => {
            if matches!(e, InboundError::StaleLink) {
                assert!(token.len() > 128, "a short token answered as stale");
            }
            let _ = e.to_string();
        }
    }
});
