//! Kafka ingestion: consumes audit topics, tracks offsets, dead-letters rejects, writes alerts.

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub mod config;

pub use config::{Config, ConfigError};
