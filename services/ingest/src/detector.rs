//! What the consumer feeds: one detector per assigned partition, made by a factory.
//!
//! The consumer is generic over [`Detector`] so tests can use a simple one; the service uses
//! [`mspwatch_engine::Engine`]. The factory's hooks are where partition state checkpoints
//! plug in (see [`crate::checkpoint::Checkpointing`]): `restore` on assignment, `settled` when
//! everything processed is durable, `committed` after each commit, `released` when the
//! partition goes.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use mspwatch_alert::Alert;
use mspwatch_engine::{CheckpointRestore, Engine, EngineConfig, EngineStats, SnapshotError};
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

/// A detector whose whole state can be saved and restored (for partition checkpoints).
pub trait Checkpointable: Detector {
    /// The detector's whole state as bytes.
    fn checkpoint(&self) -> Vec<u8>;

    /// Restores state saved by [`Checkpointable::checkpoint`] into this fresh detector;
    /// refuses, leaving it unchanged, state it cannot take.
    fn restore_checkpoint(&mut self, state: &[u8]) -> Result<CheckpointRestore, SnapshotError>;
}

impl Checkpointable for Engine {
    fn checkpoint(&self) -> Vec<u8> {
        Engine::checkpoint(self)
    }

    fn restore_checkpoint(&mut self, state: &[u8]) -> Result<CheckpointRestore, SnapshotError> {
        Engine::restore_checkpoint(self, state)
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

    /// A detector for a newly assigned partition restored from saved state, and the offset
    /// to resume consumption from (instead of the group's committed offset); `None` to
    /// [`create`](DetectorFactory::create) one instead. `committed` looks the group's committed
    /// offset up (a round trip to the broker; `None` when there is none or it is unknown).
    fn restore(
        &self,
        partition: &PartitionId,
        committed: &dyn Fn() -> Option<i64>,
    ) -> Option<(D, i64)> {
        let _ = (partition, committed);
        None
    }

    /// Called at each commit tick while every processed event of `partition` has its alerts
    /// durable and nothing is waiting: `detector` has seen exactly the events before
    /// `next_offset` (some may still be held for reordering), and every alert it raised so far
    /// is durable. Runs on the consumer's thread with the pipeline locked: keep it short.
    fn settled(&self, partition: &PartitionId, detector: &D, next_offset: i64) {
        let _ = (partition, detector, next_offset);
    }

    /// Called after the group's commit of `partition` at `next_offset` succeeded.
    fn committed(&self, partition: &PartitionId, next_offset: i64) {
        let _ = (partition, next_offset);
    }

    /// Called when `partition` is revoked or the consumer stops, after the final commit.
    /// `next_offset` is `Some` when that commit covers every event `detector` has seen and
    /// their alerts are durable (the detector has seen exactly the events before it); `None`
    /// when some are not committed (they will be read again by the next owner).
    fn released(&self, partition: &PartitionId, detector: D, next_offset: Option<i64>) {
        let _ = (partition, detector, next_offset);
    }
}

/// A factory chosen at run time (with or without checkpoints, say).
impl<D: 'static> DetectorFactory<D> for Box<dyn DetectorFactory<D>> {
    fn create(&self, partition: &PartitionId) -> D {
        (**self).create(partition)
    }

    fn restore(
        &self,
        partition: &PartitionId,
        committed: &dyn Fn() -> Option<i64>,
    ) -> Option<(D, i64)> {
        (**self).restore(partition, committed)
    }

    fn settled(&self, partition: &PartitionId, detector: &D, next_offset: i64) {
        (**self).settled(partition, detector, next_offset);
    }

    fn committed(&self, partition: &PartitionId, next_offset: i64) {
        (**self).committed(partition, next_offset);
    }

    fn released(&self, partition: &PartitionId, detector: D, next_offset: Option<i64>) {
        (**self).released(partition, detector, next_offset);
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
