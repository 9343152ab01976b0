//! Kafka ingestion: consumes audit topics, tracks offsets, dead-letters rejects, writes alerts.
//!
//! Entry points:
//! - [`Config::load`]: the whole `mspwatch run` configuration file with `MSPWATCH_*` overrides.
//! - [`start`]: the live pipeline (a consumer group feeding one [`Detector`] per partition),
//!   returning an [`IngestHandle`] for stats, detector access and a graceful stop.
//! - [`replay_range`]: reads an event-time range of a topic without touching group offsets.
//! - [`Checkpointing`]: partition state checkpoints, restored on assignment.
//! - [`metrics`]: the Prometheus registry pieces and the `/metrics` endpoint.
//! - `testing` (feature `testing`): a local broker for integration tests.

pub mod checkpoint;
pub mod config;
pub mod detector;
pub mod kafka;
pub mod metrics;
pub mod offsets;
mod pipeline;
pub mod replay;
pub mod stats;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod writes;

use std::sync::Arc;

pub use checkpoint::{CheckpointStore, Checkpointing, CheckpointingSettings};
pub use config::{Config, ConfigError};
pub use detector::{Checkpointable, Detector, DetectorFactory, EngineFactory, PartitionId};
pub use metrics::{IngestMetrics, MetricsServer};
pub use pipeline::{start, IngestError, IngestHandle, IngestOptions};
pub use replay::{replay_range, ReplayError, ReplayItem, ReplayRequest, ReplaySummary};
pub use stats::{IngestStats, PartitionStats, StatsReader};

/// An alert version the broker has acknowledged in the alerts topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableAlert {
    /// The alert's stable id.
    pub id: String,
    /// The version written.
    pub version: u32,
    /// Partition of the alerts topic it was written to.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
}

/// Called when an alert version is durable; runs on the producer's thread.
pub type DurableAlertCallback = Arc<dyn Fn(&DurableAlert) + Send + Sync>;
