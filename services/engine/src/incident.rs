//! Incidents: one alert per rule and group, updated with a new version as evidence grows.

use std::collections::{BTreeSet, HashSet};
use std::hash::BuildHasher;
use std::sync::Arc;

use mspwatch_alert::{Alert, AlertActor, BaselineEvidence, TimelineEntry};
use mspwatch_event::{Event, Outcome, SupplierTier};
use mspwatch_rules::{Rule, Severity};
use sha2::{Digest, Sha256};

use crate::baseline::{format_time, Judgement};
use crate::bounded::{FastHasher, MapHasher};
use crate::memory::{buffer_bytes, hash_set_bytes, string_bytes, Footprint, ALLOCATION_BYTES};
use mspwatch_event::ActionClass;
use serde::{Deserialize, Serialize};

/// Most event ids and timeline entries an alert carries; `event_count` keeps counting.
pub const EVIDENCE_CAP: usize = 100;

/// Most tenants an alert lists.
const TENANT_CAP: usize = 10_000;

/// Most evidence ids remembered per incident to count each event once.
const COUNTED_IDS_CAP: usize = 100_000;

/// 72 hours: the breach-notification clock.
const NOTIFY_AFTER_MS: i64 = 72 * 3_600_000;

/// What an alert needs to know of one evidence event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EvidenceItem {
    pub(crate) time_ms: i64,
    pub(crate) event_id: Box<str>,
    pub(crate) action: Box<str>,
    pub(crate) outcome: Outcome,
    pub(crate) tenants: Box<[Box<str>]>,
}

impl EvidenceItem {
    /// Bytes of the item's allocation (with the shared pointer's counts) and its strings.
    pub(crate) fn heap_bytes(&self) -> usize {
        let tenants: usize = self.tenants.iter().map(|tenant| tenant.heap_bytes()).sum();
        std::mem::size_of::<EvidenceItem>()
            + 2 * std::mem::size_of::<usize>()
            + ALLOCATION_BYTES
            + self.event_id.heap_bytes()
            + self.action.heap_bytes()
            + buffer_bytes::<Box<str>>(self.tenants.len())
            + tenants
    }

    pub(crate) fn of(event: &Event) -> Arc<EvidenceItem> {
        Arc::new(EvidenceItem {
            time_ms: event.time_ms,
            event_id: event.event_id.as_str().into(),
            action: event.action.as_str().into(),
            outcome: event.outcome,
            tenants: event.tenant_ids.iter().map(|tenant| tenant.as_str().into()).collect(),
        })
    }
}

/// The figures a summary quotes, beyond what the incident itself holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Figures {
    /// The aggregate, baseline or step count behind the latest firing.
    pub(crate) value: Option<f64>,
    /// Whether `value` is a byte count, for readable summaries.
    pub(crate) value_is_bytes: bool,
    /// A baseline's verdict.
    pub(crate) judgement: Option<Judgement>,
}

/// One open incident.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Incident {
    id: String,
    version: u32,
    first_ms: i64,
    last_ms: i64,
    event_count: u64,
    counted: HashSet<u64, MapHasher>,
    evidence: Vec<Arc<EvidenceItem>>,
    tenants: BTreeSet<Box<str>>,
    actor: AlertActor,
    msp_id: Option<String>,
    tier: Option<SupplierTier>,
    figures: Figures,
    last_action: String,
    last_class: Option<ActionClass>,
    /// Heap bytes of the evidence and tenants held, for the memory budget (not saved).
    #[serde(skip)]
    held_bytes: usize,
}

/// Approximate bytes a B-tree set spends per element besides the element's own heap.
const TREE_SLOT_BYTES: usize = 32;

impl Footprint for Incident {
    fn heap_bytes(&self) -> usize {
        let text = |text: &str| string_bytes(text.len());
        let optional = |value: &Option<String>| value.as_deref().map_or(0, text);
        let judgement = self.figures.judgement.as_ref();
        text(&self.id)
            + hash_set_bytes::<u64>(self.counted.capacity())
            + buffer_bytes::<Arc<EvidenceItem>>(self.evidence.capacity())
            + text(&self.actor.id)
            + optional(&self.actor.name)
            + optional(&self.msp_id)
            + judgement.map_or(0, |j| text(&j.metric) + text(&j.subject))
            + text(&self.last_action)
            + self.held_bytes
    }

    fn has_history(&self, _last_active_ms: i64) -> bool {
        self.event_count >= 2
    }

    fn recount(&mut self) {
        let evidence: usize = self.evidence.iter().map(|item| item.heap_bytes()).sum();
        let tenants: usize =
            self.tenants.iter().map(|tenant| TREE_SLOT_BYTES + tenant.heap_bytes()).sum();
        self.held_bytes = evidence + tenants;
    }
}

impl Incident {
    /// Opens an incident from its first evidence (sorted by time, then id).
    pub(crate) fn open(rule: &Rule, group_key: &str, event: &Event, first: &EvidenceItem) -> Self {
        let id = alert_id(&rule.id, group_key, first.time_ms, &first.event_id);
        Incident {
            id,
            version: 0,
            first_ms: first.time_ms,
            last_ms: first.time_ms,
            event_count: 0,
            counted: HashSet::default(),
            evidence: Vec::new(),
            tenants: BTreeSet::new(),
            actor: AlertActor {
                id: event.actor.id.clone(),
                name: event.actor.name.clone(),
                kind: event.actor.kind,
            },
            msp_id: event.msp_id.clone(),
            tier: event.supplier_tier,
            figures: Figures::default(),
            last_action: String::new(),
            last_class: None,
            held_bytes: 0,
        }
    }

    /// Event time of the latest evidence.
    pub(crate) fn last_ms(&self) -> i64 {
        self.last_ms
    }

    /// Adds evidence; returns whether anything new was added.
    pub(crate) fn add(&mut self, items: &[Arc<EvidenceItem>], hasher: &FastHasher) -> bool {
        let mut added = false;
        for item in items {
            let id_hash = hasher.hash_one(&*item.event_id);
            if self.counted.len() < COUNTED_IDS_CAP {
                if !self.counted.insert(id_hash) {
                    continue;
                }
            } else if self.evidence.iter().any(|known| known.event_id == item.event_id) {
                continue;
            }
            added = true;
            self.event_count += 1;
            self.first_ms = self.first_ms.min(item.time_ms);
            self.last_ms = self.last_ms.max(item.time_ms);
            for tenant in item.tenants.iter() {
                if self.tenants.len() < TENANT_CAP && self.tenants.insert(tenant.clone()) {
                    self.held_bytes += TREE_SLOT_BYTES + tenant.heap_bytes();
                }
            }
            if self.evidence.len() < EVIDENCE_CAP {
                self.evidence.push(Arc::clone(item));
                self.held_bytes += item.heap_bytes();
            }
        }
        added
    }

    /// Records what the latest firing measured and which event caused it.
    pub(crate) fn note(&mut self, event: &Event, figures: Figures) {
        if self.actor.name.is_none() {
            self.actor.name = event.actor.name.clone();
        }
        if self.msp_id.is_none() {
            self.msp_id = event.msp_id.clone();
            self.tier = event.supplier_tier;
        }
        if figures.value.is_some() || figures.judgement.is_some() {
            self.figures = figures;
        }
        self.last_action.clone_from(&event.action);
        self.last_class = Some(event.class);
    }

    /// The next version of the alert.
    pub(crate) fn publish(&mut self, rule: &Rule) -> Alert {
        self.version += 1;
        let mut timeline: Vec<&Arc<EvidenceItem>> = self.evidence.iter().collect();
        timeline.sort_by(|a, b| (a.time_ms, &a.event_id).cmp(&(b.time_ms, &b.event_id)));
        let tenants: Vec<String> = self.tenants.iter().map(|tenant| tenant.to_string()).collect();
        let baseline = self.figures.judgement.as_ref().map(|judgement| BaselineEvidence {
            metric: judgement.metric.clone(),
            observed: judgement.observed,
            expected: judgement.expected,
            stddev: judgement.stddev,
            zscore: judgement.zscore.is_finite().then_some(judgement.zscore),
            history_hours: judgement.history_hours,
            peer_expected: judgement.peer_expected,
        });
        Alert {
            id: self.id.clone(),
            version: self.version,
            rule_id: rule.id.clone(),
            title: rule.title.clone(),
            severity: rule.severity,
            score: self.score(rule),
            msp_id: self.msp_id.clone(),
            supplier_tier: self.tier,
            actor: self.actor.clone(),
            summary: self.summary(rule, &tenants),
            tenants,
            first_seen: format_time(self.first_ms),
            last_seen: format_time(self.last_ms),
            event_count: self.event_count,
            evidence: timeline.iter().map(|item| item.event_id.to_string()).collect(),
            timeline: timeline
                .iter()
                .map(|item| TimelineEntry {
                    time: format_time(item.time_ms),
                    event_id: item.event_id.to_string(),
                    action: item.action.to_string(),
                    outcome: item.outcome.as_str().to_owned(),
                    tenants: item.tenants.iter().map(|tenant| tenant.to_string()).collect(),
                })
                .collect(),
            mitre: rule.mitre.clone(),
            baseline,
            notify_by: format_time(self.first_ms.saturating_add(NOTIFY_AFTER_MS)),
        }
    }

    /// 0 to 100: the rule's severity, raised for critical suppliers and for breadth.
    fn score(&self, rule: &Rule) -> f64 {
        let base = match rule.severity {
            Severity::Low => 30.0,
            Severity::Medium => 50.0,
            Severity::High => 70.0,
            Severity::Critical => 85.0,
        };
        let tier = match self.tier {
            Some(SupplierTier::Critical) => 8.0,
            Some(SupplierTier::High) => 4.0,
            Some(SupplierTier::Standard) | None => 0.0,
        };
        let breadth = (self.tenants.len().saturating_sub(1) as f64).min(7.0);
        (base + tier + breadth).min(100.0)
    }

    fn summary(&self, rule: &Rule, tenants: &[String]) -> String {
        let lookup = |name: &str| -> Option<String> {
            let judgement = self.figures.judgement.as_ref();
            Some(match name {
                "actor" => self.actor.name.clone().unwrap_or_else(|| self.actor.id.clone()),
                "actor_id" => self.actor.id.clone(),
                "actor_name" => self.actor.name.clone().unwrap_or_default(),
                "msp" => self.msp_id.clone().unwrap_or_else(|| "an unattributed MSP".to_owned()),
                "tenants" => list_tenants(tenants),
                "tenant_count" => tenants.len().to_string(),
                "event_count" => self.event_count.to_string(),
                "value" => match self.figures.value {
                    Some(value) if self.figures.value_is_bytes => format_bytes(value),
                    Some(value) => format_number(value),
                    None => self.event_count.to_string(),
                },
                "threshold" => threshold_of(rule, self.figures.value_is_bytes),
                "window" => window_of(rule),
                "observed" => judgement.map(|j| format_measure(&j.metric, j.observed))?,
                "expected" => judgement.map(|j| format_measure(&j.metric, j.expected))?,
                "zscore" => judgement.map(|j| format_number(j.zscore))?,
                "ratio" => judgement.map(|j| format_ratio(j.ratio))?,
                "action" => self.last_action.clone(),
                "class" => self.last_class.map_or("", ActionClass::as_str).to_owned(),
                "steps" => steps_of(rule),
                "rule" => rule.id.clone(),
                "first_seen" => format_time(self.first_ms),
                "last_seen" => format_time(self.last_ms),
                "tier" => self.tier.map_or("unknown", SupplierTier::as_str).to_owned(),
                _ => return None,
            })
        };
        rule.summary.render(&lookup)
    }
}

/// The stable alert id: the same rule, group and first evidence give the same id on every run.
fn alert_id(rule_id: &str, group_key: &str, first_ms: i64, first_event_id: &str) -> String {
    let mut digest = Sha256::new();
    for part in [
        rule_id.as_bytes(),
        group_key.as_bytes(),
        &first_ms.to_be_bytes(),
        first_event_id.as_bytes(),
    ] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part);
    }
    let hash = digest.finalize();
    let hex: String = hash.iter().take(12).map(|byte| format!("{byte:02x}")).collect();
    format!("al-{hex}")
}

fn list_tenants(tenants: &[String]) -> String {
    const SHOWN: usize = 8;
    if tenants.len() <= SHOWN {
        return tenants.join(", ");
    }
    format!("{} and {} more", tenants[..SHOWN].join(", "), tenants.len() - SHOWN)
}

/// Numbers as people read them: integers without decimals, others with one or two.
pub(crate) fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return "∞".to_owned();
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn format_ratio(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{}x", format_number(ratio))
    } else {
        "no prior activity".to_owned()
    }
}

/// Bytes with a binary unit.
pub(crate) fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn format_measure(metric: &str, value: f64) -> String {
    if metric.contains("bytes") {
        format_bytes(value)
    } else {
        format_number(value)
    }
}

fn format_duration(duration_ms: i64) -> String {
    let seconds = duration_ms / 1000;
    match seconds {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn window_of(rule: &Rule) -> String {
    use mspwatch_rules::RuleKind;
    match &rule.kind {
        RuleKind::Threshold { window_ms, .. } => format_duration(*window_ms),
        RuleKind::Sequence { within_ms, .. } => format_duration(*within_ms),
        RuleKind::FirstSeen { horizon_ms, .. } => format_duration(*horizon_ms),
        RuleKind::Match | RuleKind::Baseline(_) => "1h".to_owned(),
    }
}

fn threshold_of(rule: &Rule, is_bytes: bool) -> String {
    use mspwatch_rules::RuleKind;
    match &rule.kind {
        RuleKind::Threshold { at_least, .. } if is_bytes => format_bytes(*at_least),
        RuleKind::Threshold { at_least, .. } => format_number(*at_least),
        RuleKind::Baseline(check) => format_number(check.zscore.or(check.ratio).unwrap_or(0.0)),
        _ => String::new(),
    }
}

fn steps_of(rule: &Rule) -> String {
    match &rule.kind {
        mspwatch_rules::RuleKind::Sequence { steps, .. } => {
            steps.iter().map(|step| step.name.as_str()).collect::<Vec<_>>().join(" then ")
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_ids_are_stable_and_distinct() {
        let a = alert_id("rule", "msp\u{1f}cred", 1000, "ev-1");
        assert_eq!(a, alert_id("rule", "msp\u{1f}cred", 1000, "ev-1"));
        assert_ne!(a, alert_id("rule", "msp\u{1f}cred", 1001, "ev-1"));
        assert_ne!(a, alert_id("rule", "msp\u{1f}cred2", 1000, "ev-1"));
        assert!(a.starts_with("al-") && a.len() == 27);
    }

    #[test]
    fn bytes_and_numbers_read_naturally() {
        assert_eq!(format_bytes(536_870_912_000.0), "500.0 GiB");
        assert_eq!(format_bytes(12.0), "12 B");
        assert_eq!(format_number(5.0), "5");
        assert_eq!(format_number(4.256), "4.26");
        assert_eq!(format_duration(1_800_000), "30m");
        assert_eq!(format_duration(7_200_000), "2h");
    }
}
