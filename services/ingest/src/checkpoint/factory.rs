//! [`Checkpointing`]: a detector factory that restores partitions from their checkpoints and
//! saves them as the pipeline settles, commits and releases them.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::writer::{Job, Writer};
use super::{CheckpointStore, Generation, StoredCheckpoint};
use crate::detector::{Checkpointable, DetectorFactory, PartitionId};
use crate::metrics::{GenerationLabels, IngestMetrics, ReasonLabels};

/// How often partitions are checkpointed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointingSettings {
    /// The least time between two periodic checkpoints of one partition; a partition is also
    /// checkpointed when it is released (revoked, or at a stop).
    pub interval: Duration,
}

/// A detector factory (`inner`) whose detectors are restored from checkpoints on assignment
/// and checkpointed periodically and on release.
///
/// The pipeline drives it: at each commit tick it offers the state of every partition whose
/// events are all processed and whose alerts are all durable ([`DetectorFactory::settled`]);
/// when the interval has passed, that state is serialized there and then, and written by a
/// background thread once a commit covers its offset ([`DetectorFactory::committed`]). On
/// release the final state is written before the partition is let go, so its next owner finds
/// it.
pub struct Checkpointing<F> {
    inner: F,
    writer: Writer,
    settings: CheckpointingSettings,
    taken: Mutex<HashMap<PartitionId, Taken>>,
    metrics: IngestMetrics,
}

/// The last state taken of a partition.
#[derive(Debug)]
struct Taken {
    at: Instant,
    next_offset: Option<i64>,
    /// A state waiting for the commit that covers its offset.
    waiting: Option<(i64, Vec<u8>)>,
}

impl Taken {
    fn new() -> Taken {
        Taken { at: Instant::now(), next_offset: None, waiting: None }
    }
}

impl<F> Checkpointing<F> {
    /// Wraps `inner`, keeping checkpoints in `store`.
    pub fn new(
        inner: F,
        store: CheckpointStore,
        settings: CheckpointingSettings,
        metrics: IngestMetrics,
    ) -> Checkpointing<F> {
        Checkpointing {
            inner,
            writer: Writer::start(store, metrics.clone()),
            settings,
            taken: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    /// The wrapped factory.
    pub fn inner(&self) -> &F {
        &self.inner
    }

    /// The store the checkpoints are kept in.
    pub fn store(&self) -> &CheckpointStore {
        &self.writer.shared().store
    }

    fn taken(&self) -> MutexGuard<'_, HashMap<PartitionId, Taken>> {
        self.taken.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts tracking a partition this instance now owns; `saved` is its files' offset.
    fn open(&self, partition: &PartitionId, saved: Option<i64>) {
        self.writer.shared().ledger().open.insert(partition.clone(), saved);
        self.taken().insert(partition.clone(), Taken::new());
    }

    fn reject(&self, partition: &PartitionId, generation: Generation, reason: &str, detail: &str) {
        self.metrics
            .checkpoint_rejects
            .get_or_create(&ReasonLabels { reason: reason.to_owned() })
            .inc();
        tracing::warn!(
            partition = %partition,
            generation = generation.as_str(),
            reason,
            detail,
            "checkpoint not used"
        );
    }
}

impl<D, F> DetectorFactory<D> for Checkpointing<F>
where
    D: Checkpointable,
    F: DetectorFactory<D>,
{
    fn create(&self, partition: &PartitionId) -> D {
        if !self.writer.shared().ledger().open.contains_key(partition) {
            self.open(partition, None);
        }
        self.inner.create(partition)
    }

    fn restore(
        &self,
        partition: &PartitionId,
        committed: &dyn Fn() -> Option<i64>,
    ) -> Option<(D, i64)> {
        let mut committed_offset = None;
        for (generation, loaded) in self.store().load(partition) {
            let stored = match loaded {
                Ok(stored) => stored,
                Err(error) => {
                    self.reject(partition, generation, error.reason(), &error.to_string());
                    continue;
                }
            };
            let mut detector = self.inner.create(partition);
            let started = Instant::now();
            let restored = match detector.restore_checkpoint(&stored.state) {
                Ok(restored) => restored,
                Err(error) => {
                    let reason = match error {
                        mspwatch_engine::SnapshotError::Corrupt(_) => "corrupt",
                        _ => "incompatible",
                    };
                    self.reject(partition, generation, reason, &error.to_string());
                    continue;
                }
            };
            let committed = *committed_offset.get_or_insert_with(committed);
            if let Some(committed) = committed.filter(|committed| stored.next_offset > *committed) {
                let detail = format!(
                    "it covers offsets up to {} but the group's committed offset is {committed} \
                     (offsets were reset or the topic recreated)",
                    stored.next_offset
                );
                self.reject(partition, generation, "ahead", &detail);
                continue;
            }
            self.report_restore(partition, generation, &stored, committed, started, &restored);
            self.open(partition, Some(stored.next_offset));
            return Some((detector, stored.next_offset));
        }
        self.open(partition, None);
        None
    }

    fn settled(&self, partition: &PartitionId, detector: &D, next_offset: i64) {
        let mut taken = self.taken();
        let entry = taken.entry(partition.clone()).or_insert_with(Taken::new);
        let fresh = entry.next_offset.is_none_or(|taken| next_offset > taken);
        if fresh && entry.at.elapsed() >= self.settings.interval {
            let started = Instant::now();
            let state = detector.checkpoint();
            self.metrics.checkpoint_serialize_seconds.inc_by(started.elapsed().as_secs_f64());
            entry.at = Instant::now();
            entry.next_offset = Some(next_offset);
            entry.waiting = Some((next_offset, state));
        }
        drop(taken);
        self.inner.settled(partition, detector, next_offset);
    }

    fn committed(&self, partition: &PartitionId, next_offset: i64) {
        let covered = {
            let mut taken = self.taken();
            match taken.get_mut(partition) {
                Some(entry) if entry.waiting.as_ref().is_some_and(|(at, _)| *at <= next_offset) => {
                    entry.waiting.take()
                }
                _ => None,
            }
        };
        if let Some((offset, state)) = covered {
            self.writer.queue(Job { partition: partition.clone(), next_offset: offset, state });
        }
        self.inner.committed(partition, next_offset);
    }

    fn released(&self, partition: &PartitionId, detector: D, next_offset: Option<i64>) {
        self.taken().remove(partition);
        match next_offset {
            Some(next_offset) if self.writer.shared().ledger().wants(partition, next_offset) => {
                let started = Instant::now();
                let state = detector.checkpoint();
                self.metrics.checkpoint_serialize_seconds.inc_by(started.elapsed().as_secs_f64());
                let job = Job { partition: partition.clone(), next_offset, state };
                self.writer.write_final(&job);
                tracing::info!(partition = %partition, next_offset, "partition checkpointed on release");
            }
            Some(_) => self.writer.close(partition),
            None => {
                self.writer.close(partition);
                tracing::debug!(
                    partition = %partition,
                    "partition released without a final checkpoint (nothing processed since its \
                     assignment, or not everything committed); its last checkpoint stays"
                );
            }
        }
        self.inner.released(partition, detector, next_offset);
    }
}

impl<F> Checkpointing<F> {
    fn report_restore(
        &self,
        partition: &PartitionId,
        generation: Generation,
        stored: &StoredCheckpoint,
        committed: Option<i64>,
        started: Instant,
        restored: &mspwatch_engine::CheckpointRestore,
    ) {
        let labels = GenerationLabels { generation: generation.as_str() };
        self.metrics.checkpoint_restores.get_or_create(&labels).inc();
        let reread = committed.map(|committed| committed.saturating_sub(stored.next_offset));
        if let Some(reread) = reread {
            self.metrics.checkpoint_reread_messages.inc_by(u64::try_from(reread).unwrap_or(0));
        }
        let age_secs = (super::now_ms().saturating_sub(stored.written_ms) / 1000).max(0);
        tracing::info!(
            partition = %partition,
            generation = generation.as_str(),
            next_offset = stored.next_offset,
            committed = ?committed,
            reread = reread.unwrap_or(0),
            age_secs,
            bytes = stored.file_bytes,
            restore_ms = started.elapsed().as_secs_f64() * 1000.0,
            rules_restored = restored.rules_restored,
            rules_changed = restored.rules_changed,
            rules_dropped = restored.rules_dropped,
            rules_new = restored.rules_new,
            "partition state restored from checkpoint"
        );
    }
}
