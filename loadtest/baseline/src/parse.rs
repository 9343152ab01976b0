//! The raw parse rate of a JSON lines file: every line parsed by serde_json and thrown away.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::de::IgnoredAny;

/// Buffer size of the reader, the same as replay's.
const BUFFER_BYTES: usize = 64 * 1024;

/// What each line is parsed into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// `serde::de::IgnoredAny`: every byte scanned and validated, nothing built.
    Ignored,
    /// `serde_json::Value`: a tree of maps and owned strings per line.
    Value,
}

/// What one pass over a file found, and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseReport {
    /// Lines parsed without error.
    pub records: u64,
    /// Lines serde_json refused.
    pub errors: u64,
    /// Bytes read, line ends included.
    pub bytes: u64,
    /// Time from opening the file to the end of the last line.
    pub elapsed: Duration,
}

impl ParseReport {
    /// Records parsed per second of elapsed time.
    pub fn records_per_second(&self) -> f64 {
        per_second(self.records, self.elapsed)
    }
}

impl fmt::Display for ParseReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "parse: {} records ({} errors, {:.1} MB) in {:.3} s, {:.0} records/s",
            self.records,
            self.errors,
            self.bytes as f64 / 1e6,
            self.elapsed.as_secs_f64(),
            self.records_per_second()
        )
    }
}

/// `count` per second of `elapsed`; 0 when no time passed.
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// Reads `path` line by line and parses every non-blank line into `target`.
pub fn parse_file(path: &Path, target: Target) -> Result<ParseReport> {
    let started = Instant::now();
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = BufReader::with_capacity(BUFFER_BYTES, file);
    let mut report =
        parse_lines(reader, target).with_context(|| format!("cannot read {}", path.display()))?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Parses every non-blank line of `reader` into `target`; `elapsed` is left at zero.
pub fn parse_lines(mut reader: impl BufRead, target: Target) -> std::io::Result<ParseReport> {
    let mut report = ParseReport { records: 0, errors: 0, bytes: 0, elapsed: Duration::ZERO };
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(report);
        }
        report.bytes = report.bytes.saturating_add(read as u64);
        let content = line.trim_ascii();
        if content.is_empty() {
            continue;
        }
        let parsed = match target {
            Target::Ignored => serde_json::from_slice::<IgnoredAny>(content).map(|_| ()),
            Target::Value => serde_json::from_slice::<serde_json::Value>(content).map(drop),
        };
        match parsed {
            Ok(()) => report.records += 1,
            Err(_) => report.errors += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINES: &str = "{\"a\":1}\n\n{\"b\":[1,2]}\r\n{broken\n{\"c\":\"x\"}";

    #[test]
    fn every_non_blank_line_is_counted_as_parsed_or_refused() {
        for target in [Target::Ignored, Target::Value] {
            let report = parse_lines(LINES.as_bytes(), target).expect("reads");
            assert_eq!((report.records, report.errors), (3, 1), "{target:?}");
            assert_eq!(report.bytes, LINES.len() as u64);
        }
    }

    #[test]
    fn a_rate_over_no_time_is_zero() {
        assert_eq!(per_second(10, Duration::ZERO), 0.0);
        assert_eq!(per_second(10, Duration::from_millis(500)), 20.0);
    }
}
