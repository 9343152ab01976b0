//! Checkpoints: the engine's whole state (held events, remembered ids, baselines, windows,
//! sequences, first-seen memory and open incidents) as bytes, so a restarted detector carries
//! on exactly where it stopped.
//!
//! The bytes are compact (postcard) and versioned, and they record the engine settings they
//! were made under: state kept under other settings (another lateness, another key bound) is
//! refused rather than silently run under the old ones. Framing them in a file, detecting torn
//! writes and keeping the previous checkpoint are the caller's business.

use serde::{Deserialize, Serialize};

use crate::baseline::Baselines;
use crate::bounded::FastHasher;
use crate::detect::{RuleRuntime, RuleState, RuleStateRef};
use crate::order::EventOrder;
use crate::{Engine, EngineConfig, EngineStats, SnapshotError};

/// The checkpoint layout this build writes and reads.
const CHECKPOINT_VERSION: u32 = 2;

#[derive(Serialize)]
struct CheckpointOut<'a> {
    version: u32,
    settings: String,
    seed: u64,
    stats: &'a EngineStats,
    observed_from_ms: Option<i64>,
    observed_to_ms: Option<i64>,
    order: &'a EventOrder,
    baselines: &'a Baselines,
    rules: Vec<(&'a str, &'a str, RuleStateRef<'a>)>,
}

#[derive(Deserialize)]
struct CheckpointIn {
    version: u32,
    settings: String,
    seed: u64,
    stats: EngineStats,
    observed_from_ms: Option<i64>,
    observed_to_ms: Option<i64>,
    order: EventOrder,
    baselines: Baselines,
    rules: Vec<(String, String, RuleState)>,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

/// What a restore did with the rules' saved state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointRestore {
    /// Rules whose whole state (windows, progress, known combinations, incidents) was restored.
    pub rules_restored: usize,
    /// Rules whose definition changed since the checkpoint: their open incidents carry on,
    /// their per-group state starts empty (as after a rule reload).
    pub rules_changed: usize,
    /// Rules in the checkpoint that are no longer loaded; their state is dropped.
    pub rules_dropped: usize,
    /// Rules loaded now that the checkpoint does not know; they start empty.
    pub rules_new: usize,
}

/// The settings a checkpoint's state depends on, as text: any change refuses the checkpoint.
/// The memory limit is not among them: state restored over a smaller limit is trimmed by
/// eviction, as it would be had the limit always been smaller.
fn settings_text(config: &EngineConfig) -> String {
    let without_limit = EngineConfig { memory_limit: None, ..config.clone() };
    format!("{without_limit:?}")
}

impl Engine {
    /// The engine's whole state as bytes, for [`Engine::restore_checkpoint`].
    pub fn checkpoint(&self) -> Vec<u8> {
        let checkpoint = CheckpointOut {
            version: CHECKPOINT_VERSION,
            settings: settings_text(&self.config),
            seed: self.seed,
            stats: &self.stats,
            observed_from_ms: self.observed_from_ms,
            observed_to_ms: self.observed_to_ms,
            order: &self.order,
            baselines: &self.baselines,
            rules: self
                .rules
                .iter()
                .map(|rule| (rule.rule.id.as_str(), rule.fingerprint.as_str(), rule.state()))
                .collect(),
        };
        // Serializing plain data into memory cannot fail.
        postcard::to_stdvec(&checkpoint).unwrap_or_default()
    }

    /// Restores state saved by [`Engine::checkpoint`] into this engine, which keeps its own
    /// rules and directory. Rules are matched by id as a rule reload does: a rule whose
    /// definition changed since the checkpoint keeps its open incidents only, and rules new
    /// since then start empty.
    ///
    /// Refuses, leaving the engine unchanged, bytes that are not a whole checkpoint, a
    /// checkpoint of another layout version, and one made under other engine settings
    /// (lateness, hold, de-duplication horizon, key bound or half-life; a memory limit may
    /// differ).
    pub fn restore_checkpoint(&mut self, bytes: &[u8]) -> Result<CheckpointRestore, SnapshotError> {
        let version: VersionOnly = postcard::from_bytes(bytes)
            .map_err(|error| SnapshotError::Corrupt(error.to_string()))?;
        if version.version != CHECKPOINT_VERSION {
            return Err(SnapshotError::Version {
                found: version.version,
                expected: CHECKPOINT_VERSION,
            });
        }
        let checkpoint: CheckpointIn = postcard::from_bytes(bytes)
            .map_err(|error| SnapshotError::Corrupt(error.to_string()))?;
        let settings = settings_text(&self.config);
        if checkpoint.settings != settings {
            return Err(SnapshotError::Incompatible(format!(
                "made under engine settings {}, running under {settings}",
                checkpoint.settings
            )));
        }
        let _ = checkpoint.version;
        self.seed = checkpoint.seed;
        self.hasher = FastHasher::with_seed(checkpoint.seed);
        self.stats = checkpoint.stats;
        self.observed_from_ms = checkpoint.observed_from_ms;
        self.observed_to_ms = checkpoint.observed_to_ms;
        self.order = checkpoint.order;
        self.order.set_hasher(self.hasher.clone());
        self.baselines = checkpoint.baselines;
        let mut summary = CheckpointRestore::default();
        let mut restored_ids = Vec::new();
        for (rule_id, fingerprint, state) in checkpoint.rules {
            let Some(rule) = self.rules.iter_mut().find(|rule| rule.rule.id == rule_id) else {
                summary.rules_dropped += 1;
                continue;
            };
            if rule.restore_state(&fingerprint, state) {
                summary.rules_restored += 1;
            } else {
                summary.rules_changed += 1;
            }
            restored_ids.push(rule_id);
        }
        summary.rules_new =
            self.rules.iter().filter(|rule| !restored_ids.contains(&rule.rule.id)).count();
        // The restored maps are measured against this engine's share of its memory limit now.
        self.enforce_budgets();
        Ok(summary)
    }
}

impl RuleRuntime {
    /// Takes over saved state; returns whether the rule's definition was unchanged (so its
    /// per-group state was taken over too).
    pub(crate) fn restore_state(&mut self, fingerprint: &str, state: RuleState) -> bool {
        let same_definition = fingerprint == self.fingerprint;
        self.restore(same_definition, state);
        same_definition
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mspwatch_event::{ActionClass, Actor, ActorType, Directory, Event, Outcome, SourceFormat};
    use mspwatch_rules::RuleSet;

    const T0: i64 = 1_793_610_000_000;
    const MINUTE: i64 = 60_000;

    const DELETES: &str = "rules:\n  - id: deletes\n    title: Deletes\n    severity: high\n    \
        kind: threshold\n    where:\n      class: delete\n    group_by: [actor.id]\n    \
        window: 30m\n    aggregate: {distinct: tenant_id}\n    at_least: 3\n    \
        summary: \"{actor} deleted\"\n";

    fn rules(yaml: &str) -> RuleSet {
        match mspwatch_rules::load_str("test.yaml", yaml) {
            Ok(rules) => rules,
            Err(errors) => panic!("test rules do not load: {errors:?}"),
        }
    }

    fn engine_with(config: EngineConfig, yaml: &str) -> Engine {
        Engine::new(config, rules(yaml), Directory::default())
    }

    fn delete(index: i64) -> Event {
        Event {
            event_id: format!("e{index}"),
            time_ms: T0 + index * MINUTE,
            msp_id: Some("msp-a".to_owned()),
            tenant_ids: vec![format!("tn-{index}")],
            actor: Actor { id: "cred-1".to_owned(), kind: ActorType::User, name: None },
            action: "backup.delete".to_owned(),
            class: ActionClass::Delete,
            resource: None,
            outcome: Outcome::Success,
            error: None,
            object_count: None,
            bytes: None,
            source_ip: None,
            user_agent: None,
            product: None,
            via_role: None,
            target_accounts: Vec::new(),
            format: SourceFormat::Canonical,
            supplier_tier: None,
            target_external: false,
        }
    }

    fn with_two_deletes(config: EngineConfig) -> Vec<u8> {
        let mut engine = engine_with(config, DELETES);
        let mut alerts = Vec::new();
        engine.ingest(delete(0), &mut alerts);
        engine.ingest(delete(1), &mut alerts);
        // Evaluated, so the rule's window (not the reorder buffer) holds the two tenants.
        engine.release_held(&mut alerts);
        engine.checkpoint()
    }

    #[test]
    fn a_checkpoint_made_under_other_engine_settings_is_refused_and_changes_nothing() {
        let bytes = with_two_deletes(EngineConfig::default());
        let other = EngineConfig { max_tracked_keys: 10, ..EngineConfig::default() };
        let mut engine = engine_with(other, DELETES);
        let refused = engine.restore_checkpoint(&bytes);
        assert!(matches!(refused, Err(SnapshotError::Incompatible(_))), "{refused:?}");
        assert_eq!(engine.stats().events_in, 0);
    }

    #[test]
    fn a_checkpoint_restores_under_another_memory_limit_and_is_measured_at_once() {
        let bytes = with_two_deletes(EngineConfig::default());
        let limited = EngineConfig {
            memory_limit: Some(crate::MemoryLimit::new(crate::ByteSize(64 << 20))),
            ..EngineConfig::default()
        };
        let mut engine = engine_with(limited, DELETES);
        let summary = engine.restore_checkpoint(&bytes).expect("a memory limit may differ");
        assert_eq!(summary.rules_restored, 1);
        assert!(engine.stats().state_bytes > 0, "restored state is accounted before new events");
        let mut alerts = Vec::new();
        engine.ingest(delete(2), &mut alerts);
        engine.flush(&mut alerts);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
    }

    #[test]
    fn a_checkpoint_of_another_layout_version_is_refused() {
        let mut bytes = with_two_deletes(EngineConfig::default());
        // The version is the first varint: 2 becomes 3.
        if let Some(first) = bytes.first_mut() {
            *first = 3;
        }
        let mut engine = engine_with(EngineConfig::default(), DELETES);
        let refused = engine.restore_checkpoint(&bytes);
        assert!(
            matches!(refused, Err(SnapshotError::Version { found: 3, expected: 2 })),
            "{refused:?}"
        );
    }

    #[test]
    fn a_changed_rule_keeps_its_incidents_but_not_its_windows_and_new_rules_start_empty() {
        let bytes = with_two_deletes(EngineConfig::default());
        let changed = DELETES.replace("at_least: 3", "at_least: 4");
        let extra = "  - id: other\n    title: Other\n    severity: low\n    kind: match\n    \
            where:\n      class: encrypt\n    summary: \"{actor}\"\n";
        let mut engine = engine_with(EngineConfig::default(), &format!("{changed}{extra}"));
        let summary = engine.restore_checkpoint(&bytes).expect("restores");
        assert_eq!(
            summary,
            CheckpointRestore {
                rules_restored: 0,
                rules_changed: 1,
                rules_dropped: 0,
                rules_new: 1
            }
        );
        // The window of two tenants was dropped with the definition: two more make only two.
        let mut alerts = Vec::new();
        engine.ingest(delete(2), &mut alerts);
        engine.ingest(delete(3), &mut alerts);
        engine.flush(&mut alerts);
        assert!(alerts.is_empty(), "{alerts:?}");
        assert_eq!(engine.stats().events_in, 4, "counters carry on");
    }

    #[test]
    fn an_unchanged_rule_set_restores_every_rule_and_the_third_tenant_alerts() {
        let bytes = with_two_deletes(EngineConfig::default());
        let mut engine = engine_with(EngineConfig::default(), DELETES);
        let summary = engine.restore_checkpoint(&bytes).expect("restores");
        assert_eq!(summary.rules_restored, 1);
        let mut alerts = Vec::new();
        engine.ingest(delete(2), &mut alerts);
        engine.flush(&mut alerts);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
    }
}
