//! Checkpoints: the engine's whole state (held events, remembered ids, baselines, windows,
//! sequences, first-seen memory and open incidents) as bytes, so a restarted detector carries
//! on exactly where it stopped.
//!
//! The bytes are compact (postcard) and versioned; framing them in a file, detecting torn
//! writes and keeping the previous checkpoint are the caller's business.

use serde::{Deserialize, Serialize};

use crate::baseline::Baselines;
use crate::bounded::FastHasher;
use crate::detect::{RuleRuntime, RuleState, RuleStateRef};
use crate::order::EventOrder;
use crate::{Engine, EngineStats, SnapshotError};

/// The checkpoint layout this build writes and reads.
const CHECKPOINT_VERSION: u32 = 1;

#[derive(Serialize)]
struct CheckpointOut<'a> {
    version: u32,
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

impl Engine {
    /// The engine's whole state as bytes, for [`Engine::restore_checkpoint`].
    pub fn checkpoint(&self) -> Vec<u8> {
        let checkpoint = CheckpointOut {
            version: CHECKPOINT_VERSION,
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
    /// configuration, rules and directory. State of a rule whose definition changed since the
    /// checkpoint is dropped, except its open incidents; rules new since then start empty.
    pub fn restore_checkpoint(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
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
        let _ = checkpoint.version;
        self.seed = checkpoint.seed;
        self.hasher = FastHasher::with_seed(checkpoint.seed);
        self.stats = checkpoint.stats;
        self.observed_from_ms = checkpoint.observed_from_ms;
        self.observed_to_ms = checkpoint.observed_to_ms;
        self.order = checkpoint.order;
        self.order.set_hasher(self.hasher.clone());
        self.baselines = checkpoint.baselines;
        for (rule_id, fingerprint, state) in checkpoint.rules {
            if let Some(rule) = self.rules.iter_mut().find(|rule| rule.rule.id == rule_id) {
                rule.restore_state(&fingerprint, state);
            }
        }
        Ok(())
    }
}

impl RuleRuntime {
    pub(crate) fn restore_state(&mut self, fingerprint: &str, state: RuleState) {
        self.restore(fingerprint == self.fingerprint, state);
    }
}
