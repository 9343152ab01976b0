//! The OCSF Detection Finding (class 2004) form of an alert.
//!
//! docs/alerts.md documents the mapping field by field; keep the two in step.

use chrono::DateTime;
use serde_json::{json, Map, Value};

use crate::{Alert, AlertActor, BaselineEvidence, Severity, TimelineEntry};
use mspwatch_event::ActorType;

/// The OCSF schema version the findings conform to.
///
/// 1.5.0 is the first version with both `anomaly_analyses` on Detection Finding and
/// `uid`/`resources` on evidence artifacts.
pub const OCSF_SCHEMA_VERSION: &str = "1.5.0";

const CLASS_UID: u32 = 2004;
const CATEGORY_UID: u32 = 2;
const ACTIVITY_CREATE: u32 = 1;
const ACTIVITY_UPDATE: u32 = 2;
const STATUS_NEW: u32 = 1;
const ANALYTIC_TYPE_RULE: u32 = 1;
const USER_TYPE_USER: u32 = 1;
const USER_TYPE_OTHER: u32 = 99;

/// The alert as an OCSF Detection Finding.
///
/// Version 1 of an alert is a `Create` activity, later versions are `Update`s of the same
/// finding (`finding_info.uid` is the alert id).
pub fn to_ocsf(alert: &Alert) -> Value {
    let (activity_id, activity_name) = match alert.version {
        0 | 1 => (ACTIVITY_CREATE, "Create"),
        _ => (ACTIVITY_UPDATE, "Update"),
    };
    let (severity_id, severity_name) = severity(alert.severity);

    let mut finding = Map::new();
    finding.insert("activity_id".into(), json!(activity_id));
    finding.insert("activity_name".into(), json!(activity_name));
    finding.insert("category_uid".into(), json!(CATEGORY_UID));
    finding.insert("category_name".into(), json!("Findings"));
    finding.insert("class_uid".into(), json!(CLASS_UID));
    finding.insert("class_name".into(), json!("Detection Finding"));
    finding.insert("type_uid".into(), json!(CLASS_UID * 100 + activity_id));
    finding.insert("type_name".into(), json!(format!("Detection Finding: {activity_name}")));
    finding.insert("severity_id".into(), json!(severity_id));
    finding.insert("severity".into(), json!(severity_name));
    finding.insert("status_id".into(), json!(STATUS_NEW));
    finding.insert("status".into(), json!("New"));
    finding.insert("is_alert".into(), json!(true));
    finding.insert("message".into(), json!(alert.summary));
    if let Some(time) = epoch_ms(&alert.last_seen) {
        finding.insert("time".into(), json!(time));
    }
    if let Some(score) = risk_score(alert.score) {
        finding.insert("risk_score".into(), json!(score));
    }
    finding.insert("finding_info".into(), finding_info(alert));
    finding.insert("evidences".into(), evidences(alert));
    finding.insert("resources".into(), Value::Array(tenant_resources(&alert.tenants)));
    if let Some(baseline) = &alert.baseline {
        finding.insert("anomaly_analyses".into(), json!([anomaly_analysis(alert, baseline)]));
    }
    finding.insert("metadata".into(), metadata(alert));
    finding.insert("unmapped".into(), unmapped(alert));
    Value::Object(finding)
}

fn severity(severity: Severity) -> (u32, &'static str) {
    match severity {
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

/// Milliseconds since the epoch of an RFC 3339 time; `None` when the text is not one.
fn epoch_ms(rfc3339: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(rfc3339).ok().map(|time| time.timestamp_millis())
}

/// The score as OCSF's integer risk score, 0 to 100; `None` for a score that is not a number.
fn risk_score(score: f64) -> Option<i64> {
    // The cast cannot overflow: the value is clamped to 0..=100 first.
    score.is_finite().then(|| score.round().clamp(0.0, 100.0) as i64)
}

fn finding_info(alert: &Alert) -> Value {
    let mut info = Map::new();
    info.insert("uid".into(), json!(alert.id));
    info.insert("title".into(), json!(alert.title));
    info.insert("desc".into(), json!(alert.summary));
    info.insert("types".into(), json!([alert.rule_id]));
    if let Some(time) = epoch_ms(&alert.first_seen) {
        info.insert("first_seen_time".into(), json!(time));
    }
    if let Some(time) = epoch_ms(&alert.last_seen) {
        info.insert("last_seen_time".into(), json!(time));
    }
    info.insert(
        "analytic".into(),
        json!({
            "uid": alert.rule_id,
            "name": alert.title,
            "type_id": ANALYTIC_TYPE_RULE,
            "type": "Rule",
        }),
    );
    info.insert("attacks".into(), Value::Array(alert.mitre.iter().map(|id| attack(id)).collect()));
    info.insert("related_events_count".into(), json!(alert.event_count));
    Value::Object(info)
}

/// A MITRE ATT&CK reference; `T1485.001` is technique `T1485`, sub-technique `T1485.001`.
fn attack(technique_id: &str) -> Value {
    match technique_id.split_once('.') {
        Some((technique, _)) => json!({
            "technique": { "uid": technique },
            "sub_technique": { "uid": technique_id },
        }),
        None => json!({ "technique": { "uid": technique_id } }),
    }
}

fn evidences(alert: &Alert) -> Value {
    let actor = actor(&alert.actor);
    let entries = alert.timeline.iter().map(|entry| evidence(&actor, entry)).collect();
    Value::Array(entries)
}

fn evidence(actor: &Value, entry: &TimelineEntry) -> Value {
    let mut data = Map::new();
    data.insert("time".into(), json!(entry.time));
    if let Some(time) = epoch_ms(&entry.time) {
        data.insert("time_ms".into(), json!(time));
    }
    data.insert("outcome".into(), json!(entry.outcome));
    json!({
        "uid": entry.event_id,
        "name": entry.action,
        "actor": actor,
        "api": { "operation": entry.action },
        "resources": tenant_resources(&entry.tenants),
        "data": data,
    })
}

fn actor(actor: &AlertActor) -> Value {
    let (type_id, type_name) = match actor.kind {
        ActorType::User => (USER_TYPE_USER, "User"),
        ActorType::ApiKey => (USER_TYPE_OTHER, "API Key"),
        ActorType::Service => (USER_TYPE_OTHER, "Service"),
    };
    let mut user = Map::new();
    user.insert("uid".into(), json!(actor.id));
    if let Some(name) = &actor.name {
        user.insert("name".into(), json!(name));
    }
    user.insert("type_id".into(), json!(type_id));
    user.insert("type".into(), json!(type_name));
    json!({ "user": user })
}

fn tenant_resources(tenants: &[String]) -> Vec<Value> {
    tenants.iter().map(|tenant| json!({ "uid": tenant, "type": "tenant" })).collect()
}

fn anomaly_analysis(alert: &Alert, baseline: &BaselineEvidence) -> Value {
    let mut observed = json!({ "value": number_text(baseline.observed) });
    if let Some(time) = epoch_ms(&alert.last_seen) {
        observed["timespan"] = json!({ "end_time": time });
    }
    let mut baselines = vec![json!({
        "observation_parameter": baseline.metric,
        "observation_type": "Volume Analysis",
        "observations": [{ "value": number_text(baseline.expected) }],
    })];
    if let Some(peer_expected) = baseline.peer_expected {
        baselines.push(json!({
            "observation_parameter": format!("{} (MSP peers)", baseline.metric),
            "observation_type": "Volume Analysis",
            "observations": [{ "value": number_text(peer_expected) }],
        }));
    }
    json!({
        "analysis_targets": [{ "name": alert.actor.id, "type": "Credential" }],
        "anomalies": [{
            "observation_parameter": baseline.metric,
            "observation_type": "Volume Analysis",
            "observed_pattern": "HIGH_VOLUME",
            "observations": [observed],
        }],
        "baselines": baselines,
    })
}

/// A number as OCSF observation values carry it (text), without a needless `.0`.
fn number_text(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        value.to_string()
    }
}

fn metadata(alert: &Alert) -> Value {
    let mut metadata = Map::new();
    metadata.insert("version".into(), json!(OCSF_SCHEMA_VERSION));
    metadata.insert(
        "product".into(),
        json!({
            "name": "mspwatch",
            "vendor_name": "mspwatch",
            "version": env!("CARGO_PKG_VERSION"),
        }),
    );
    if let Some(tenant) = alert.tenants.first() {
        metadata.insert("tenant_uid".into(), json!(tenant));
    }
    metadata.insert("uid".into(), json!(format!("{}:v{}", alert.id, alert.version)));
    Value::Object(metadata)
}

fn unmapped(alert: &Alert) -> Value {
    json!({
        "msp_id": alert.msp_id,
        "tenants": alert.tenants,
        "supplier_tier": alert.supplier_tier,
        "notify_by": alert.notify_by,
        "alert_version": alert.version,
        "score": alert.score,
        "baseline": alert.baseline,
    })
}
