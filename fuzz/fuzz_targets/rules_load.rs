//! Fuzzes the rule and fixture loaders: no text may panic, every refusal says where and why,
//! and every loaded rule is whole.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mspwatch_rules::{load_fixture_str, load_str};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match load_str("fuzz.yaml", text) {
        Ok(rules) => {
            for rule in &rules.rules {
                assert!(!rule.id.is_empty());
                assert!(!rule.group_by.is_empty());
                assert!(rule.incident_gap_ms > 0);
                assert!(rule.source.line >= 1);
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for error in &errors {
                assert!(!error.reason.is_empty());
                assert!(error.to_string().starts_with("fuzz.yaml:"));
            }
        }
    }
    if let Err(errors) = load_fixture_str("fuzz.yaml", text) {
        assert!(errors.iter().all(|error| !error.reason.is_empty()));
    }
});
