//! Tests of the checkpoint files and of the checkpointing factory over real engines.

use std::time::{Duration, Instant};

use mspwatch_engine::{Engine, EngineConfig};
use mspwatch_event::decode::{decode_record, Decoded};
use mspwatch_event::{Directory, Event};

use super::*;
use crate::detector::{Detector, DetectorFactory, EngineFactory};
use crate::metrics::{GenerationLabels, IngestMetrics, ReasonLabels};

const DELETES: &str = "rules:\n  - id: deletes\n    title: Deletes\n    severity: high\n    \
    kind: threshold\n    where:\n      class: delete\n    group_by: [actor.id]\n    \
    window: 30m\n    aggregate: {distinct: tenant_id}\n    at_least: 3\n    \
    summary: \"{actor} deleted\"\n";

fn partition() -> PartitionId {
    PartitionId::new("mspwatch.audit", 1)
}

fn store(directory: &Path) -> CheckpointStore {
    CheckpointStore::open(directory, "detectors").unwrap()
}

fn delete(index: u32) -> Event {
    let record = format!(
        r#"{{"event_id":"e{index}","time":"2026-11-02T10:{index:02}:00Z","msp_id":"msp-a","tenant_id":"tn-{index}","actor":{{"id":"cred-1","type":"user"}},"action":"backup.delete","resource":{{"type":"backup","id":"bk-{index}"}},"outcome":"success"}}"#
    );
    match decode_record(record.as_bytes()) {
        Ok(Decoded::Event(event)) => *event,
        other => panic!("not an event: {other:?}"),
    }
}

fn engines(config: EngineConfig) -> std::sync::Arc<EngineFactory> {
    let rules = mspwatch_rules::load_str("rules.yaml", DELETES).unwrap();
    EngineFactory::new(config, rules, Directory::default())
}

fn checkpointing(
    directory: &Path,
    config: EngineConfig,
    interval: Duration,
) -> (Checkpointing<std::sync::Arc<EngineFactory>>, IngestMetrics) {
    let metrics = IngestMetrics::default();
    let settings = CheckpointingSettings { interval };
    let factory = Checkpointing::new(engines(config), store(directory), settings, metrics.clone());
    (factory, metrics)
}

/// An engine that has seen deletes in tenants `0..count`.
fn engine_with_deletes(count: u32) -> Engine {
    let mut engine =
        DetectorFactory::<Engine>::create(&engines(EngineConfig::default()), &partition());
    let mut alerts = Vec::new();
    for index in 0..count {
        Detector::ingest(&mut engine, delete(index), &mut alerts);
    }
    engine
}

fn no_commit() -> Option<i64> {
    None
}

fn restores(metrics: &IngestMetrics, generation: &'static str) -> u64 {
    metrics.checkpoint_restores.get_or_create(&GenerationLabels { generation }).get()
}

fn rejects(metrics: &IngestMetrics, reason: &str) -> u64 {
    metrics.checkpoint_rejects.get_or_create(&ReasonLabels { reason: reason.to_owned() }).get()
}

#[test]
fn a_saved_checkpoint_reads_back_with_its_offset_and_state() {
    let directory = tempfile::tempdir().unwrap();
    let store = store(directory.path());
    let bytes = store.save(&partition(), 42, b"state").unwrap();
    let loaded = store.load(&partition());
    assert_eq!(loaded.len(), 1);
    let (generation, stored) = loaded.into_iter().next().unwrap();
    let stored = stored.unwrap();
    assert_eq!(generation, Generation::Newest);
    assert_eq!((stored.next_offset, stored.state.as_slice()), (42, b"state".as_slice()));
    assert_eq!(stored.file_bytes, bytes);
    let (newest, _) = store.paths(&partition());
    assert!(newest.starts_with(directory.path().join("detectors")), "{}", newest.display());
}

#[test]
fn the_checkpoint_before_the_newest_is_kept() {
    let directory = tempfile::tempdir().unwrap();
    let store = store(directory.path());
    for offset in [10, 20, 30] {
        store.save(&partition(), offset, format!("at {offset}").as_bytes()).unwrap();
    }
    let offsets: Vec<(Generation, i64)> = store
        .load(&partition())
        .into_iter()
        .map(|(generation, stored)| (generation, stored.unwrap().next_offset))
        .collect();
    assert_eq!(offsets, [(Generation::Newest, 30), (Generation::Previous, 20)]);
    let files = std::fs::read_dir(store.directory()).unwrap().count();
    assert_eq!(files, 2, "no temporary file is left behind");
}

#[test]
fn a_torn_newest_checkpoint_is_reported_and_the_previous_one_still_reads() {
    let directory = tempfile::tempdir().unwrap();
    let store = store(directory.path());
    store.save(&partition(), 10, &[1u8; 500]).unwrap();
    store.save(&partition(), 20, &[2u8; 500]).unwrap();
    let (newest, _) = store.paths(&partition());
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, bytes.get(..bytes.len() / 2).unwrap()).unwrap();
    let loaded = store.load(&partition());
    let reasons: Vec<&str> = loaded
        .iter()
        .map(|(_, stored)| stored.as_ref().map_or_else(CheckpointError::reason, |_| "ok"))
        .collect();
    assert_eq!(reasons, ["torn", "ok"]);
    let previous = loaded.into_iter().nth(1).unwrap().1.unwrap();
    assert_eq!(previous.next_offset, 10);

    // The torn file is set aside, so the next save keeps the good one as the previous.
    store.save(&partition(), 30, &[3u8; 500]).unwrap();
    let offsets: Vec<i64> = store
        .load(&partition())
        .into_iter()
        .map(|(_, stored)| stored.unwrap().next_offset)
        .collect();
    assert_eq!(offsets, [30, 10]);
}

#[test]
fn a_checkpoint_of_another_partition_or_group_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let store = store(directory.path());
    let other = PartitionId::new("mspwatch.audit", 2);
    store.save(&other, 10, b"state").unwrap();
    let (from, _) = store.paths(&other);
    let (to, _) = store.paths(&partition());
    std::fs::copy(&from, &to).unwrap();
    let loaded = store.load(&partition());
    assert!(matches!(
        loaded.first(),
        Some((_, Err(CheckpointError::Foreign { partition: 2, .. })))
    ));

    let others = CheckpointStore::open(directory.path(), "others").unwrap();
    let (theirs, _) = others.paths(&partition());
    std::fs::copy(&to, &theirs).unwrap();
    assert!(matches!(
        others.load(&partition()).first(),
        Some((_, Err(CheckpointError::Foreign { .. })))
    ));
}

#[test]
fn opening_removes_temporary_files_of_an_earlier_process_but_not_young_ones_of_others() {
    let directory = tempfile::tempdir().unwrap();
    let group = directory.path().join("detectors");
    std::fs::create_dir_all(&group).unwrap();
    let own = group.join(format!(".tmp-{}-0-x", std::process::id()));
    let other = group.join(".tmp-1-0-x");
    std::fs::write(&own, b"left over").unwrap();
    std::fs::write(&other, b"being written").unwrap();
    let _store = store(directory.path());
    assert!(!own.exists());
    assert!(other.exists(), "another instance may be writing it");
}

#[test]
fn a_directory_that_cannot_hold_files_is_refused_at_open() {
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("not-a-directory");
    std::fs::write(&file, b"x").unwrap();
    let error = CheckpointStore::open(&file, "detectors").unwrap_err();
    assert_eq!(error.reason(), "io");
}

#[test]
fn names_become_single_safe_file_name_components() {
    assert_eq!(file_component("mspwatch.audit"), "mspwatch.audit");
    assert_eq!(file_component("../etc"), "%2E.%2Fetc");
    assert_eq!(file_component("a b/c"), "a%20b%2Fc");
    assert_eq!(file_component(""), "%");
}

#[test]
fn a_released_partition_is_checkpointed_and_restored_where_it_stopped() {
    let directory = tempfile::tempdir().unwrap();
    let (factory, metrics) =
        checkpointing(directory.path(), EngineConfig::default(), Duration::from_secs(3600));
    assert!(factory.restore(&partition(), &no_commit).is_none());
    factory.released(&partition(), engine_with_deletes(2), Some(7));
    assert_eq!(metrics.checkpoints_written.get(), 1);
    drop(factory);

    let (factory, metrics) =
        checkpointing(directory.path(), EngineConfig::default(), Duration::from_secs(3600));
    let committed = || Some(9);
    let (mut engine, offset) = factory.restore(&partition(), &committed).unwrap();
    assert_eq!(offset, 7, "consumption resumes at the checkpoint, before the committed 9");
    assert_eq!(restores(&metrics, "newest"), 1);
    assert_eq!(metrics.checkpoint_reread_messages.get(), 2);
    let mut alerts = Vec::new();
    Detector::ingest(&mut engine, delete(2), &mut alerts);
    Detector::release_held(&mut engine, &mut alerts);
    assert_eq!(alerts.len(), 1, "the third tenant completes the restored window: {alerts:?}");
    assert_eq!(engine.stats().events_in, 3);
}

#[test]
fn a_partition_released_with_uncommitted_events_keeps_its_last_checkpoint() {
    let directory = tempfile::tempdir().unwrap();
    let (factory, metrics) =
        checkpointing(directory.path(), EngineConfig::default(), Duration::from_secs(3600));
    assert!(factory.restore(&partition(), &no_commit).is_none(), "nothing saved yet");
    factory.released(&partition(), engine_with_deletes(1), Some(3));
    assert!(factory.restore(&partition(), &no_commit).is_some());
    factory.released(&partition(), engine_with_deletes(2), None);
    assert_eq!(metrics.checkpoints_written.get(), 1);
    let (engine, offset) = factory.restore(&partition(), &no_commit).unwrap();
    assert_eq!((offset, engine.stats().events_in), (3, 1));
}

#[test]
fn a_periodic_checkpoint_waits_for_its_interval_and_for_the_commit_covering_it() {
    let directory = tempfile::tempdir().unwrap();
    let (factory, metrics) =
        checkpointing(directory.path(), EngineConfig::default(), Duration::from_millis(100));
    let engine = DetectorFactory::<Engine>::create(&factory, &partition());
    factory.settled(&partition(), &engine, 5);
    factory.committed(&partition(), 5);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(metrics.checkpoints_written.get(), 0, "the interval had not passed");

    let engine = engine_with_deletes(2);
    factory.settled(&partition(), &engine, 6);
    factory.committed(&partition(), 5);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(metrics.checkpoints_written.get(), 0, "the commit did not cover offset 6");
    factory.committed(&partition(), 6);
    let deadline = Instant::now() + Duration::from_secs(10);
    while metrics.checkpoints_written.get() == 0 {
        assert!(Instant::now() < deadline, "the checkpoint was never written");
        std::thread::sleep(Duration::from_millis(10));
    }
    let stored = factory.store().load(&partition()).into_iter().next().unwrap().1.unwrap();
    assert_eq!(stored.next_offset, 6);
    assert!(metrics.checkpoint_bytes.get() > 0);
}

#[test]
fn a_checkpoint_ahead_of_the_committed_offset_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let (factory, metrics) =
        checkpointing(directory.path(), EngineConfig::default(), Duration::from_secs(3600));
    assert!(factory.restore(&partition(), &no_commit).is_none(), "nothing saved yet");
    factory.released(&partition(), engine_with_deletes(2), Some(50));
    let reset = || Some(10);
    assert!(factory.restore(&partition(), &reset).is_none());
    assert_eq!(rejects(&metrics, "ahead"), 1);
}

#[test]
fn a_damaged_newest_checkpoint_falls_back_to_the_previous_one() {
    let directory = tempfile::tempdir().unwrap();
    let (factory, metrics) =
        checkpointing(directory.path(), EngineConfig::default(), Duration::from_secs(3600));
    assert!(factory.restore(&partition(), &no_commit).is_none(), "nothing saved yet");
    factory.released(&partition(), engine_with_deletes(1), Some(4));
    assert!(factory.restore(&partition(), &no_commit).is_some());
    factory.released(&partition(), engine_with_deletes(2), Some(8));
    let (newest, _) = factory.store().paths(&partition());
    let mut bytes = std::fs::read(&newest).unwrap();
    let middle = bytes.len() / 2;
    if let Some(byte) = bytes.get_mut(middle) {
        *byte ^= 0xff;
    }
    std::fs::write(&newest, bytes).unwrap();
    let (engine, offset) = factory.restore(&partition(), &no_commit).unwrap();
    assert_eq!((offset, engine.stats().events_in), (4, 1));
    assert_eq!(rejects(&metrics, "corrupt"), 1);
    assert_eq!(restores(&metrics, "previous"), 1);
}

#[test]
fn a_checkpoint_made_under_other_engine_settings_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let (factory, _) =
        checkpointing(directory.path(), EngineConfig::default(), Duration::from_secs(3600));
    assert!(factory.restore(&partition(), &no_commit).is_none(), "nothing saved yet");
    factory.released(&partition(), engine_with_deletes(2), Some(8));
    drop(factory);
    let other = EngineConfig { max_tracked_keys: 1000, ..EngineConfig::default() };
    let (factory, metrics) = checkpointing(directory.path(), other, Duration::from_secs(3600));
    assert!(factory.restore(&partition(), &no_commit).is_none());
    assert_eq!(rejects(&metrics, "incompatible"), 1);
}
