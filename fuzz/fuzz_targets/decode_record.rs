//! Fuzzes `decode_record`: no input may panic, and every decoded event keeps its invariants.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mspwatch_event::decode::{decode_record, reason, Decoded, MAX_FIELD_BYTES};
use mspwatch_event::time::{MAX_TIME_MS, MIN_TIME_MS};

fuzz_target!(|data: &[u8]| {
    match decode_record(data) {
        Ok(Decoded::Event(event)) => {
            assert!(!event.event_id.is_empty());
            assert!(!event.tenant_ids.is_empty());
            assert!(event.tenant_ids.iter().all(|tenant| !tenant.is_empty()));
            assert!(!event.actor.id.is_empty());
            assert!(event.actor.id.len() <= MAX_FIELD_BYTES);
            assert!((MIN_TIME_MS..=MAX_TIME_MS).contains(&event.time_ms));
        }
        Ok(Decoded::Skipped(_)) => {}
        Err(error) => assert!(reason::ALL.contains(&error.reason), "{}", error.reason),
    }
});
