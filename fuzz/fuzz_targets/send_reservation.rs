//! Fuzzes `parse_send_reservation` (the body of `POST /api/accounts/{id}/send-reservations`).
//! Input: the raw request body.
//! Asserts: no panic; an accepted action round-trips through its wire spelling.

#![no_main]

use libfuzzer_sys::fuzz_target;
use relink_domain::{inbound::parse_send_reservation, pacing::ActionType};

fuzz_target!(|data: &[u8]| {
    match parse_send_reservation(data) {
        Ok(req) => {
            assert_eq!(req.action.as_str().parse::<ActionType>(), Ok(req.action));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
