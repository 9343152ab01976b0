//! Alerts: what the detector tells a SOC, and the formats it writes them in.

mod alert;
pub mod format;

pub use alert::{Alert, AlertActor, BaselineEvidence, TimelineEntry};
pub use mspwatch_rules::Severity;
