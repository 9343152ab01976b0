//! The checkpoint writer thread: periodic checkpoints are written off the consumer's thread,
//! one at a time, never older than what a partition already has on disk, and never after the
//! partition was released.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use super::CheckpointStore;
use crate::detector::PartitionId;
use crate::metrics::IngestMetrics;

/// A checkpoint to write.
pub(crate) struct Job {
    pub partition: PartitionId,
    pub next_offset: i64,
    pub state: Vec<u8>,
}

/// What is known of each partition's files, shared by the writer thread and the factory.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Partitions this instance owns now: only their checkpoints are written.
    pub open: HashMap<PartitionId, Option<i64>>,
}

impl Ledger {
    /// Whether a checkpoint of `partition` at `next_offset` should be written: the partition
    /// is owned and the offset is past what its files hold.
    pub fn wants(&self, partition: &PartitionId, next_offset: i64) -> bool {
        self.open.get(partition).is_some_and(|saved| saved.is_none_or(|saved| next_offset > saved))
    }
}

/// Writes checkpoints: queued ones on its own thread, final ones on the caller's.
pub(crate) struct Writer {
    shared: Arc<WriterShared>,
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

pub(crate) struct WriterShared {
    pub store: CheckpointStore,
    pub ledger: Mutex<Ledger>,
    /// Held while a file is written, so writes of one partition never interleave.
    writing: Mutex<()>,
    pub metrics: IngestMetrics,
}

impl WriterShared {
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn writing(&self) -> MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes one checkpoint if it is still wanted; `close` then forgets the partition, so no
    /// queued checkpoint of it is written afterwards.
    fn write(&self, job: &Job, close: bool) {
        let _writing = self.writing();
        let wanted = {
            let mut ledger = self.ledger();
            let wanted = ledger.wants(&job.partition, job.next_offset);
            if close {
                ledger.open.remove(&job.partition);
            }
            wanted
        };
        if !wanted {
            return;
        }
        let started = Instant::now();
        match self.store.save(&job.partition, job.next_offset, &job.state) {
            Ok(bytes) => {
                let seconds = started.elapsed().as_secs_f64();
                self.metrics.checkpoints_written.inc();
                self.metrics.checkpoint_write_seconds.inc_by(seconds);
                self.metrics.checkpoint_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
                tracing::debug!(
                    partition = %job.partition,
                    next_offset = job.next_offset,
                    bytes,
                    write_ms = seconds * 1000.0,
                    "checkpoint written"
                );
                if !close {
                    if let Some(saved) = self.ledger().open.get_mut(&job.partition) {
                        *saved = Some(saved.map_or(job.next_offset, |s| s.max(job.next_offset)));
                    }
                }
            }
            Err(error) => {
                self.metrics.checkpoint_failures.inc();
                tracing::error!(
                    partition = %job.partition,
                    next_offset = job.next_offset,
                    error = %error,
                    "checkpoint not written; after a crash the partition resumes from an older \
                     one, or empty"
                );
            }
        }
    }
}

impl Writer {
    /// A writer over `store` with its thread started.
    pub fn start(store: CheckpointStore, metrics: IngestMetrics) -> Writer {
        let shared = Arc::new(WriterShared {
            store,
            ledger: Mutex::new(Ledger::default()),
            writing: Mutex::new(()),
            metrics,
        });
        let (jobs, queue) = mpsc::channel();
        let working = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("mspwatch-checkpoints".to_owned())
            .spawn(move || write_queued(&working, &queue))
            .map_err(|error| {
                tracing::error!(error = %error, "cannot start the checkpoint writer; periodic \
                    checkpoints are written on the consumer's thread");
            })
            .ok();
        let jobs = thread.as_ref().map(|_| jobs);
        Writer { shared, jobs, thread }
    }

    /// The store and the ledger.
    pub fn shared(&self) -> &WriterShared {
        &self.shared
    }

    /// Queues a checkpoint for the writer thread.
    pub fn queue(&self, job: Job) {
        match &self.jobs {
            Some(jobs) => {
                if let Err(mpsc::SendError(job)) = jobs.send(job) {
                    self.shared.write(&job, false);
                }
            }
            None => self.shared.write(&job, false),
        }
    }

    /// Writes a partition's final checkpoint now, after any write in progress, and closes it.
    pub fn write_final(&self, job: &Job) {
        self.shared.write(job, true);
    }

    /// Closes a partition without writing.
    pub fn close(&self, partition: &PartitionId) {
        let _writing = self.shared.writing();
        self.shared.ledger().open.remove(partition);
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread: writes queued checkpoints, skipping one when a newer one of the same
/// partition is already queued behind it.
fn write_queued(shared: &WriterShared, queue: &Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        batch.extend(queue.try_iter());
        let mut latest: HashMap<PartitionId, Job> = HashMap::new();
        for job in batch {
            match latest.get(&job.partition) {
                Some(queued) if queued.next_offset >= job.next_offset => {}
                _ => {
                    latest.insert(job.partition.clone(), job);
                }
            }
        }
        for job in latest.values() {
            shared.write(job, false);
        }
    }
}
