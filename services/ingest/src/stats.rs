//! Snapshots of what ingestion has done, for the admin API and tests.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use mspwatch_engine::EngineStats;

use crate::detector::PartitionId;

/// Counters since start and the state of every assigned partition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestStats {
    /// Events decoded and given to a detector.
    pub events: u64,
    /// Records understood but carrying no event.
    pub records_skipped: u64,
    /// Records rejected, by reason code.
    pub rejects: BTreeMap<String, u64>,
    /// Dead letters acknowledged by the broker.
    pub dead_letters: u64,
    /// Alert versions acknowledged by the broker.
    pub alerts: u64,
    /// Partition offsets committed.
    pub commits: u64,
    /// Events whose MSP was already seen on another partition.
    pub msp_partition_splits: u64,
    /// Every assigned partition, in topic and partition order.
    pub partitions: Vec<PartitionStats>,
}

impl IngestStats {
    /// All rejects, whatever the reason.
    pub fn rejects_total(&self) -> u64 {
        self.rejects.values().sum()
    }

    /// Keys tracked by all detectors that report it.
    pub fn tracked_keys(&self) -> Option<u64> {
        self.partitions
            .iter()
            .filter_map(|partition| partition.tracked_keys)
            .reduce(u64::saturating_add)
    }
}

/// One assigned partition.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionStats {
    /// The partition.
    pub partition: PartitionId,
    /// The offset after the last processed message.
    pub next_offset: Option<i64>,
    /// The last committed offset (the next to read after a restart).
    pub committed: Option<i64>,
    /// The broker's high watermark, as last reported.
    pub high_watermark: Option<i64>,
    /// Messages not yet processed.
    pub lag: Option<i64>,
    /// Whether the stall watchdog considers it stalled.
    pub stalled: bool,
    /// Alert and dead-letter writes not yet acknowledged.
    pub pending_writes: u64,
    /// Events given to this partition's detector.
    pub events: u64,
    /// The detector's own counters.
    pub detector: EngineStats,
    /// Keys tracked by the detector, when it reports it.
    pub tracked_keys: Option<u64>,
}

/// A cloneable way to read [`IngestStats`] from anywhere (the admin service).
#[derive(Clone)]
pub struct StatsReader(Arc<dyn Fn() -> IngestStats + Send + Sync>);

impl StatsReader {
    /// A reader backed by `read`.
    pub fn new(read: impl Fn() -> IngestStats + Send + Sync + 'static) -> StatsReader {
        StatsReader(Arc::new(read))
    }

    /// The current stats.
    pub fn read(&self) -> IngestStats {
        (self.0)()
    }
}

impl fmt::Debug for StatsReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StatsReader")
    }
}
