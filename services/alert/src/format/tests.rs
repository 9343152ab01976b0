//! Tests of the three alert formats.

use mspwatch_event::{ActorType, SupplierTier};
use serde_json::Value;

use super::*;
use crate::{AlertActor, BaselineEvidence, Severity, TimelineEntry};

fn entry(time: &str, event_id: &str, action: &str, tenant: &str) -> TimelineEntry {
    TimelineEntry {
        time: time.to_owned(),
        event_id: event_id.to_owned(),
        action: action.to_owned(),
        outcome: "success".to_owned(),
        tenants: vec![tenant.to_owned()],
    }
}

fn sample_alert() -> Alert {
    Alert {
        id: "al-7f3a".to_owned(),
        version: 3,
        rule_id: "cross-tenant-backup-deletion".to_owned(),
        title: "Backup deletion across tenants".to_owned(),
        severity: Severity::Critical,
        score: 91.6,
        msp_id: Some("msp-northwind".to_owned()),
        supplier_tier: Some(SupplierTier::Critical),
        actor: AlertActor {
            id: "cred-api-3".to_owned(),
            name: Some("automation key".to_owned()),
            kind: ActorType::ApiKey,
        },
        tenants: vec!["tn-acme".to_owned(), "tn-globex".to_owned(), "tn-initech".to_owned()],
        first_seen: "2026-11-05T03:10:02Z".to_owned(),
        last_seen: "2026-11-05T03:14:40Z".to_owned(),
        event_count: 5,
        evidence: vec!["ev-123".to_owned(), "ev-124".to_owned(), "ev-125".to_owned()],
        timeline: vec![
            entry("2026-11-05T03:10:02Z", "ev-123", "backup.delete", "tn-acme"),
            entry("2026-11-05T03:12:00Z", "ev-124", "backup.delete", "tn-globex"),
            entry("2026-11-05T03:14:40Z", "ev-125", "backup.delete", "tn-initech"),
        ],
        mitre: vec!["T1490".to_owned(), "T1485.001".to_owned()],
        summary: "cred-api-3 deleted backups in 3 tenants within 10 minutes".to_owned(),
        baseline: None,
        notify_by: "2026-11-08T03:10:02Z".to_owned(),
    }
}

fn with_baseline(mut alert: Alert) -> Alert {
    alert.baseline = Some(BaselineEvidence {
        metric: "export.bytes per hour".to_owned(),
        observed: 7_340_032_000.0,
        expected: 120_000_000.0,
        stddev: 30_000_000.0,
        zscore: Some(240.67),
        history_hours: 168,
        peer_expected: Some(100_000_000.0),
    });
    alert
}

fn written(alert: &Alert, format: AlertFormat) -> String {
    let mut out = Vec::new();
    write_alert(&mut out, alert, format).unwrap();
    String::from_utf8(out).unwrap()
}

fn ocsf(alert: &Alert) -> Value {
    let line = written(alert, AlertFormat::Ocsf);
    assert!(line.ends_with('\n'));
    assert_eq!(line.matches('\n').count(), 1, "one finding per line");
    serde_json::from_str(&line).unwrap()
}

#[test]
fn format_names_parse_and_print_back() {
    for format in AlertFormat::ALL {
        assert_eq!(format.as_str().parse::<AlertFormat>(), Ok(format));
        assert_eq!(format.to_string(), format.as_str());
    }
    let error = "JSON".parse::<AlertFormat>().unwrap_err();
    assert_eq!(error.to_string(), "unknown alert format `JSON` (expected jsonl, ocsf or text)");
}

#[test]
fn jsonl_writes_one_line_that_reads_back_as_the_same_alert() {
    let alert = with_baseline(sample_alert());
    let line = written(&alert, AlertFormat::Jsonl);
    assert_eq!(line.matches('\n').count(), 1);
    let read: Alert = serde_json::from_str(&line).unwrap();
    assert_eq!(read, alert);
}

#[test]
fn jsonl_keeps_the_supplier_tier_key_when_the_tier_is_unknown() {
    let mut alert = sample_alert();
    alert.supplier_tier = None;
    let value: Value = serde_json::from_str(&written(&alert, AlertFormat::Jsonl)).unwrap();
    let object = value.as_object().unwrap();
    assert_eq!(object.get("supplier_tier"), Some(&Value::Null));
    assert_eq!(value["actor"]["type"], "api_key");
    assert_eq!(value["severity"], "critical");
}

#[test]
fn ocsf_first_version_is_a_create_and_later_ones_updates() {
    let mut alert = sample_alert();
    alert.version = 1;
    let created = ocsf(&alert);
    assert_eq!(created["class_uid"], 2004);
    assert_eq!(created["category_uid"], 2);
    assert_eq!(created["activity_id"], 1);
    assert_eq!(created["type_uid"], 200401);

    alert.version = 4;
    let updated = ocsf(&alert);
    assert_eq!(updated["activity_id"], 2);
    assert_eq!(updated["type_uid"], 200402);
    assert_eq!(updated["finding_info"]["uid"], created["finding_info"]["uid"]);
    assert_ne!(updated["metadata"]["uid"], created["metadata"]["uid"]);
}

#[test]
fn ocsf_maps_each_severity_to_its_id() {
    let mut alert = sample_alert();
    let expected =
        [(Severity::Low, 2), (Severity::Medium, 3), (Severity::High, 4), (Severity::Critical, 5)];
    for (severity, id) in expected {
        alert.severity = severity;
        assert_eq!(ocsf(&alert)["severity_id"], id, "{severity:?}");
    }
}

#[test]
fn ocsf_carries_times_rule_and_techniques_in_finding_info() {
    let finding = ocsf(&sample_alert());
    // 2026-11-05T03:14:40Z
    assert_eq!(finding["time"], 1_793_848_480_000_i64);
    let info = &finding["finding_info"];
    assert_eq!(info["uid"], "al-7f3a");
    assert_eq!(info["title"], "Backup deletion across tenants");
    assert_eq!(info["desc"], "cred-api-3 deleted backups in 3 tenants within 10 minutes");
    assert_eq!(info["types"], serde_json::json!(["cross-tenant-backup-deletion"]));
    assert_eq!(info["first_seen_time"], 1_793_848_202_000_i64);
    assert_eq!(info["last_seen_time"], finding["time"]);
    assert_eq!(info["analytic"]["uid"], "cross-tenant-backup-deletion");
    assert_eq!(info["analytic"]["type_id"], 1);
    assert_eq!(info["attacks"][0]["technique"]["uid"], "T1490");
    assert_eq!(info["attacks"][1]["technique"]["uid"], "T1485");
    assert_eq!(info["attacks"][1]["sub_technique"]["uid"], "T1485.001");
    assert_eq!(info["related_events_count"], 5);
}

#[test]
fn ocsf_has_one_evidence_per_timeline_entry() {
    let finding = ocsf(&sample_alert());
    let evidences = finding["evidences"].as_array().unwrap();
    assert_eq!(evidences.len(), 3);
    let second = &evidences[1];
    assert_eq!(second["uid"], "ev-124");
    assert_eq!(second["api"]["operation"], "backup.delete");
    assert_eq!(second["actor"]["user"]["uid"], "cred-api-3");
    assert_eq!(second["actor"]["user"]["name"], "automation key");
    assert_eq!(second["resources"][0]["uid"], "tn-globex");
    assert_eq!(second["data"]["time"], "2026-11-05T03:12:00Z");
    assert_eq!(second["data"]["outcome"], "success");
}

#[test]
fn ocsf_metadata_and_unmapped_keep_msp_context() {
    let finding = ocsf(&sample_alert());
    let metadata = &finding["metadata"];
    assert_eq!(metadata["version"], OCSF_SCHEMA_VERSION);
    assert_eq!(metadata["product"]["name"], "mspwatch");
    assert_eq!(metadata["product"]["vendor_name"], "mspwatch");
    assert_eq!(metadata["tenant_uid"], "tn-acme");
    let unmapped = &finding["unmapped"];
    assert_eq!(unmapped["msp_id"], "msp-northwind");
    assert_eq!(unmapped["supplier_tier"], "critical");
    assert_eq!(unmapped["tenants"].as_array().unwrap().len(), 3);
    assert_eq!(unmapped["notify_by"], "2026-11-08T03:10:02Z");
    assert_eq!(unmapped["alert_version"], 3);
    assert_eq!(unmapped["score"], 91.6);
    assert_eq!(finding["risk_score"], 92);
    assert_eq!(finding["status_id"], 1);
}

#[test]
fn ocsf_describes_the_baseline_only_when_one_judged() {
    assert!(ocsf(&sample_alert()).get("anomaly_analyses").is_none());

    let finding = ocsf(&with_baseline(sample_alert()));
    let analysis = &finding["anomaly_analyses"][0];
    assert_eq!(analysis["analysis_targets"][0]["name"], "cred-api-3");
    let anomaly = &analysis["anomalies"][0];
    assert_eq!(anomaly["observation_parameter"], "export.bytes per hour");
    assert_eq!(anomaly["observations"][0]["value"], "7340032000");
    assert_eq!(analysis["baselines"][0]["observations"][0]["value"], "120000000");
    assert_eq!(analysis["baselines"][1]["observations"][0]["value"], "100000000");
    assert_eq!(finding["unmapped"]["baseline"]["zscore"], 240.67);
}

#[test]
fn ocsf_leaves_out_times_and_score_it_cannot_read() {
    let mut alert = sample_alert();
    alert.last_seen = "yesterday".to_owned();
    alert.score = f64::NAN;
    let finding = ocsf(&alert);
    assert!(finding.get("time").is_none());
    assert!(finding.get("risk_score").is_none());
    assert!(finding["finding_info"].get("last_seen_time").is_none());
}

#[test]
fn text_starts_with_the_header_and_lists_the_timeline() {
    let text = written(&with_baseline(sample_alert()), AlertFormat::Text);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "[CRITICAL] Backup deletion across tenants (cross-tenant-backup-deletion) v3"
    );
    assert!(lines[1].contains("deleted backups in 3 tenants"));
    assert!(text.contains("msp-northwind (tier critical)"));
    assert!(text.contains("cred-api-3 \"automation key\" (api_key)"));
    assert!(text.contains("tn-acme,tn-globex,tn-initech (3)"));
    assert!(text.contains("2026-11-08T03:10:02Z"));
    assert!(text.contains("export.bytes per hour observed 7340032000, expected 120000000"));
    assert!(text.contains("z 240.7"));
    assert!(text.contains("T1490,T1485.001"));
    assert!(lines.contains(&"    2026-11-05T03:10:02Z  backup.delete  success  tn-acme  ev-123"));
    assert!(lines.contains(&"    ... 2 more events"));
    assert!(text.ends_with("\n\n"), "a blank line closes each alert");
}

#[test]
fn text_says_when_msp_and_tier_are_unknown() {
    let mut alert = sample_alert();
    alert.msp_id = None;
    alert.supplier_tier = None;
    alert.actor.name = None;
    let text = written(&alert, AlertFormat::Text);
    assert!(text.contains("unattributed (tier unknown)"));
    assert!(text.contains("Actor:      cred-api-3 (api_key)\n"));
    assert!(!text.contains("Baseline:"));
}

#[test]
fn text_escapes_control_characters_from_the_input() {
    let mut alert = sample_alert();
    alert.actor.name = Some("evil\u{1b}[2J\nname\u{202e}".to_owned());
    alert.timeline[0].action = "backup.delete\r\n[CRITICAL] fake".to_owned();
    let text = written(&alert, AlertFormat::Text);
    assert!(!text.contains('\u{1b}'));
    assert!(!text.contains('\r'));
    assert!(!text.contains('\u{202e}'));
    assert!(text.contains("evil\\u{1b}[2J\\nname\\u{202e}"));
    assert_eq!(text.lines().filter(|line| line.starts_with("[CRITICAL]")).count(), 1);
}
