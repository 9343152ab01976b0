//! The detection engine. It takes decoded events and returns alerts; it does no I/O.
//!
//! SKELETON: the API below is the contract with the command-line and service crates.

use mspwatch_alert::Alert;
use mspwatch_event::{Directory, Event};
use mspwatch_rules::RuleSet;

/// Engine limits and timing.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How late an event may arrive, behind the latest event time seen, and still count.
    pub allowed_lateness_ms: i64,
    /// How long an event id is remembered for de-duplication, in event time.
    pub dedupe_horizon_ms: i64,
    /// Most credentials (and per-rule groups) kept before the least recently active go.
    pub max_tracked_keys: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            allowed_lateness_ms: 5 * 60 * 1000,
            dedupe_horizon_ms: 60 * 60 * 1000,
            max_tracked_keys: 1_000_000,
        }
    }
}

/// What the engine has counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Events given to the engine.
    pub events_in: u64,
    /// Events evaluated by the rules.
    pub events_evaluated: u64,
    /// Events dropped as repeats of an id already seen.
    pub duplicates: u64,
    /// Events behind the watermark by more than the allowed lateness.
    pub too_late: u64,
    /// Events with no MSP in the record or the directory.
    pub unattributed: u64,
    /// Keys evicted to stay within `max_tracked_keys`.
    pub evicted: u64,
}

/// The detector: event-time ordering, baselines, rule state and alerts.
pub struct Engine {
    config: EngineConfig,
    rules: RuleSet,
    directory: Directory,
    stats: EngineStats,
}

impl Engine {
    /// An engine with no history.
    pub fn new(config: EngineConfig, rules: RuleSet, directory: Directory) -> Engine {
        Engine { config, rules, directory, stats: EngineStats::default() }
    }

    /// Takes one event; pushes every alert version it caused onto `alerts`.
    pub fn ingest(&mut self, event: Event, alerts: &mut Vec<Alert>) {
        let _ = (event, alerts, &self.config, &self.rules, &self.directory);
        self.stats.events_in += 1;
    }

    /// Evaluates every buffered event (end of input); pushes the alert versions caused.
    pub fn flush(&mut self, alerts: &mut Vec<Alert>) {
        let _ = alerts;
    }

    /// Replaces the rules; state of rules whose id and definition are unchanged is kept.
    pub fn replace_rules(&mut self, rules: RuleSet) {
        self.rules = rules;
    }

    /// Serializes the learned baselines (not open windows) for `load_baselines`.
    pub fn save_baselines(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Loads baselines saved by `save_baselines`, replacing the current ones.
    pub fn load_baselines(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let _ = bytes;
        Ok(())
    }

    /// Counters so far.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }
}

/// Why a saved snapshot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes are not a snapshot, or were cut short.
    #[error("not a valid mspwatch baseline snapshot: {0}")]
    Corrupt(String),
    /// The snapshot was written by an incompatible version.
    #[error("baseline snapshot format version {found} is not supported (expected {expected})")]
    Version {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
}
