//! Property tests: no input makes the decoders, the splitter or the directory loader panic,
//! and canonical records round-trip.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions panic on broken fixtures

mod common;

use mspwatch_event::decode::{decode_record, split_records, Decoded};
use mspwatch_event::{ActionClass, Directory};
use proptest::prelude::*;
use serde_json::json;

/// Text made of JSON's own characters, so that generated inputs get past the first byte.
const JSON_ISH: &str = r#"[\[\]{}":,0-9a-zA-Z\.\-\+eE \n\\/_]{0,200}"#;

fn sample_records() -> Vec<Vec<u8>> {
    let dir = common::shared_dir().join("samples");
    let mut records = Vec::new();
    for name in [
        "canonical.jsonl",
        "cloudtrail-lines.jsonl",
        "cloudtrail-records.json",
        "ocsf-api-activity.jsonl",
    ] {
        let input = std::fs::read(dir.join(name)).unwrap();
        records.extend(split_records(&input).into_iter().map(|item| item.unwrap().bytes.to_vec()));
    }
    records
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_record(&bytes);
    }

    #[test]
    fn decode_never_panics_on_json_ish_text(text in JSON_ISH) {
        let _ = decode_record(text.as_bytes());
        let wrapped = format!("{{{text}}}");
        let _ = decode_record(wrapped.as_bytes());
    }

    #[test]
    fn decode_never_panics_on_mutated_real_records(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let records = sample_records();
        let mut record = pick.get(&records).clone();
        for (at, byte) in edits {
            let index = at.index(record.len());
            record[index] = byte;
        }
        let _ = decode_record(&record);
        let _ = decode_record(&record[..cut.index(record.len() + 1)]);
    }

    #[test]
    fn split_never_panics_and_frames_slices_of_the_input(text in JSON_ISH) {
        let input = text.as_bytes();
        let lines = 1 + input.iter().filter(|&&byte| byte == b'\n').count() as u64;
        for item in split_records(input) {
            let line = match item {
                Ok(record) => {
                    let start = record.bytes.as_ptr() as usize - input.as_ptr() as usize;
                    prop_assert!(start + record.bytes.len() <= input.len());
                    let _ = decode_record(record.bytes);
                    record.line
                }
                Err((line, _)) => line,
            };
            prop_assert!((1..=lines).contains(&line), "line {} of {}", line, lines);
        }
    }

    #[test]
    fn split_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = split_records(&bytes);
    }

    #[test]
    fn directory_loading_never_panics(text in r#"[a-z_:\- \n\[\]{},'"&*!|>0-9]{0,200}"#) {
        let _ = Directory::from_yaml(&text);
    }

    #[test]
    fn canonical_records_round_trip(
        event_id in "[a-zA-Z0-9\\-]{1,40}",
        tenants in proptest::collection::vec("[a-z0-9\\-]{1,20}", 1..4),
        actor_id in "\\PC{1,30}",
        action in "[a-z_]{1,12}\\.[a-z_]{1,12}",
        class in proptest::sample::select(ActionClass::ALL.to_vec()),
        failed in any::<bool>(),
        time_ms in 0i64..253_402_300_799_999,
        bytes in proptest::option::of(any::<u64>()),
    ) {
        let record = json!({
            "event_id": event_id,
            "time": time_ms,
            "tenant_ids": tenants,
            "actor": {"id": actor_id, "type": "api_key"},
            "action": action,
            "class": class.as_str(),
            "outcome": if failed { "failure" } else { "success" },
            "bytes": bytes,
        });
        let decoded = decode_record(record.to_string().as_bytes()).unwrap();
        let Decoded::Event(event) = decoded else { panic!("skipped") };
        let expected_ms = if time_ms > 100_000_000_000 { time_ms } else { time_ms * 1000 };
        prop_assert_eq!(event.time_ms, expected_ms);
        prop_assert_eq!(&event.event_id, &event_id);
        prop_assert_eq!(&event.actor.id, &actor_id);
        prop_assert_eq!(event.class, class);
        prop_assert_eq!(event.bytes, bytes);
        let mut first_seen: Vec<String> = Vec::new();
        for tenant in tenants {
            if !first_seen.contains(&tenant) {
                first_seen.push(tenant);
            }
        }
        prop_assert_eq!(event.tenant_ids, first_seen);
    }
}
