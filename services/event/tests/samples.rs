//! Every shared input sample splits and decodes to the classes and outcomes it shows.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions panic on broken fixtures

mod common;

use mspwatch_event::decode::{decode_record, split_records, Decoded};
use mspwatch_event::{ActionClass, ActorType, Event, Outcome, SourceFormat};

fn decode_file(name: &str) -> Vec<(u64, Decoded)> {
    let input = std::fs::read(common::shared_dir().join("samples").join(name)).unwrap();
    split_records(&input)
        .into_iter()
        .map(|item| {
            let record = item.unwrap_or_else(|(line, error)| panic!("{name}:{line}: {error}"));
            let decoded = decode_record(record.bytes)
                .unwrap_or_else(|error| panic!("{name}:{}: {error}", record.line));
            (record.line, decoded)
        })
        .collect()
}

fn events(name: &str) -> Vec<Event> {
    decode_file(name)
        .into_iter()
        .filter_map(|(_, decoded)| match decoded {
            Decoded::Event(event) => Some(*event),
            Decoded::Skipped(_) => None,
        })
        .collect()
}

#[test]
fn canonical_sample_decodes_with_classes_outcomes_and_epoch_millisecond_time() {
    let events = events("canonical.jsonl");
    let summary: Vec<_> =
        events.iter().map(|e| (e.event_id.as_str(), e.class, e.outcome)).collect();
    assert_eq!(
        summary,
        [
            ("ev-0001", ActionClass::Run, Outcome::Success),
            ("ev-0002", ActionClass::Export, Outcome::Success),
            ("ev-0003", ActionClass::Weaken, Outcome::Success),
            ("ev-0004", ActionClass::Delete, Outcome::Success),
            ("ev-0005", ActionClass::Delete, Outcome::Failure),
            ("ev-0006", ActionClass::Encrypt, Outcome::Success),
        ]
    );
    assert!(events.iter().all(|e| e.format == SourceFormat::Canonical));
    assert_eq!(events[0].time_ms, 1_793_610_000_000);
    assert_eq!(events[5].time_ms, 1_793_610_300_000);
    assert_eq!(events[5].tenant_ids, ["tn-acme", "tn-globex", "tn-initech"]);
    assert_eq!(events[1].bytes, Some(734_003_200));
    assert_eq!(events[3].object_count, Some(40));
    assert_eq!(events[4].error.as_deref(), Some("AccessDenied"));
    assert_eq!(events[2].actor.kind, ActorType::ApiKey);
    assert_eq!(events[0].actor.name.as_deref(), Some("ops17@northwind.example"));
}

#[test]
fn cloudtrail_records_sample_decodes_the_msp_role_session() {
    let events = events("cloudtrail-records.json");
    let summary: Vec<_> = events.iter().map(|e| (e.action.as_str(), e.class, e.outcome)).collect();
    assert_eq!(
        summary,
        [
            ("DeleteRecoveryPoint", ActionClass::Delete, Outcome::Success),
            ("ScheduleKeyDeletion", ActionClass::Encrypt, Outcome::Success),
            ("DeleteObjects", ActionClass::Delete, Outcome::Success),
            ("DeleteBackupVaultLockConfiguration", ActionClass::Weaken, Outcome::Failure),
        ]
    );
    for event in &events {
        assert_eq!(event.actor.id, "ops17@northwind.example");
        assert_eq!(event.via_role.as_deref(), Some("NorthwindMSPAdmin"));
        assert_eq!(event.format, SourceFormat::Cloudtrail);
        assert_eq!(event.object_count, None);
    }
    let tenants: Vec<_> = events.iter().map(|e| e.tenant_ids[0].as_str()).collect();
    assert_eq!(tenants, ["210987654321", "210987654321", "345678901234", "456789012345"]);
    assert_eq!(events[3].error.as_deref(), Some("AccessDeniedException"));
    assert_eq!(events[0].product.as_deref(), Some("backup"));
    assert_eq!(events[0].resource.as_ref().unwrap().kind, "recovery_point");
    assert_eq!(events[2].resource.as_ref().unwrap().id, "globex-backup-copies");
}

#[test]
fn cloudtrail_lines_sample_shares_snapshots_skips_the_digest_and_reads_float_bytes() {
    let decoded = decode_file("cloudtrail-lines.jsonl");
    assert_eq!(decoded.len(), 4);
    assert_eq!(decoded[2], (3, Decoded::Skipped("cloudtrail_digest")));
    let events = events("cloudtrail-lines.jsonl");
    let summary: Vec<_> = events.iter().map(|e| (e.action.as_str(), e.class)).collect();
    assert_eq!(
        summary,
        [
            ("ModifySnapshotAttribute", ActionClass::Export),
            ("ModifyDBSnapshotAttribute", ActionClass::Export),
            ("GetObject", ActionClass::Export),
        ]
    );
    assert_eq!(events[0].target_accounts, ["999988887777"]);
    assert_eq!(events[1].target_accounts, ["999988887777"]);
    assert_eq!(events[2].bytes, Some(52_428_800_000));
    assert_eq!(events[0].actor.kind, ActorType::ApiKey);
    assert_eq!(events[2].actor.kind, ActorType::User);
    assert_eq!(events[0].actor.id, "arn:aws:iam::567890123456:user/backup-operator");
    assert_eq!(events[2].resource.as_ref().unwrap().id, "acme-backups/2026/11/01/full.tar.zst");
}

#[test]
fn ocsf_sample_maps_operations_and_takes_the_msp_from_the_user_account() {
    let events = events("ocsf-api-activity.jsonl");
    let summary: Vec<_> =
        events.iter().map(|e| (e.event_id.as_str(), e.class, e.outcome)).collect();
    assert_eq!(
        summary,
        [
            ("ocsf-0001", ActionClass::Delete, Outcome::Success),
            ("ocsf-0002", ActionClass::Export, Outcome::Failure),
        ]
    );
    assert_eq!(events[0].tenant_ids, ["tn-acme"]);
    assert_eq!(events[1].tenant_ids, ["tn-globex"]);
    assert!(events.iter().all(|e| e.msp_id.as_deref() == Some("msp-northwind")));
    assert_eq!(events[1].error.as_deref(), Some("AccessDenied"));
    assert_eq!(events[0].time_ms, 1_793_613_302_000);
    assert_eq!(events[0].resource.as_ref().unwrap().id, "rp-9921");
    assert_eq!(events[0].source_ip.as_deref(), Some("203.0.113.77"));
}
