//! The files a load run leaves in its directory, one JSON value per line, so that `report`
//! can be run again offline on what the run saw.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use mspwatch_alert::Alert;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What was asked for and, once the run is over, how it went.
pub const RUN_FILE: &str = "run.json";
/// One [`SendSecond`] per second of the run.
pub const SENDS_FILE: &str = "sends.jsonl";
/// One [`WatchedRecord`] per record of a scenario or of a harmful class.
pub const RECORDS_FILE: &str = "records.jsonl";
/// One [`ReceivedAlert`] per alert version received.
pub const ALERTS_FILE: &str = "alerts.jsonl";
/// One [`Sample`] of the detector per second.
pub const SAMPLES_FILE: &str = "samples.jsonl";

/// The run's settings and outcome (`run.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Version of `mspwatch-loadtest` that ran.
    pub version: String,
    /// Wall-clock time of the run's time zero, RFC 3339; every `_us` offset counts from it.
    pub started_at: String,
    /// Bootstrap brokers.
    pub brokers: String,
    /// The audit topic produced to.
    pub topic: String,
    /// The gRPC endpoint subscribed to, if any.
    pub grpc: Option<String>,
    /// The metrics endpoint sampled, if any.
    pub metrics: Option<String>,
    /// The detector process sampled for CPU and memory, if any.
    pub detector_pid: Option<u32>,
    /// Seed of the generated traffic.
    pub seed: u64,
    /// Number of MSPs in the world.
    pub msps: usize,
    /// Target rate, records per second.
    pub rate: f64,
    /// Records the run was to send.
    pub planned_records: u64,
    /// Wall-clock seconds per day of world time, on average.
    pub day_length_secs: f64,
    /// Events per world day.
    pub events_per_day: u64,
    /// World time of the first record, RFC 3339.
    pub world_start: String,
    /// World time the last planned record was expected to reach, RFC 3339.
    pub world_end: String,
    /// Seconds waited for alerts after the last send.
    pub grace_secs: f64,
    /// The injected scenarios, in plan order (the order of `ground-truth.jsonl`).
    pub scenarios: Vec<PlannedScenario>,
    /// How the run went; absent while it runs or when it was killed.
    pub outcome: Option<RunOutcome>,
}

/// One injected scenario as planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedScenario {
    /// Scenario name.
    pub scenario: String,
    /// Whether it is an attack.
    pub malicious: bool,
    /// World time of its first event, RFC 3339.
    pub world_time: String,
    /// Seconds into the run at which its first record was planned to go out.
    pub planned_offset_secs: f64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// `completed`, `interrupted` or `producer failed: ...`.
    pub ended: String,
    /// Records handed to the Kafka client.
    pub records_sent: u64,
    /// Records the brokers acknowledged.
    pub records_acked: u64,
    /// Records the Kafka client could not deliver.
    pub records_failed: u64,
    /// Records handed over more than [`LATE_SEND_US`] after their scheduled time.
    pub late_sends: u64,
    /// 99th percentile of how far behind schedule a record was sent, µs.
    pub send_lag_p99_us: u64,
    /// The most any record was sent behind schedule, µs.
    pub send_lag_max_us: u64,
    /// When the first record was sent, µs.
    pub first_send_us: Option<u64>,
    /// When the last record was sent, µs.
    pub last_send_us: Option<u64>,
    /// When the last record sent was scheduled, µs.
    pub last_scheduled_us: Option<u64>,
    /// When the run stopped listening for alerts, µs.
    pub finished_us: u64,
    /// Alert versions received.
    pub alert_versions: u64,
    /// Why the alert subscription failed for good, if it did.
    pub subscription_error: Option<String>,
    /// Times the subscription was resumed from its cursor.
    pub resubscribes: u64,
    /// Alert messages that could not be read, and were skipped.
    #[serde(default)]
    pub unreadable_alerts: u64,
}

/// A record handed over this much after its scheduled time is counted late: 50 ms.
pub const LATE_SEND_US: u64 = 50_000;

/// What the producer did during one second of the run (`sends.jsonl`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SendSecond {
    /// The second, counted from the run's time zero.
    pub second: u64,
    /// Records scheduled in this second.
    pub scheduled: u64,
    /// Records handed to the Kafka client in this second.
    pub sent: u64,
    /// Of those, records sent late.
    pub late: u64,
    /// The most a record sent in this second was behind schedule, µs.
    pub max_lag_us: u64,
    /// Records acknowledged since the start, at the end of this second.
    pub acked_total: u64,
    /// Records failed since the start, at the end of this second.
    pub failed_total: u64,
    /// World time of the last record sent in this second, ms since the epoch.
    pub world_time_ms: Option<i64>,
}

/// A record whose fate the report follows (`records.jsonl`): every record of an injected
/// scenario, and every normal record of a harmful class or that failed, since those are what
/// alerts are made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchedRecord {
    /// The event id the detector reads from the record.
    pub event_id: String,
    /// The scenario it belongs to (index into the ground truth), if any.
    pub scenario: Option<usize>,
    /// The canonical action name.
    pub action: String,
    /// Its event time (world time), ms since the epoch.
    pub event_time_ms: i64,
    /// When it was scheduled to be sent, µs.
    pub scheduled_us: u64,
    /// When it was handed to the Kafka client, µs.
    pub sent_us: u64,
    /// Whether it repeats an earlier record.
    pub duplicate: bool,
}

/// One alert version as the subscriber received it (`alerts.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceivedAlert {
    /// When it was received, µs.
    pub received_us: u64,
    /// The alert version.
    pub alert: Alert,
}

/// One look at the detector (`samples.jsonl`); a figure is absent when it could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When it was taken, µs.
    pub t_us: u64,
    /// Records the brokers had acknowledged to the load tester by then.
    #[serde(default)]
    pub acked_total: Option<u64>,
    /// Consumer lag of the audit topic, summed over partitions, in messages, as the
    /// detector's Kafka client last saw the partitions' ends.
    pub lag: Option<u64>,
    /// Events the detector has evaluated since it started.
    pub events_total: Option<u64>,
    /// Alert versions the detector has written since it started.
    pub alerts_total: Option<u64>,
    /// CPU time the detector has used since it started, seconds.
    pub cpu_seconds: Option<f64>,
    /// The detector's resident memory, bytes.
    pub rss_bytes: Option<u64>,
    /// Whether the detector process was still running.
    pub detector_running: Option<bool>,
}

/// Why a run file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// A line is not what the file should hold.
    #[error("{path}:{line}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// The failure.
        source: serde_json::Error,
    },
}

/// Writes `value` as one JSON line.
pub fn write_line(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// Reads every line of a JSON-lines file. A last line without its line break (a run killed
/// mid-write) is ignored when it does not parse; any other bad line is an error.
pub fn read_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, FileError> {
    let io_error = |source| FileError::Io { path: path.to_path_buf(), source };
    let mut reader = BufReader::new(File::open(path).map_err(io_error)?);
    let mut values = Vec::new();
    let mut text = String::new();
    let mut line = 0;
    loop {
        text.clear();
        if reader.read_line(&mut text).map_err(io_error)? == 0 {
            return Ok(values);
        }
        line += 1;
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&text) {
            Ok(value) => values.push(value),
            Err(_) if !text.ends_with('\n') => return Ok(values),
            Err(source) => return Err(FileError::Json { path: path.to_path_buf(), line, source }),
        }
    }
}

/// Reads `run.json`.
pub fn read_run_info(path: &Path) -> Result<RunInfo, FileError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| FileError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| FileError::Json {
        path: path.to_path_buf(),
        line: source.line(),
        source,
    })
}

/// Writes `run.json` (through a temporary file, so a reader never sees half of it).
pub fn write_run_info(path: &Path, info: &RunInfo) -> Result<(), FileError> {
    let io_error = |source| FileError::Io { path: path.to_path_buf(), source };
    let mut text = serde_json::to_vec_pretty(info).map_err(|source| FileError::Json {
        path: path.to_path_buf(),
        line: 0,
        source,
    })?;
    text.push(b'\n');
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, text).map_err(io_error)?;
    std::fs::rename(&temporary, path).map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_ignored_but_a_bad_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.jsonl");
        std::fs::write(&path, "{\"second\":1}\n{\"second\":2}\n{\"sec").unwrap();
        #[derive(Deserialize)]
        struct Line {
            second: u64,
        }
        let lines: Vec<Line> = read_lines(&path).unwrap();
        assert_eq!(lines.iter().map(|l| l.second).collect::<Vec<_>>(), [1, 2]);

        std::fs::write(&path, "{\"second\":1}\nnot json\n{\"second\":2}\n").unwrap();
        let error = read_lines::<Line>(&path).err().unwrap();
        assert!(matches!(error, FileError::Json { line: 2, .. }), "{error}");
    }
}
