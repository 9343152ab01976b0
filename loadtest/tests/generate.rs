//! End-to-end properties of generated data sets: determinism, ground truth, record shapes,
//! delivery disorder and duplicates.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use mspwatch_event::decode::{decode_record, Decoded};
use mspwatch_loadtest::output::{write_data_set, OutputOptions};
use mspwatch_loadtest::{
    AttackPlan, Format, FormatChoice, GenerateConfig, GroundTruth, ScenarioRequest, TrafficStream,
};
use serde_json::Value;

const START: i64 = 1_793_577_600_000;
const DAY: i64 = 86_400_000;

fn config(seed: u64, days: u64, formats: FormatChoice) -> GenerateConfig {
    GenerateConfig {
        seed,
        start_ms: START,
        days: Some(days),
        events_per_day: 4_000,
        formats,
        attacks: AttackPlan::Default,
        ..GenerateConfig::default()
    }
}

fn write(config: GenerateConfig, dir: &Path, options: OutputOptions) {
    let stream = TrafficStream::new(config).expect("generated data is well formed");
    write_data_set(stream, dir, options, &mut |_| {}).expect("generated data is well formed");
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("generated data is well formed")
        .map(|entry| entry.expect("generated data is well formed").path())
        .map(|path| {
            let name = path
                .file_name()
                .expect("generated data is well formed")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("generated data is well formed"))
        })
        .collect();
    files.sort();
    files
}

/// What a record says about itself, whatever its format.
#[derive(Debug)]
struct Observed {
    id: String,
    time_ms: i64,
    actor: String,
    tenant: String,
}

fn parse_time(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("generated data is well formed")
        .timestamp_millis()
}

fn observe(line: &[u8]) -> Observed {
    let record: Value = serde_json::from_slice(line).expect("every record is JSON");
    let text = |pointer: &str| record.pointer(pointer).and_then(Value::as_str).map(str::to_owned);
    if let Some(id) = text("/eventID") {
        Observed {
            id,
            time_ms: parse_time(&text("/eventTime").expect("generated data is well formed")),
            actor: text("/userIdentity/sessionContext/sourceIdentity")
                .expect("generated data is well formed"),
            tenant: text("/recipientAccountId").expect("generated data is well formed"),
        }
    } else if record.get("class_uid").is_some() {
        Observed {
            id: text("/metadata/uid").expect("generated data is well formed"),
            time_ms: record["time"].as_i64().expect("generated data is well formed"),
            actor: text("/actor/user/uid").expect("generated data is well formed"),
            tenant: text("/metadata/tenant_uid").expect("generated data is well formed"),
        }
    } else {
        Observed {
            id: text("/event_id").expect("generated data is well formed"),
            time_ms: parse_time(&text("/time").expect("generated data is well formed")),
            actor: text("/actor/id").expect("generated data is well formed"),
            tenant: text("/tenant_id").expect("generated data is well formed"),
        }
    }
}

#[test]
fn the_same_seed_writes_identical_bytes_and_another_seed_does_not() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let options = OutputOptions { split_by_day: true, gzip: true, limit: None };
    write(config(77, 3, FormatChoice::default_mix()), dirs[0].path(), options);
    write(config(77, 3, FormatChoice::default_mix()), dirs[1].path(), options);
    write(config(78, 3, FormatChoice::default_mix()), dirs[2].path(), options);
    let first = files(dirs[0].path());
    assert!(first.len() >= 5, "three or four day files, ground truth, directory");
    assert_eq!(first, files(dirs[1].path()));
    assert_ne!(first, files(dirs[2].path()));
}

#[test]
fn day_files_in_name_order_are_the_single_file() {
    let (split, single) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg = config(5, 3, FormatChoice::Single(Format::Canonical));
    write(cfg.clone(), split.path(), OutputOptions { split_by_day: true, ..Default::default() });
    write(cfg, single.path(), OutputOptions::default());
    let joined: Vec<u8> = files(split.path())
        .into_iter()
        .filter(|(name, _)| name.starts_with("events-"))
        .flat_map(|(_, bytes)| bytes)
        .collect();
    assert_eq!(joined, std::fs::read(single.path().join("events.jsonl")).unwrap());
}

#[test]
fn count_mode_writes_exactly_the_requested_number_of_canonical_records() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GenerateConfig {
        days: None,
        attacks: AttackPlan::None,
        formats: FormatChoice::Single(Format::Canonical),
        ..config(9, 1, FormatChoice::default_mix())
    };
    write(cfg, dir.path(), OutputOptions { limit: Some(12_345), ..Default::default() });
    let text = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 12_345);
    assert!(text.lines().all(|line| line.starts_with("{\"event_id\":\"ev-")));
    assert_eq!(std::fs::read_to_string(dir.path().join("ground-truth.jsonl")).unwrap(), "");
}

#[test]
fn disorder_stays_under_four_minutes_and_duplicates_repeat_whole_records() {
    let mut latest = i64::MIN;
    let mut worst_lateness = 0;
    let mut late_records = 0;
    let mut seen: HashMap<String, Vec<u8>> = HashMap::new();
    let mut duplicates = 0;
    for delivery in TrafficStream::new(config(31, 4, FormatChoice::default_mix())).unwrap() {
        let delivery = delivery.unwrap();
        let observed = observe(&delivery.line);
        if observed.time_ms < latest {
            late_records += 1;
            worst_lateness = worst_lateness.max(latest - observed.time_ms);
        }
        latest = latest.max(observed.time_ms);
        if let Some(earlier) = seen.insert(observed.id, delivery.line.clone()) {
            assert_eq!(earlier, delivery.line, "a repeated id repeats the whole record");
            assert!(delivery.duplicate);
            duplicates += 1;
        }
    }
    assert!(worst_lateness < 4 * 60_000, "lateness {worst_lateness} ms");
    assert!(worst_lateness > 60_000, "some records arrive a minute or more late");
    assert!(late_records > 100, "{late_records} late records");
    assert!(duplicates > 10, "{duplicates} duplicates");
}

#[test]
fn ground_truth_matches_the_injected_records() {
    let stream = TrafficStream::new(config(12, 7, FormatChoice::default_mix())).unwrap();
    let truths: Vec<GroundTruth> = stream.ground_truth();
    assert_eq!(truths.len(), 10);
    let mut by_scenario: HashMap<usize, Vec<Observed>> = HashMap::new();
    let mut by_actor: HashMap<String, Vec<Observed>> = HashMap::new();
    for delivery in stream {
        let delivery = delivery.unwrap();
        if delivery.duplicate {
            continue;
        }
        let observed = observe(&delivery.line);
        match delivery.scenario {
            Some(index) => by_scenario.entry(index).or_default().push(observed),
            None => by_actor.entry(observed.actor.clone()).or_default().push(observed),
        }
    }
    for (index, truth) in truths.iter().enumerate() {
        let events = by_scenario.get(&index).unwrap();
        assert_eq!(events.len(), truth.events, "{}", truth.scenario);
        let (start, end) = (parse_time(&truth.start), parse_time(&truth.end));
        let mut tenants = HashSet::new();
        for event in events {
            assert_eq!(event.actor, truth.actor_id, "{}", truth.scenario);
            assert!((start..=end).contains(&event.time_ms), "{}", truth.scenario);
            tenants.insert(event.tenant.clone());
        }
        for tenant in &truth.tenants {
            assert!(tenants.contains(tenant), "{} lacks {tenant}", truth.scenario);
        }
        assert!(start >= START + DAY, "{} starts after a day of warm-up", truth.scenario);
    }
    let intermediary = truths.iter().find(|t| t.scenario == "new-intermediary").unwrap();
    assert!(
        !by_actor.contains_key(&intermediary.actor_id),
        "the new intermediary never appears in normal traffic"
    );
    let fast = truths.iter().find(|t| t.scenario == "fast-delete").unwrap();
    assert!(fast.malicious && fast.tenants.len() >= 8);
    let cleanup = truths.iter().find(|t| t.scenario == "retention-cleanup").unwrap();
    assert!(!cleanup.malicious);
}

#[test]
fn explicit_attacks_replace_the_default_plan() {
    let request: ScenarioRequest = "weaken-then-delete@2026-11-04T10:00:00Z".parse().unwrap();
    let cfg = GenerateConfig {
        attacks: AttackPlan::Explicit(vec![request]),
        ..config(3, 4, FormatChoice::Single(Format::Canonical))
    };
    let truths = TrafficStream::new(cfg).unwrap().ground_truth();
    assert_eq!(truths.len(), 1);
    assert_eq!(truths[0].scenario, "weaken-then-delete");
    assert!(truths[0].start.starts_with("2026-11-04T10:00:00"));
}

#[test]
fn every_format_writes_json_objects_of_its_own_shape() {
    let mixed = config(4, 2, FormatChoice::default_mix());
    let mut formats = HashSet::new();
    for delivery in TrafficStream::new(mixed).unwrap() {
        let delivery = delivery.unwrap();
        let record: Value = serde_json::from_slice(&delivery.line).unwrap();
        let shape = if record.get("eventVersion").is_some() {
            Format::Cloudtrail
        } else if record.get("class_uid") == Some(&Value::from(6003)) {
            Format::Ocsf
        } else {
            Format::Canonical
        };
        assert_eq!(shape, delivery.format);
        formats.insert(shape);
    }
    assert_eq!(formats.len(), 3);
}

#[test]
fn every_generated_record_decodes() {
    let mut counts: HashMap<Format, usize> = HashMap::new();
    for formats in [
        FormatChoice::default_mix(),
        FormatChoice::Single(Format::Cloudtrail),
        FormatChoice::Single(Format::Ocsf),
    ] {
        for delivery in TrafficStream::new(config(6, 3, formats)).unwrap() {
            let delivery = delivery.unwrap();
            let observed = observe(&delivery.line);
            let decoded = decode_record(&delivery.line).unwrap_or_else(|error| {
                panic!("{error}: {}", String::from_utf8_lossy(&delivery.line))
            });
            let Decoded::Event(event) = decoded else { panic!("record skipped") };
            assert_eq!(event.actor.id, observed.actor);
            assert_eq!(event.tenant_ids, vec![observed.tenant]);
            assert!((event.time_ms - delivery.event_time_ms).abs() < 1_000);
            *counts.entry(delivery.format).or_default() += 1;
        }
    }
    assert!(counts.values().all(|&count| count > 1_000), "{counts:?}");
}
