//! `mspwatch replay` end to end: the built binary on real files.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions panic on broken inputs

mod common;

use std::fs;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;

use common::*;

const DELETION_RULE: &str = "cross-tenant-backup-deletion";

fn write_gzip(path: &std::path::Path, bytes: &[u8]) {
    let mut encoder = GzEncoder::new(fs::File::create(path).unwrap(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap();
}

fn rule_ids(alerts: &[Value]) -> Vec<&str> {
    alerts.iter().map(|alert| alert["rule_id"].as_str().unwrap()).collect()
}

#[test]
fn a_clean_run_exits_zero_and_prints_the_deletion_alert_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.jsonl");
    fs::write(&input, json_lines(&attack_events())).unwrap();

    let output = replay(&[input.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let alerts = parsed_lines(&output);
    let deletions: Vec<&Value> =
        alerts.iter().filter(|alert| alert["rule_id"] == DELETION_RULE).collect();
    assert_eq!(deletions.len(), 1, "one alert, its final version only: {alerts:?}");
    let alert = deletions[0];
    assert_eq!(alert["tenants"].as_array().unwrap().len(), 4);
    assert!(alert["version"].as_u64().unwrap() >= 1);
    assert!(alert.as_object().unwrap().contains_key("supplier_tier"));
    assert_eq!(summary_count(&output, "records read"), Some(7));
    assert_eq!(summary_count(&output, "rejected"), Some(0));
}

#[test]
fn a_missing_file_exits_one_naming_it_after_reading_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.jsonl");
    fs::write(&input, json_lines(&attack_events())).unwrap();
    let missing = dir.path().join("no-such-file.jsonl");

    let output = replay(&[missing.to_str().unwrap(), input.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(stderr(&output).contains("no-such-file.jsonl"), "{}", describe(&output));
    assert!(rule_ids(&parsed_lines(&output)).contains(&DELETION_RULE), "the rest was read");
}

#[test]
fn a_corrupt_gzip_file_exits_one_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("broken.jsonl.gz");
    fs::write(&input, [0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x00]).unwrap();
    let output = replay(&[input.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(stderr(&output).contains("broken.jsonl.gz"), "{}", describe(&output));
}

#[test]
fn a_bad_flag_exits_two() {
    let output = run(&["replay", "--no-such-flag", "x.jsonl"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let output = run(&["replay", "--format", "xml", "x.jsonl"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let output = run(&["replay", "--from", "yesterday", "x.jsonl"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let output = replay(&["--from", "2026-11-06", "--to", "2026-11-05", "x.jsonl"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}

#[test]
fn a_broken_rules_directory_exits_two_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    fs::create_dir(&rules).unwrap();
    let broken = "rules:\n  - id: broken-rule\n    title: Broken\n    severity: loud\n";
    fs::write(rules.join("broken.yaml"), broken).unwrap();
    let input = dir.path().join("events.jsonl");
    fs::write(&input, json_lines(&attack_events())).unwrap();

    let output = run(&["replay", "--rules", rules.to_str().unwrap(), input.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let err = stderr(&output);
    let located = err.lines().any(|line| {
        let Some((_, rest)) = line.split_once("broken.yaml:") else { return false };
        let mut parts = rest.splitn(3, ':');
        let line_no = parts.next().unwrap_or("");
        let column = parts.next().unwrap_or("");
        !line_no.is_empty()
            && line_no.chars().all(|c| c.is_ascii_digit())
            && column.chars().all(|c| c.is_ascii_digit())
    });
    assert!(located, "an error as FILE:LINE:COL: reason\n{}", describe(&output));
    assert!(output.stdout.is_empty());
}

#[test]
fn a_malformed_line_is_written_to_rejects_and_the_rest_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.jsonl");
    let events = attack_events();
    let mut text = json_lines(&events[..3]);
    text.push_str("{\"event_id\": \"broken\", \"time\": \n");
    text.push_str(&json_lines(&events[3..]));
    text.push_str("{\"event_id\":\"nul\u{0}\"}\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"{\"event_id\":\"\xff\xfe\"}\n");
    fs::write(&input, &bytes).unwrap();
    let rejects_path = dir.path().join("rejects.jsonl");

    let output = replay(&["--rejects", rejects_path.to_str().unwrap(), input.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let rejected = rejects(&rejects_path);
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    let first = &rejected[0];
    assert_eq!(first["source"], input.to_str().unwrap());
    assert_eq!(first["line"], 4);
    assert_eq!(first["reason"], "invalid_json");
    assert!(!first["detail"].as_str().unwrap().is_empty());
    assert_eq!(first["record"], "{\"event_id\": \"broken\", \"time\": ");
    assert_eq!(rejected[1]["line"], 9);
    assert_eq!(rejected[1]["reason"], "nul_byte");
    assert_eq!(rejected[2]["line"], 10);
    assert_eq!(rejected[2]["reason"], "invalid_utf8");
    assert!(rejected[2]["record"].as_str().unwrap().contains('\u{fffd}'));

    assert_eq!(summary_count(&output, "rejected"), Some(3));
    assert_eq!(summary_count(&output, "events accepted"), Some(7));
    assert!(rule_ids(&parsed_lines(&output)).contains(&DELETION_RULE));
}

#[test]
fn gzip_input_gives_the_same_alerts_as_plain_input() {
    let dir = tempfile::tempdir().unwrap();
    let text = json_lines(&attack_events());
    let plain = dir.path().join("events.jsonl");
    fs::write(&plain, &text).unwrap();
    // Named without .gz on purpose: gzip is recognized by content.
    let compressed = dir.path().join("events-compressed.jsonl");
    write_gzip(&compressed, text.as_bytes());

    let from_plain = replay(&["-q", plain.to_str().unwrap()]);
    let from_gzip = replay(&["-q", compressed.to_str().unwrap()]);
    assert_eq!(from_plain.status.code(), Some(0), "{}", describe(&from_plain));
    assert_eq!(from_gzip.status.code(), Some(0), "{}", describe(&from_gzip));
    assert!(!from_plain.stdout.is_empty());
    assert_eq!(stdout(&from_gzip), stdout(&from_plain));
}

#[test]
fn a_directory_is_read_in_name_order_skipping_hidden_and_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("logs");
    fs::create_dir_all(root.join("a")).unwrap();
    fs::create_dir_all(root.join(".cache")).unwrap();
    let bad = |name: &str| format!("{{\"event_id\": \"{name}\", \"time\": \n");
    fs::write(root.join("b.jsonl"), bad("b")).unwrap();
    fs::write(root.join("a/2.json"), bad("a2")).unwrap();
    write_gzip(&root.join("a/1.jsonl.gz"), bad("a1").as_bytes());
    fs::write(root.join(".hidden.jsonl"), bad("hidden")).unwrap();
    fs::write(root.join(".cache/c.jsonl"), bad("cache")).unwrap();
    fs::write(root.join("notes.txt"), bad("notes")).unwrap();
    let rejects_path = dir.path().join("rejects.jsonl");

    let output =
        replay(&["-q", "--rejects", rejects_path.to_str().unwrap(), root.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let sources: Vec<String> = rejects(&rejects_path)
        .iter()
        .map(|reject| {
            let source = reject["source"].as_str().unwrap();
            source.strip_prefix(root.to_str().unwrap()).unwrap().to_owned()
        })
        .collect();
    assert_eq!(sources, ["/a/1.jsonl.gz", "/a/2.json", "/b.jsonl"]);
}

#[test]
fn standard_input_is_read_for_a_dash() {
    let text = json_lines(&attack_events());
    let output = replay_with_stdin(&["-q", "-"], text.as_bytes());
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(rule_ids(&parsed_lines(&output)).contains(&DELETION_RULE));
}

#[test]
fn events_outside_from_and_to_are_filtered_not_rejected() {
    let text = json_lines(&attack_events());
    let inside = replay_with_stdin(
        &["--from", "2026-11-05T03:00:00Z", "--to", "2026-11-05T03:30:00Z", "-"],
        text.as_bytes(),
    );
    assert_eq!(inside.status.code(), Some(0), "{}", describe(&inside));
    assert_eq!(summary_count(&inside, "filtered by time"), Some(1), "{}", describe(&inside));
    assert_eq!(summary_count(&inside, "rejected"), Some(0));
    assert!(rule_ids(&parsed_lines(&inside)).contains(&DELETION_RULE));

    // From the second deletion (03:12:00, as epoch seconds) to the fourth (03:16:00, excluded):
    // two deletions in two tenants remain, too few for the rule.
    let narrow = replay_with_stdin(
        &["--from", "1793848320", "--to", "2026-11-05T03:16:00Z", "-"],
        text.as_bytes(),
    );
    assert_eq!(narrow.status.code(), Some(0), "{}", describe(&narrow));
    assert_eq!(summary_count(&narrow, "filtered by time"), Some(5), "{}", describe(&narrow));
    assert!(!rule_ids(&parsed_lines(&narrow)).contains(&DELETION_RULE));
}

/// A shell command line that runs the binary with its address space capped, so that a run
/// that held a whole oversized record in memory would fail.
#[cfg(target_os = "linux")]
fn with_memory_cap(kib: u64, args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\"")).arg(bin());
    command.args(args);
    command
}

#[cfg(target_os = "linux")]
#[test]
fn a_line_larger_than_memory_allows_is_rejected_as_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let rejects_path = dir.path().join("rejects.jsonl");
    let rules = rules_dir();
    let mut input = Vec::with_capacity(300 << 20);
    input.extend_from_slice(b"{\"event_id\":\"huge\",\"padding\":\"");
    input.resize(input.len() + (256 << 20), b'x');
    input.extend_from_slice(b"\"}\n");
    input.extend_from_slice(json_lines(&attack_events()).as_bytes());

    let args = [
        "replay",
        "--rules",
        rules.to_str().unwrap(),
        "--rejects",
        rejects_path.to_str().unwrap(),
        "-",
    ];
    // 160 MiB of address space: far less than the 256 MiB line.
    let output = run_command(&mut with_memory_cap(160 * 1024, &args), &input);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let rejected = rejects(&rejects_path);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["reason"], "record_too_large");
    assert_eq!(rejected[0]["line"], 1);
    assert_eq!(rejected[0]["record"].as_str().unwrap().len(), 4096);
    assert!(rule_ids(&parsed_lines(&output)).contains(&DELETION_RULE), "later lines are read");
}

#[cfg(target_os = "linux")]
#[test]
fn a_gzip_bomb_is_stopped_by_its_ratio_or_read_through_in_bounded_memory_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.jsonl.gz");
    let mut encoder = GzEncoder::new(fs::File::create(&bomb).unwrap(), Compression::fast());
    let zeros = vec![0_u8; 1 << 20];
    for _ in 0..1024 {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.finish().unwrap();
    assert!(fs::metadata(&bomb).unwrap().len() < 8 << 20, "1 GiB compressed to a few MiB");
    let rejects_path = dir.path().join("rejects.jsonl");
    let rules = rules_dir();
    let replay_bomb = |extra: &[&str]| {
        let mut args = vec![
            "replay",
            "--rules",
            rules.to_str().unwrap(),
            "--rejects",
            rejects_path.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(bomb.to_str().unwrap());
        let started = Instant::now();
        let output = run_command(&mut with_memory_cap(160 * 1024, &args), b"");
        (output, started.elapsed())
    };

    // By default it expands too far: reading stops with an error naming the file.
    let (output, elapsed) = replay_bomb(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(stderr(&output).contains("bomb.jsonl.gz"), "{}", describe(&output));
    assert!(stderr(&output).contains("--max-gzip-ratio"), "{}", describe(&output));
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert!(rejects(&rejects_path).is_empty());

    // Allowed to expand, its one line of a gibibyte is refused without being held.
    let (output, elapsed) = replay_bomb(&["--max-gzip-ratio", "100000"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(elapsed < Duration::from_secs(120), "took {elapsed:?}");
    let rejected = rejects(&rejects_path);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["reason"], "record_too_large");
    assert!(rejected[0]["detail"].as_str().unwrap().contains("1073741824"));
    assert!(output.stdout.is_empty());
}

#[test]
fn every_output_format_parses() {
    let text = json_lines(&attack_events());

    let jsonl = replay_with_stdin(&["-q", "--format", "jsonl", "-"], text.as_bytes());
    assert_eq!(jsonl.status.code(), Some(0), "{}", describe(&jsonl));
    let alerts = parsed_lines(&jsonl);
    assert!(!alerts.is_empty());
    for alert in &alerts {
        for key in ["id", "version", "rule_id", "severity", "tenants", "timeline", "notify_by"] {
            assert!(alert.get(key).is_some(), "{key} in {alert}");
        }
    }

    let ocsf = replay_with_stdin(&["-q", "--format", "ocsf", "-"], text.as_bytes());
    assert_eq!(ocsf.status.code(), Some(0), "{}", describe(&ocsf));
    let findings = parsed_lines(&ocsf);
    assert_eq!(findings.len(), alerts.len());
    for finding in &findings {
        assert_eq!(finding["class_uid"], 2004);
        assert_eq!(finding["category_uid"], 2);
        assert!(finding["type_uid"] == 200401 || finding["type_uid"] == 200402);
        assert!(finding["finding_info"]["uid"].is_string());
        assert!(finding["time"].is_i64());
    }
    let ids: Vec<&Value> = alerts.iter().map(|alert| &alert["id"]).collect();
    let uids: Vec<&Value> =
        findings.iter().map(|finding| &finding["finding_info"]["uid"]).collect();
    assert_eq!(ids, uids, "same alerts, same order");

    let text_output = replay_with_stdin(&["-q", "--format", "text", "-"], text.as_bytes());
    assert_eq!(text_output.status.code(), Some(0), "{}", describe(&text_output));
    let printed = stdout(&text_output);
    let headers: Vec<&str> = printed.lines().filter(|line| line.starts_with('[')).collect();
    assert_eq!(headers.len(), alerts.len());
    assert!(headers
        .iter()
        .any(|line| line.starts_with("[CRITICAL] ")
            && line.contains("(cross-tenant-backup-deletion) v")));
    assert!(printed.contains("  backup.delete  success  tn-acme  ev-101"));
    assert!(printed.ends_with("\n\n"));
}

#[test]
fn alerts_are_ordered_by_first_seen() {
    let mut events = attack_events();
    // A second credential starts deleting earlier, in other tenants.
    for (index, tenant) in ["tn-hooli", "tn-stark", "tn-wayne"].iter().enumerate() {
        let time = format!("2026-11-05T02:0{index}:00Z");
        events.insert(0, delete_event(&format!("ev-2{index}"), &time, tenant, "cred-api-9"));
    }
    events.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
    let output = replay_with_stdin(&["-q", "-"], json_lines(&events).as_bytes());
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let alerts = parsed_lines(&output);
    let first_seen: Vec<&str> =
        alerts.iter().map(|alert| alert["first_seen"].as_str().unwrap()).collect();
    let mut sorted = first_seen.clone();
    sorted.sort();
    assert_eq!(first_seen, sorted);
    let deletion_actors: Vec<&str> = alerts
        .iter()
        .filter(|alert| alert["rule_id"] == DELETION_RULE)
        .map(|alert| alert["actor"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(deletion_actors, ["cred-api-9", "cred-api-3"]);
}

/// Two days of hourly exports of 1 to 2 GiB by one credential, starting 2026-11-01.
fn export_history() -> Vec<Value> {
    let mut events = Vec::new();
    for hour in 0..48 {
        let day = 1 + hour / 24;
        let time = format!("2026-11-{day:02}T{:02}:10:00Z", hour % 24);
        events.push(export_event(&format!("h{hour}"), &time, 1 << 30));
        if hour % 2 == 0 {
            let time = format!("2026-11-{day:02}T{:02}:40:00Z", hour % 24);
            events.push(export_event(&format!("g{hour}"), &time, 1 << 30));
        }
    }
    events
}

fn export_event(event_id: &str, time: &str, bytes: u64) -> Value {
    serde_json::json!({
        "event_id": event_id,
        "time": time,
        "msp_id": "msp-northwind",
        "tenant_id": "tn-acme",
        "actor": {"id": "cred-ops-17", "type": "user"},
        "action": "backup.export",
        "resource": {"type": "backup", "id": "bk-acme-1102"},
        "outcome": "success",
        "bytes": bytes,
    })
}

#[test]
fn baselines_saved_after_one_run_judge_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.jsonl");
    fs::write(&history, json_lines(&export_history())).unwrap();
    let spike = dir.path().join("spike.jsonl");
    let spike_events = [
        export_event("spike1", "2026-11-03T00:15:00Z", 30 << 30),
        export_event("spike2", "2026-11-03T00:25:00Z", 30 << 30),
    ];
    fs::write(&spike, json_lines(&spike_events)).unwrap();
    let snapshot = dir.path().join("baselines.snapshot");

    let learn =
        replay(&["-q", "--baseline-out", snapshot.to_str().unwrap(), history.to_str().unwrap()]);
    assert_eq!(learn.status.code(), Some(0), "{}", describe(&learn));
    assert!(!fs::read(&snapshot).unwrap().is_empty());
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left behind");

    let without = replay(&["-q", spike.to_str().unwrap()]);
    assert_eq!(without.status.code(), Some(0), "{}", describe(&without));
    assert!(!rule_ids(&parsed_lines(&without)).contains(&"mass-export-baseline"));

    let with =
        replay(&["-q", "--baseline-in", snapshot.to_str().unwrap(), spike.to_str().unwrap()]);
    assert_eq!(with.status.code(), Some(0), "{}", describe(&with));
    let alerts = parsed_lines(&with);
    let judged = alerts.iter().find(|alert| alert["rule_id"] == "mass-export-baseline");
    let judged = judged.unwrap_or_else(|| panic!("a baseline alert\n{}", describe(&with)));
    assert!(judged["baseline"].is_object(), "{judged}");
}

#[test]
fn a_corrupt_baseline_snapshot_exits_two() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("corrupt.snapshot");
    fs::write(&snapshot, b"not a snapshot").unwrap();
    let empty = dir.path().join("empty.jsonl");
    fs::write(&empty, b"").unwrap();
    let output = replay(&["--baseline-in", snapshot.to_str().unwrap(), empty.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(stderr(&output).contains("corrupt.snapshot"));
}

#[test]
fn the_shared_real_cloudtrail_is_read_whole_and_both_outside_shares_are_flagged() {
    let real = shared_real().join("stratus-red-team");
    assert!(real.is_dir(), "{} must be beside the repository", real.display());
    // The ten files come from different days and accounts; replay orders them by time itself.
    let output = replay(&[real.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(summary_count(&output, "records read"), Some(172), "{}", describe(&output));
    assert_eq!(summary_count(&output, "rejected"), Some(0), "{}", describe(&output));
    assert_eq!(summary_count(&output, "too late"), Some(0), "{}", describe(&output));
    assert_eq!(summary_count(&output, "evaluated"), Some(172), "{}", describe(&output));
    let alerts = parsed_lines(&output);
    let shares: Vec<&Value> =
        alerts.iter().filter(|alert| alert["rule_id"] == "backup-shared-externally").collect();
    assert_eq!(shares.len(), 2, "{}", describe(&output));
    let mut tenants: Vec<&str> =
        shares.iter().map(|alert| alert["tenants"][0].as_str().unwrap()).collect();
    tenants.sort_unstable();
    assert_eq!(tenants, ["171471557522", "756680937392"]);
}

#[test]
fn files_that_overlap_in_time_are_merged_into_one_cross_tenant_incident() {
    // One file per tenant, as logs kept per account come; named so that name order is not
    // time order, and each covering hours around the attack.
    let dir = tempfile::tempdir().unwrap();
    let tenants = ["tn-acme", "tn-globex", "tn-initech", "tn-umbrella"];
    for (index, tenant) in tenants.iter().enumerate() {
        let minute = 10 + 2 * (tenants.len() - index);
        let events = [
            run_event(&format!("{tenant}-early"), "2026-11-05T01:00:00Z", tenant),
            delete_event(
                &format!("{tenant}-delete"),
                &format!("2026-11-05T03:{minute:02}:00Z"),
                tenant,
                "cred-api-3",
            ),
            run_event(&format!("{tenant}-late"), "2026-11-05T09:00:00Z", tenant),
        ];
        fs::write(dir.path().join(format!("{index}-{tenant}.jsonl")), json_lines(&events)).unwrap();
    }

    let output = replay(&[dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let alerts = parsed_lines(&output);
    let deletions: Vec<&Value> =
        alerts.iter().filter(|alert| alert["rule_id"] == DELETION_RULE).collect();
    assert_eq!(deletions.len(), 1, "{alerts:?}");
    assert_eq!(deletions[0]["tenants"].as_array().unwrap().len(), 4);
    assert_eq!(summary_count(&output, "too late"), Some(0), "{}", describe(&output));
}

#[test]
fn a_reorder_limit_smaller_than_the_overlap_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let later = [run_event("b-1", "2026-11-05T08:00:00Z", "tn-acme")];
    let earlier = [
        run_event("a-1", "2026-11-05T01:00:00Z", "tn-acme"),
        run_event("a-2", "2026-11-05T10:00:00Z", "tn-acme"),
    ];
    fs::write(dir.path().join("1.jsonl"), json_lines(&later)).unwrap();
    fs::write(dir.path().join("2.jsonl"), json_lines(&earlier)).unwrap();

    let output = replay(&[dir.path().to_str().unwrap(), "--max-reorder", "1h"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(stderr(&output).contains("--max-reorder"), "{}", describe(&output));
    assert_eq!(summary_count(&output, "too late"), Some(1), "{}", describe(&output));
}

#[test]
fn standard_input_named_twice_is_bad_usage() {
    let output = replay_with_stdin(&["-", "-"], b"{}\n");
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(stderr(&output).contains("only once"), "{}", describe(&output));
}

/// `count` events, each from a credential and in a tenant never seen before, a second apart
/// from 2026-11-05T02:00:00Z; one in ten is a deletion.
fn flood_lines(count: usize) -> String {
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-05T02:00:00Z").unwrap();
    (0..count)
        .map(|index| {
            let time = (start + chrono::Duration::milliseconds(index as i64 * 250)).to_rfc3339();
            let actor = format!("flood-cred-{index}");
            let tenant = format!("flood-tn-{index}");
            let mut event = if index % 10 == 0 {
                delete_event(&format!("flood-{index}"), &time, &tenant, &actor)
            } else {
                run_event(&format!("flood-{index}"), &time, &tenant)
            };
            event["actor"]["id"] = Value::from(actor);
            format!("{event}\n")
        })
        .collect()
}

#[test]
fn a_memory_limit_evicts_a_flood_of_new_credentials_and_the_attack_is_still_seen() {
    let dir = tempfile::tempdir().unwrap();
    let flood = dir.path().join("flood.jsonl");
    fs::write(&flood, flood_lines(40_000)).unwrap();
    let attack = dir.path().join("attack.jsonl");
    fs::write(&attack, json_lines(&attack_events())).unwrap();
    let (flood, attack) = (flood.to_str().unwrap(), attack.to_str().unwrap());

    let output = replay(&["--memory-limit", "16MiB", flood, attack]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(rule_ids(&parsed_lines(&output)).contains(&DELETION_RULE));
    let evicted = summary_count(&output, "keys evicted").unwrap_or(0);
    assert!(evicted > 40_000, "{}", describe(&output));

    let unlimited = replay(&[flood, attack]);
    assert_eq!(summary_count(&unlimited, "keys evicted"), None, "{}", describe(&unlimited));
    let output = run(&["replay", "--memory-limit", "1MiB", attack]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}
