//! Conversions between alerts and their gRPC messages, both ways.

use mspwatch_alert::{Alert, AlertActor, BaselineEvidence, Severity, TimelineEntry};
use mspwatch_event::{ActorType, SupplierTier};

use crate::pb;

/// Why a gRPC alert cannot be turned back into an alert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The severity is unspecified or unknown.
    #[error("alert {0} has no known severity")]
    Severity(String),
    /// The actor is missing or its type is unspecified or unknown.
    #[error("alert {0} has no actor with a known type")]
    Actor(String),
}

/// The gRPC severity of a severity.
pub fn severity_to_proto(severity: Severity) -> pb::Severity {
    match severity {
        Severity::Low => pb::Severity::Low,
        Severity::Medium => pb::Severity::Medium,
        Severity::High => pb::Severity::High,
        Severity::Critical => pb::Severity::Critical,
    }
}

/// The severity of a gRPC severity; `None` for unspecified.
pub fn severity_from_proto(severity: pb::Severity) -> Option<Severity> {
    match severity {
        pb::Severity::Unspecified => None,
        pb::Severity::Low => Some(Severity::Low),
        pb::Severity::Medium => Some(Severity::Medium),
        pb::Severity::High => Some(Severity::High),
        pb::Severity::Critical => Some(Severity::Critical),
    }
}

fn tier_to_proto(tier: Option<SupplierTier>) -> pb::SupplierTier {
    match tier {
        None => pb::SupplierTier::Unspecified,
        Some(SupplierTier::Critical) => pb::SupplierTier::Critical,
        Some(SupplierTier::High) => pb::SupplierTier::High,
        Some(SupplierTier::Standard) => pb::SupplierTier::Standard,
    }
}

fn tier_from_proto(tier: i32) -> Option<SupplierTier> {
    match pb::SupplierTier::try_from(tier).ok()? {
        pb::SupplierTier::Unspecified => None,
        pb::SupplierTier::Critical => Some(SupplierTier::Critical),
        pb::SupplierTier::High => Some(SupplierTier::High),
        pb::SupplierTier::Standard => Some(SupplierTier::Standard),
    }
}

fn actor_type_to_proto(kind: ActorType) -> pb::ActorType {
    match kind {
        ActorType::User => pb::ActorType::User,
        ActorType::ApiKey => pb::ActorType::ApiKey,
        ActorType::Service => pb::ActorType::Service,
    }
}

fn actor_type_from_proto(kind: i32) -> Option<ActorType> {
    match pb::ActorType::try_from(kind).ok()? {
        pb::ActorType::Unspecified => None,
        pb::ActorType::User => Some(ActorType::User),
        pb::ActorType::ApiKey => Some(ActorType::ApiKey),
        pb::ActorType::Service => Some(ActorType::Service),
    }
}

/// The gRPC message of an alert.
pub fn alert_to_proto(alert: &Alert) -> pb::Alert {
    pb::Alert {
        id: alert.id.clone(),
        version: alert.version,
        rule_id: alert.rule_id.clone(),
        title: alert.title.clone(),
        severity: severity_to_proto(alert.severity).into(),
        score: alert.score,
        msp_id: alert.msp_id.clone(),
        supplier_tier: tier_to_proto(alert.supplier_tier).into(),
        actor: Some(pb::AlertActor {
            id: alert.actor.id.clone(),
            name: alert.actor.name.clone(),
            r#type: actor_type_to_proto(alert.actor.kind).into(),
        }),
        tenants: alert.tenants.clone(),
        first_seen: alert.first_seen.clone(),
        last_seen: alert.last_seen.clone(),
        event_count: alert.event_count,
        evidence: alert.evidence.clone(),
        timeline: alert.timeline.iter().map(timeline_to_proto).collect(),
        mitre: alert.mitre.clone(),
        summary: alert.summary.clone(),
        baseline: alert.baseline.as_ref().map(baseline_to_proto),
        notify_by: alert.notify_by.clone(),
    }
}

fn timeline_to_proto(entry: &TimelineEntry) -> pb::TimelineEntry {
    pb::TimelineEntry {
        time: entry.time.clone(),
        event_id: entry.event_id.clone(),
        action: entry.action.clone(),
        outcome: entry.outcome.clone(),
        tenants: entry.tenants.clone(),
    }
}

fn baseline_to_proto(baseline: &BaselineEvidence) -> pb::BaselineEvidence {
    pb::BaselineEvidence {
        metric: baseline.metric.clone(),
        observed: baseline.observed,
        expected: baseline.expected,
        stddev: baseline.stddev,
        zscore: baseline.zscore,
        history_hours: baseline.history_hours,
        peer_expected: baseline.peer_expected,
    }
}

/// The alert a gRPC message carries, as the detector wrote it.
pub fn alert_from_proto(alert: pb::Alert) -> Result<Alert, ConvertError> {
    let severity = pb::Severity::try_from(alert.severity)
        .ok()
        .and_then(severity_from_proto)
        .ok_or_else(|| ConvertError::Severity(alert.id.clone()))?;
    let actor = alert.actor.ok_or_else(|| ConvertError::Actor(alert.id.clone()))?;
    let kind =
        actor_type_from_proto(actor.r#type).ok_or_else(|| ConvertError::Actor(alert.id.clone()))?;
    Ok(Alert {
        id: alert.id,
        version: alert.version,
        rule_id: alert.rule_id,
        title: alert.title,
        severity,
        score: alert.score,
        msp_id: alert.msp_id,
        supplier_tier: tier_from_proto(alert.supplier_tier),
        actor: AlertActor { id: actor.id, name: actor.name, kind },
        tenants: alert.tenants,
        first_seen: alert.first_seen,
        last_seen: alert.last_seen,
        event_count: alert.event_count,
        evidence: alert.evidence,
        timeline: alert.timeline.into_iter().map(timeline_from_proto).collect(),
        mitre: alert.mitre,
        summary: alert.summary,
        baseline: alert.baseline.map(baseline_from_proto),
        notify_by: alert.notify_by,
    })
}

fn timeline_from_proto(entry: pb::TimelineEntry) -> TimelineEntry {
    TimelineEntry {
        time: entry.time,
        event_id: entry.event_id,
        action: entry.action,
        outcome: entry.outcome,
        tenants: entry.tenants,
    }
}

fn baseline_from_proto(baseline: pb::BaselineEvidence) -> BaselineEvidence {
    BaselineEvidence {
        metric: baseline.metric,
        observed: baseline.observed,
        expected: baseline.expected,
        stddev: baseline.stddev,
        zscore: baseline.zscore,
        history_hours: baseline.history_hours,
        peer_expected: baseline.peer_expected,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A complete alert with every optional part filled.
    pub(crate) fn sample_alert() -> Alert {
        Alert {
            id: "al-1f3e".to_owned(),
            version: 3,
            rule_id: "cross_tenant_backup_deletion".to_owned(),
            title: "One credential deleted backups across tenants".to_owned(),
            severity: Severity::Critical,
            score: 97.5,
            msp_id: Some("msp-northwind".to_owned()),
            supplier_tier: Some(SupplierTier::Critical),
            actor: AlertActor {
                id: "cred-7".to_owned(),
                name: Some("ops-bot".to_owned()),
                kind: ActorType::ApiKey,
            },
            tenants: vec!["tn-acme".to_owned(), "tn-globex".to_owned()],
            first_seen: "2024-05-01T10:00:00Z".to_owned(),
            last_seen: "2024-05-01T10:07:00Z".to_owned(),
            event_count: 12,
            evidence: vec!["ev-1".to_owned(), "ev-2".to_owned()],
            timeline: vec![TimelineEntry {
                time: "2024-05-01T10:00:00Z".to_owned(),
                event_id: "ev-1".to_owned(),
                action: "backup.delete".to_owned(),
                outcome: "success".to_owned(),
                tenants: vec!["tn-acme".to_owned()],
            }],
            mitre: vec!["T1490".to_owned()],
            summary: "ops-bot deleted 12 backups in 2 tenants within 7 minutes".to_owned(),
            baseline: Some(BaselineEvidence {
                metric: "delete.count per hour".to_owned(),
                observed: 12.0,
                expected: 0.4,
                stddev: 0.2,
                zscore: Some(58.0),
                history_hours: 240,
                peer_expected: None,
            }),
            notify_by: "2024-05-04T10:00:00Z".to_owned(),
        }
    }

    #[test]
    fn alerts_survive_the_round_trip() {
        let alert = sample_alert();
        assert_eq!(alert_from_proto(alert_to_proto(&alert)), Ok(alert.clone()));
        let sparse = Alert { msp_id: None, supplier_tier: None, baseline: None, ..alert };
        assert_eq!(alert_from_proto(alert_to_proto(&sparse)), Ok(sparse));
    }

    #[test]
    fn alerts_without_severity_or_actor_are_refused() {
        let mut message = alert_to_proto(&sample_alert());
        message.severity = 42;
        assert!(matches!(alert_from_proto(message), Err(ConvertError::Severity(_))));
        let mut message = alert_to_proto(&sample_alert());
        message.actor = None;
        assert!(matches!(alert_from_proto(message), Err(ConvertError::Actor(_))));
    }
}
