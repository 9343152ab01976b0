//! What the consumer feeds: one detector per assigned partition, made by a factory.
//!
//! The consumer is generic over [`Detector`] so tests can use a simple one; the service uses
//! [`mspwatch_engine::Engine`]. The factory's hooks are where partition state checkpoints
//! plug in: `resume_offset` on assignment, `settled` after a commit that covers everything
//! processed, `released` when the partition goes.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use mspwatch_alert::Alert;
use mspwatch_engine::{Engine, EngineConfig, EngineStats};
use mspwatch_event::{Directory, Event};
use mspwatch_rules::RuleSet;

/// One partition of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionId {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition number.
    pub partition: i32,
}

impl PartitionId {
    /// The partition `partition` of `topic`.
    pub fn new(topic: &str, partition: i32) -> PartitionId {
        PartitionId { topic: Arc::from(topic), partition }
    }
}

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// Per-partition detection state that takes events and returns alert versions.
pub trait Detector: Send + 'static {
    /// Takes one event; pushes every alert version it caused onto `alerts`.
    fn ingest(&mut self, event: Event, alerts: &mut Vec<Alert>);

    /// The detector's counters so far.
    fn counters(&self) -> EngineStats;

    /// Keys (credentials, groups) currently tracked, when the detector can say.
    fn tracked_keys(&self) -> Option<u64> {
        None
    }

    /// Evaluates every event held back for reordering now; pushes the alert versions caused.
    /// The consumer calls it when a partition goes quiet and before every commit, so that no
    /// committed event is still waiting to be evaluated.
    fn release_held(&mut self, alerts: &mut Vec<Alert>) {
        let _ = alerts;
    }
}

impl Detector for Engine {
    fn ingest(&mut self, event: Event, alerts: &mut Vec<Alert>) {
        let _admission = Engine::ingest(self, event, alerts);
    }

    fn counters(&self) -> EngineStats {
        self.stats().clone()
    }

    fn release_held(&mut self, alerts: &mut Vec<Alert>) {
        Engine::release_held(self, alerts);
    }

    fn tracked_keys(&self) -> Option<u64> {
        Some(self.stats().state_entries)
    }
}

/// Makes and disposes of the detector of each assigned partition.
///
/// A closure `Fn(&PartitionId) -> D` is a factory with no hooks.
pub trait DetectorFactory<D>: Send + Sync + 'static {
    /// A detector for a newly assigned partition.
    fn create(&self, partition: &PartitionId) -> D;

    /// The offset to resume `partition` from instead of the group's committed offset (for
    /// a detector restored from a checkpoint that covers events up to this offset).
    fn resume_offset(&self, partition: &PartitionId) -> Option<i64> {
        let _ = partition;
        None
    }

    /// Called after a commit when every processed event of `partition` is committed and its
    /// alerts are durable: `detector` holds exactly the events before `next_offset`.
    fn settled(&self, partition: &PartitionId, detector: &D, next_offset: i64) {
        let _ = (partition, detector, next_offset);
    }

    /// Called when `partition` is revoked or the consumer stops, after the final commit;
    /// `next_offset` is the committed position, when known.
    fn released(&self, partition: &PartitionId, detector: D, next_offset: Option<i64>) {
        let _ = (partition, detector, next_offset);
    }
}

impl<D, F> DetectorFactory<D> for F
where
    F: Fn(&PartitionId) -> D + Send + Sync + 'static,
{
    fn create(&self, partition: &PartitionId) -> D {
        self(partition)
    }
}

/// Makes an [`Engine`] for each assigned partition from the current rules and directory.
///
/// Keep a clone of the `Arc` to replace the rules later: partitions assigned afterwards get
/// the new rules, and the running engines are updated through
/// [`IngestHandle::for_each_detector`](crate::IngestHandle::for_each_detector).
#[derive(Debug)]
pub struct EngineFactory {
    config: EngineConfig,
    current: RwLock<(RuleSet, Directory)>,
}

impl EngineFactory {
    /// A factory of engines with `config`, `rules` and `directory`.
    pub fn new(config: EngineConfig, rules: RuleSet, directory: Directory) -> Arc<EngineFactory> {
        Arc::new(EngineFactory { config, current: RwLock::new((rules, directory)) })
    }

    /// Rules for partitions assigned from now on.
    pub fn replace_rules(&self, rules: RuleSet) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        current.0 = rules;
    }
}

impl DetectorFactory<Engine> for Arc<EngineFactory> {
    fn create(&self, partition: &PartitionId) -> Engine {
        let _ = partition;
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        Engine::new(self.config.clone(), current.0.clone(), current.1.clone())
    }
}
