//! The shipped rule pack over real CloudTrail captured from attack simulations: every record
//! is read, and exactly the two snapshots shared with outside accounts are flagged.

use std::path::{Path, PathBuf};

use mspwatch_alert::Alert;
use mspwatch_engine::{Engine, EngineConfig};
use mspwatch_event::decode::{decode_record, split_records, Decoded};
use mspwatch_event::Directory;

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn real_files() -> Vec<PathBuf> {
    let folder = repository_root().join("../shared/real/stratus-red-team");
    let entries = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("{} must exist: {error}", folder.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn real_cloudtrail_is_read_whole_and_only_the_external_snapshot_shares_are_flagged() {
    let rules = mspwatch_rules::load(&repository_root().join("rules")).expect("shipped rules load");
    let mut engine = Engine::new(EngineConfig::default(), rules, Directory::default());
    let mut versions: Vec<Alert> = Vec::new();
    let mut events = Vec::new();
    let mut records = 0;
    for file in real_files() {
        let bytes = std::fs::read(&file).expect("readable");
        for item in split_records(&bytes) {
            let record = item.unwrap_or_else(|(line, error)| {
                panic!("{}:{line}: not split: {error}", file.display())
            });
            records += 1;
            match decode_record(record.bytes) {
                Ok(Decoded::Event(event)) => events.push(event),
                Ok(Decoded::Skipped(why)) => {
                    panic!("{}:{}: skipped: {why}", file.display(), record.line)
                }
                Err(error) => panic!("{}:{}: rejected: {error}", file.display(), record.line),
            }
        }
    }
    // The files were captured on different days; replay merges its inputs by event time,
    // which this test does by sorting.
    events.sort_by_key(|event| event.time_ms);
    for event in events {
        engine.ingest(event, &mut versions);
    }
    engine.flush(&mut versions);
    assert_eq!(records, 172);
    assert_eq!(engine.stats().events_evaluated, 172);

    let mut finals: Vec<&Alert> = Vec::new();
    for alert in &versions {
        finals.retain(|known| known.id != alert.id);
        finals.push(alert);
    }
    let shared: Vec<&&Alert> =
        finals.iter().filter(|alert| alert.rule_id == "backup-shared-externally").collect();
    assert_eq!(shared.len(), 2, "alerts: {finals:#?}");
    let mut evidence: Vec<&str> =
        shared.iter().flat_map(|alert| alert.evidence.iter().map(String::as_str)).collect();
    evidence.sort_unstable();
    assert_eq!(
        evidence,
        ["6897ff63-d738-445c-9e86-43e5b1f8e12f", "fef2bf02-bbea-4d0f-a91c-e6ccfe3fba46"]
    );
    let mut tenants: Vec<&str> =
        shared.iter().flat_map(|alert| alert.tenants.iter().map(String::as_str)).collect();
    tenants.sort_unstable();
    assert_eq!(tenants, ["171471557522", "756680937392"]);
    // The same user name in ten accounts is ten credentials, not one actor across tenants.
    assert!(
        finals.iter().all(|alert| alert.tenants.len() == 1),
        "no alert may join the accounts: {finals:#?}"
    );
}
