//! The alert record.

use mspwatch_event::{ActorType, SupplierTier};
use mspwatch_rules::Severity;
use serde::{Deserialize, Serialize};

/// One incident raised by one rule for one group, at one version.
///
/// The engine raises an alert once per rule and group and then updates it, incrementing
/// `version`, as evidence grows; `id` never changes across versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable identifier, derived from the rule, the group and the first evidence.
    pub id: String,
    /// 1 for the first version, incremented on each update.
    pub version: u32,
    /// The rule that raised it.
    pub rule_id: String,
    /// The rule's title.
    pub title: String,
    /// The rule's severity.
    pub severity: Severity,
    /// 0 to 100: severity, adjusted by supplier tier and how far past the threshold.
    pub score: f64,
    /// The acting credential's MSP, when attributed.
    pub msp_id: Option<String>,
    /// The MSP's supplier tier, when the directory knows it.
    pub supplier_tier: Option<SupplierTier>,
    /// The acting credential.
    pub actor: AlertActor,
    /// Every tenant affected, sorted.
    pub tenants: Vec<String>,
    /// Event time of the first evidence, RFC 3339 UTC.
    pub first_seen: String,
    /// Event time of the latest evidence, RFC 3339 UTC.
    pub last_seen: String,
    /// Number of events that contributed.
    pub event_count: u64,
    /// Event ids of the evidence, capped; the first ones are kept.
    pub evidence: Vec<String>,
    /// What the evidence events did, in event-time order, capped like `evidence`.
    pub timeline: Vec<TimelineEntry>,
    /// MITRE ATT&CK technique ids.
    pub mitre: Vec<String>,
    /// One sentence with the numbers.
    pub summary: String,
    /// Observed against expected, where a baseline judged.
    pub baseline: Option<BaselineEvidence>,
    /// 72 hours after `first_seen`: the breach-notification deadline, RFC 3339 UTC.
    pub notify_by: String,
}

/// The acting credential, as an alert names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertActor {
    /// Credential id.
    pub id: String,
    /// Display name, when known.
    pub name: Option<String>,
    /// Credential kind.
    #[serde(rename = "type")]
    pub kind: ActorType,
}

/// What a baseline expected and what was observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineEvidence {
    /// What was measured (`export.bytes per hour`).
    pub metric: String,
    /// The observed value.
    pub observed: f64,
    /// The baseline's mean.
    pub expected: f64,
    /// The baseline's standard deviation.
    pub stddev: f64,
    /// (observed - expected) / stddev.
    pub zscore: Option<f64>,
    /// Hours of history behind the baseline.
    pub history_hours: u32,
    /// The MSP peers' mean for the same metric, when peers were compared.
    pub peer_expected: Option<f64>,
}

/// One evidence event in an alert's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Event time, RFC 3339 UTC.
    pub time: String,
    /// The event's id.
    pub event_id: String,
    /// The source's action name.
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Tenants the event touched.
    pub tenants: Vec<String>,
}
