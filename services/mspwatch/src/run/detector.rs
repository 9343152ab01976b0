//! The live detector of one partition: the engine, plus alert counts per MSP for the admin API.

use std::collections::BTreeMap;
use std::sync::Arc;

use mspwatch_alert::Alert;
use mspwatch_engine::{CheckpointRestore, Engine, EngineStats, SnapshotError};
use mspwatch_event::Event;
use mspwatch_ingest::{Checkpointable, Detector, DetectorFactory, EngineFactory, PartitionId};

/// Most MSPs whose alert versions are counted per partition; alerts of further MSPs still
/// flow, they are only not counted.
const MAX_COUNTED_MSPS: usize = 100_000;

/// One partition's engine and the alert versions it raised per MSP.
pub struct LiveEngine {
    /// The detection engine.
    pub engine: Engine,
    alerts_by_msp: BTreeMap<String, u64>,
}

impl LiveEngine {
    /// Wraps a fresh engine.
    pub fn new(engine: Engine) -> LiveEngine {
        LiveEngine { engine, alerts_by_msp: BTreeMap::new() }
    }

    /// Alert versions raised so far, by MSP id.
    pub fn alerts_by_msp(&self) -> &BTreeMap<String, u64> {
        &self.alerts_by_msp
    }

    /// Counts the alert versions pushed onto `alerts` from `start` on.
    fn count(&mut self, alerts: &[Alert], start: usize) {
        for alert in alerts.get(start..).unwrap_or_default() {
            let Some(msp_id) = &alert.msp_id else { continue };
            if let Some(count) = self.alerts_by_msp.get_mut(msp_id) {
                *count = count.saturating_add(1);
            } else if self.alerts_by_msp.len() < MAX_COUNTED_MSPS {
                self.alerts_by_msp.insert(msp_id.clone(), 1);
            }
        }
    }
}

impl Detector for LiveEngine {
    fn ingest(&mut self, event: Event, alerts: &mut Vec<Alert>) {
        let start = alerts.len();
        let _admission = self.engine.ingest(event, alerts);
        self.count(alerts, start);
    }

    fn counters(&self) -> EngineStats {
        self.engine.stats()
    }

    fn tracked_keys(&self) -> Option<u64> {
        Some(self.engine.stats().state_entries)
    }

    fn release_held(&mut self, alerts: &mut Vec<Alert>) {
        let start = alerts.len();
        self.engine.release_held(alerts);
        self.count(alerts, start);
    }
}

/// A checkpoint holds the engine; the per-MSP alert counts are this instance's own and start
/// again from zero.
impl Checkpointable for LiveEngine {
    fn checkpoint(&self) -> Vec<u8> {
        self.engine.checkpoint()
    }

    fn restore_checkpoint(&mut self, state: &[u8]) -> Result<CheckpointRestore, SnapshotError> {
        self.engine.restore_checkpoint(state)
    }
}

/// Makes a [`LiveEngine`] per assigned partition from the shared [`EngineFactory`], whose
/// rules a reload replaces.
pub struct LiveFactory(pub Arc<EngineFactory>);

impl DetectorFactory<LiveEngine> for LiveFactory {
    fn create(&self, partition: &PartitionId) -> LiveEngine {
        tracing::debug!(partition = %partition, "new engine for an assigned partition");
        LiveEngine::new(DetectorFactory::<Engine>::create(&self.0, partition))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mspwatch_engine::EngineConfig;
    use mspwatch_event::decode::{decode_record, Decoded};
    use mspwatch_event::Directory;

    fn delete(event_id: &str, tenant_id: &str, minute: u32) -> Event {
        let record = format!(
            r#"{{"event_id":"{event_id}","time":"2026-11-02T10:{minute:02}:00Z","msp_id":"msp-a","tenant_id":"{tenant_id}","actor":{{"id":"cred-1","type":"user"}},"action":"backup.delete","resource":{{"type":"backup","id":"bk-1"}},"outcome":"success"}}"#
        );
        match decode_record(record.as_bytes()) {
            Ok(Decoded::Event(event)) => *event,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn alert_versions_released_from_the_hold_are_counted_per_msp() {
        let rules = mspwatch_rules::load_str(
            "rules.yaml",
            "rules:\n  - id: any-delete\n    title: Deletion\n    severity: high\n    kind: match\n    \
             where:\n      class: delete\n    summary: \"{actor} deleted\"\n",
        )
        .expect("the rule loads");
        let engine = Engine::new(EngineConfig::default(), rules, Directory::default());
        let mut live = LiveEngine::new(engine);
        let mut alerts = Vec::new();
        live.ingest(delete("e1", "tn-1", 0), &mut alerts);
        live.ingest(delete("e2", "tn-2", 1), &mut alerts);
        assert!(alerts.is_empty(), "held for reordering: {alerts:?}");
        live.release_held(&mut alerts);
        assert_eq!(alerts.len(), 2, "{alerts:?}");
        assert_eq!(live.alerts_by_msp().get("msp-a"), Some(&2));
        assert_eq!(live.counters().events_evaluated, 2);
    }
}
