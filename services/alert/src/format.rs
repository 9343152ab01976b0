//! Output formats: JSON lines, OCSF Detection Finding (class 2004) and a readable text timeline.
//!
//! SKELETON: the output helper writes these.

use std::io::{self, Write};

use crate::Alert;

/// The formats alerts can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertFormat {
    /// One JSON alert per line.
    #[default]
    Jsonl,
    /// One OCSF Detection Finding per line.
    Ocsf,
    /// A readable timeline per alert.
    Text,
}

/// Writes one alert in the given format.
pub fn write_alert(out: &mut dyn Write, alert: &Alert, format: AlertFormat) -> io::Result<()> {
    let _ = (alert, format);
    out.flush()
}
