//! Output formats: JSON lines, OCSF Detection Finding (class 2004) and a readable text timeline.
//!
//! Every format writes one alert version at a time, so a stream of updates can be written as it
//! happens; the JSON formats write exactly one line per alert.

mod ocsf;
mod text;

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use crate::Alert;

pub use ocsf::{to_ocsf, OCSF_SCHEMA_VERSION};

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

impl AlertFormat {
    /// Every format, in the order help texts list them.
    pub const ALL: [AlertFormat; 3] = [AlertFormat::Jsonl, AlertFormat::Ocsf, AlertFormat::Text];

    /// The name used on the command line and in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertFormat::Jsonl => "jsonl",
            AlertFormat::Ocsf => "ocsf",
            AlertFormat::Text => "text",
        }
    }
}

impl fmt::Display for AlertFormat {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A format name that is not `jsonl`, `ocsf` or `text`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown alert format `{0}` (expected jsonl, ocsf or text)")]
pub struct UnknownFormat(pub String);

impl FromStr for AlertFormat {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<AlertFormat, UnknownFormat> {
        AlertFormat::ALL
            .into_iter()
            .find(|format| format.as_str() == name)
            .ok_or_else(|| UnknownFormat(name.to_owned()))
    }
}

/// Writes one alert in the given format.
///
/// `jsonl` and `ocsf` write one line ending in `\n`; `text` writes a block of lines followed by
/// a blank line.
pub fn write_alert(out: &mut dyn Write, alert: &Alert, format: AlertFormat) -> io::Result<()> {
    match format {
        AlertFormat::Jsonl => write_json_line(out, alert),
        AlertFormat::Ocsf => write_json_line(out, &to_ocsf(alert)),
        AlertFormat::Text => text::write_text(out, alert),
    }
}

fn write_json_line(out: &mut dyn Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests;
