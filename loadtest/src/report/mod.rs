//! The `report` mode: turns a run directory's files into `report.json`, a text table
//! (`report.txt`) and SVG charts, and can be run again offline on the same files.

pub mod analysis;
mod charts;
mod text;

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::live::files::{
    read_lines, read_run_info, FileError, ReceivedAlert, RunInfo, Sample, SendSecond,
    WatchedRecord, ALERTS_FILE, RECORDS_FILE, RUN_FILE, SAMPLES_FILE, SENDS_FILE,
};
use crate::output::GROUND_TRUTH_FILE;
use crate::report::analysis::{
    backlogs, group_alerts, latency_histogram, latency_samples, match_alert, percentiles,
    precision_by_rule, recall_by_kind, AlertHistory, InstanceResult, KindRecall, MatchedBy,
    Percentiles, RecordIndex, RulePrecision, TruthWindow, Verdict,
};
use crate::scenario::GroundTruth;

pub use text::render_text;

/// The report as JSON.
pub const REPORT_FILE: &str = "report.json";
/// The report as a text table.
pub const TEXT_FILE: &str = "report.txt";
/// Latency by percentile.
pub const LATENCY_CHART: &str = "latency.svg";
/// Sent and consumed rate, and lag, over time.
pub const TIMELINE_CHART: &str = "timeline.svg";

/// Percentiles drawn in the latency chart.
const CURVE: [f64; 14] =
    [0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 100.0];

/// Everything the report says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The producer's side.
    pub run: RunSummary,
    /// End-to-end latency of alert versions: receipt minus the scheduled send of the record
    /// that completed them.
    pub latency: Option<Percentiles>,
    /// Latency by percentile, `(percentile, ms)`, for charts.
    pub latency_curve: Vec<(f64, f64)>,
    /// Alert versions without a latency sample (their new evidence holds records the run did
    /// not watch, or nothing new).
    pub latency_unsampled_versions: u64,
    /// Each injected scenario.
    pub scenarios: Vec<ScenarioResult>,
    /// Recall per kind of scenario.
    pub recall: Vec<KindRecall>,
    /// Precision per rule, then `all`.
    pub precision: Vec<RulePrecision>,
    /// Alerts tied to no scenario.
    pub unmatched_alerts: Vec<AlertBrief>,
    /// The detector's side.
    pub detector: DetectorSummary,
    /// One point per second of the run.
    pub series: Vec<SecondPoint>,
}

/// The producer's side of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// When the run started (wall clock).
    pub started_at: String,
    /// How it ended.
    pub ended: String,
    /// Target rate, records per second.
    pub target_rate: f64,
    /// Records planned.
    pub planned_records: u64,
    /// Records sent.
    pub records_sent: u64,
    /// Records acknowledged by the brokers.
    pub records_acked: u64,
    /// Records the brokers never took.
    pub records_failed: u64,
    /// Seconds from the first send to the last.
    pub send_secs: f64,
    /// Records per second between the first send and the last.
    pub achieved_rate: f64,
    /// Records sent more than 50 ms behind schedule.
    pub late_sends: u64,
    /// 99th percentile of how far behind schedule records went out, ms.
    pub send_lag_p99_ms: f64,
    /// The most a record went out behind schedule, ms.
    pub send_lag_max_ms: f64,
    /// Wall-clock seconds per world day.
    pub day_length_secs: f64,
    /// World time of the first record.
    pub world_start: String,
    /// World time of the last record, as planned.
    pub world_end: String,
    /// World seconds per wall-clock second.
    pub speedup: f64,
    /// Whether alerts were collected.
    pub subscribed: bool,
    /// Why the subscription failed, if it did.
    pub subscription_error: Option<String>,
    /// Alert versions received.
    pub alert_versions: u64,
    /// Distinct alerts received.
    pub alerts: u64,
    /// Alert messages that could not be read, and were skipped.
    #[serde(default)]
    pub unreadable_alerts: u64,
}

/// One injected scenario and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// Position in the ground truth.
    pub index: usize,
    /// Scenario name.
    pub scenario: String,
    /// Whether it is an attack.
    pub malicious: bool,
    /// The MSP.
    pub msp_id: String,
    /// The credential.
    pub actor_id: String,
    /// Tenants it acted on.
    pub tenants: usize,
    /// Records of it sent (repeats not counted).
    pub records_sent: u64,
    /// Whether every record of it was sent.
    pub complete: bool,
    /// When its first record was scheduled, seconds into the run.
    pub first_send_secs: Option<f64>,
    /// When its last record was scheduled, seconds into the run.
    pub last_send_secs: Option<f64>,
    /// Alerts tied to it.
    pub alerts: Vec<String>,
    /// Their rules, each once.
    pub rules: Vec<String>,
    /// How the first alert was tied to it.
    pub matched_by: Option<MatchedBy>,
    /// When its first alert arrived, seconds into the run.
    pub first_alert_secs: Option<f64>,
    /// First alert's arrival minus the scheduled send of the scenario's first record, s.
    pub time_to_detect_secs: Option<f64>,
    /// World minutes from the scenario's first event to the latest evidence of its first
    /// alert: how much of the attack the detector needed to see.
    pub world_minutes_to_detect: Option<f64>,
}

/// An alert tied to no scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertBrief {
    /// Alert id.
    pub id: String,
    /// Rule.
    pub rule_id: String,
    /// Credential.
    pub actor_id: String,
    /// MSP.
    pub msp_id: Option<String>,
    /// Tenants in the latest version.
    pub tenants: usize,
    /// First evidence (world time).
    pub first_seen: String,
    /// Versions received.
    pub versions: usize,
    /// When its first version arrived, seconds into the run.
    pub received_secs: f64,
    /// The latest version's summary.
    pub summary: String,
}

/// The detector's side of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorSummary {
    /// Samples taken.
    pub samples: u64,
    /// Largest consumer lag, messages.
    pub lag_max: Option<u64>,
    /// Mean consumer lag over the samples.
    pub lag_mean: Option<f64>,
    /// Lag at the last sample.
    pub lag_final: Option<u64>,
    /// Largest backlog: records acknowledged by the brokers but not yet evaluated by the
    /// detector.
    pub backlog_max: Option<u64>,
    /// Backlog at the last sample.
    pub backlog_final: Option<u64>,
    /// Seconds after the last send at which the backlog (or, without it, the lag) was first
    /// back to zero.
    pub caught_up_after_secs: Option<f64>,
    /// Events evaluated per second between the first send and the last.
    pub consumed_rate: Option<f64>,
    /// Mean CPU use over the run, percent of one core.
    pub cpu_mean_percent: Option<f64>,
    /// Highest CPU use over one sampling second, percent of one core.
    pub cpu_peak_percent: Option<f64>,
    /// Mean resident memory, MiB.
    pub rss_mean_mib: Option<f64>,
    /// Highest resident memory, MiB.
    pub rss_peak_mib: Option<f64>,
    /// Whether the detector process was seen gone during the run.
    pub exited: bool,
}

/// One second of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SecondPoint {
    /// Seconds into the run.
    pub second: u64,
    /// Records sent.
    pub sent: u64,
    /// Events the detector evaluated per second around this second.
    pub consumed: Option<f64>,
    /// Consumer lag, as the detector reports it.
    pub lag: Option<u64>,
    /// Records acknowledged by the brokers but not yet evaluated by the detector.
    pub backlog: Option<u64>,
    /// Detector CPU, percent of one core.
    pub cpu_percent: Option<f64>,
    /// Detector resident memory, MiB.
    pub rss_mib: Option<f64>,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A run file is missing or bad.
    #[error(transparent)]
    File(#[from] FileError),
    /// A report file could not be written.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// The report could not be serialized.
    #[error("report json: {0}")]
    Json(#[from] serde_json::Error),
    /// A chart could not be drawn.
    #[error("{chart}: {reason}")]
    Chart {
        /// The chart.
        chart: &'static str,
        /// Why.
        reason: String,
    },
    /// The latency histogram could not be made.
    #[error("latency histogram: {0}")]
    Histogram(String),
}

/// The run files, read back.
struct RunFiles {
    info: RunInfo,
    truth: Vec<GroundTruth>,
    records: Vec<WatchedRecord>,
    alerts: Vec<ReceivedAlert>,
    sends: Vec<SendSecond>,
    samples: Vec<Sample>,
}

impl RunFiles {
    fn read(dir: &Path) -> Result<RunFiles, ReportError> {
        let optional = |name: &str| {
            let path = dir.join(name);
            path.exists().then_some(path)
        };
        let alerts = match optional(ALERTS_FILE) {
            Some(path) => read_lines(&path)?,
            None => Vec::new(),
        };
        let samples = match optional(SAMPLES_FILE) {
            Some(path) => read_lines(&path)?,
            None => Vec::new(),
        };
        Ok(RunFiles {
            info: read_run_info(&dir.join(RUN_FILE))?,
            truth: read_lines(&dir.join(GROUND_TRUTH_FILE))?,
            records: read_lines(&dir.join(RECORDS_FILE))?,
            alerts,
            sends: read_lines(&dir.join(SENDS_FILE))?,
            samples,
        })
    }
}

/// Reads a run directory and computes its report.
pub fn build_report(dir: &Path) -> Result<Report, ReportError> {
    let files = RunFiles::read(dir)?;
    let index = RecordIndex::new(&files.records);
    let windows: Vec<Option<TruthWindow>> =
        files.truth.iter().map(TruthWindow::from_truth).collect();
    let groups = group_alerts(&files.alerts);

    let mut histogram = latency_histogram().map_err(|e| ReportError::Histogram(e.to_string()))?;
    let mut unsampled = 0;
    let mut scenarios = scenario_results(&files);
    let mut judged: Vec<(&str, Verdict)> = Vec::new();
    let mut unmatched_alerts = Vec::new();
    for group in &groups {
        let (samples, without) = latency_samples(group, &index);
        unsampled += without;
        for sample in samples {
            let _ = histogram.record(sample.latency_us.max(1));
        }
        let (Some(first), Some(latest), Some(facts)) =
            (group.first(), group.latest(), group.facts())
        else {
            continue;
        };
        let matched = match_alert(group.evidence(), facts, &index, &windows);
        let verdict =
            match matched.and_then(|(position, by)| Some((scenarios.get_mut(position)?, by))) {
                Some((scenario, by)) => {
                    attach(scenario, group, by, files.truth.get(scenario.index));
                    if scenario.malicious {
                        Verdict::TruePositive
                    } else {
                        Verdict::Benign
                    }
                }
                None => {
                    unmatched_alerts.push(brief(group, first, latest));
                    Verdict::Unmatched
                }
            };
        judged.push((latest.alert.rule_id.as_str(), verdict));
    }

    let instances: Vec<InstanceResult<'_>> = scenarios
        .iter()
        .map(|scenario| InstanceResult {
            scenario: &scenario.scenario,
            malicious: scenario.malicious,
            complete: scenario.complete,
            alerts: scenario.alerts.len() as u64,
        })
        .collect();
    let recall = recall_by_kind(&instances);
    let precision = precision_by_rule(judged);
    let run = run_summary(&files, groups.len() as u64);
    let last_send_secs = files.info.outcome.as_ref().and_then(|o| o.last_send_us).map(secs);
    let (detector, series) = detector_summary(&files, last_send_secs);
    let latency_curve = if histogram.is_empty() {
        Vec::new()
    } else {
        CURVE.iter().map(|&p| (p, histogram.value_at_percentile(p) as f64 / 1_000.0)).collect()
    };
    for scenario in &mut scenarios {
        scenario.rules.sort();
        scenario.rules.dedup();
    }
    Ok(Report {
        run,
        latency: percentiles(&histogram),
        latency_curve,
        latency_unsampled_versions: unsampled,
        scenarios,
        recall,
        precision,
        unmatched_alerts,
        detector,
        series,
    })
}

fn secs(us: u64) -> f64 {
    us as f64 / 1_000_000.0
}

/// The scenarios as planned and sent, before any alert is tied to them.
fn scenario_results(files: &RunFiles) -> Vec<ScenarioResult> {
    files
        .truth
        .iter()
        .enumerate()
        .map(|(index, truth)| {
            let mine =
                || files.records.iter().filter(move |r| r.scenario == Some(index) && !r.duplicate);
            let records_sent = mine().count() as u64;
            ScenarioResult {
                index,
                scenario: truth.scenario.clone(),
                malicious: truth.malicious,
                msp_id: truth.msp_id.clone(),
                actor_id: truth.actor_id.clone(),
                tenants: truth.tenants.len(),
                records_sent,
                complete: records_sent >= truth.events as u64,
                first_send_secs: mine().map(|r| r.scheduled_us).min().map(secs),
                last_send_secs: mine().map(|r| r.scheduled_us).max().map(secs),
                alerts: Vec::new(),
                rules: Vec::new(),
                matched_by: None,
                first_alert_secs: None,
                time_to_detect_secs: None,
                world_minutes_to_detect: None,
            }
        })
        .collect()
}

/// Ties an alert to its scenario; the earliest alert decides the time to detect.
fn attach(
    scenario: &mut ScenarioResult,
    group: &AlertHistory<'_>,
    by: MatchedBy,
    truth: Option<&GroundTruth>,
) {
    let (Some(first), Some(latest)) = (group.first(), group.latest()) else { return };
    scenario.alerts.push(first.alert.id.clone());
    scenario.rules.push(latest.alert.rule_id.clone());
    let received = secs(first.received_us);
    if scenario.first_alert_secs.is_some_and(|earlier| earlier <= received) {
        return;
    }
    scenario.first_alert_secs = Some(received);
    scenario.matched_by = Some(by);
    scenario.time_to_detect_secs = scenario.first_send_secs.map(|sent| received - sent);
    let start = truth.and_then(|truth| analysis::parse_time(&truth.start));
    let completed = analysis::parse_time(&first.alert.last_seen);
    scenario.world_minutes_to_detect = match (start, completed) {
        (Some(start), Some(completed)) => Some((completed - start) as f64 / 60_000.0),
        _ => None,
    };
}

fn brief(group: &AlertHistory<'_>, first: &ReceivedAlert, latest: &ReceivedAlert) -> AlertBrief {
    AlertBrief {
        id: latest.alert.id.clone(),
        rule_id: latest.alert.rule_id.clone(),
        actor_id: latest.alert.actor.id.clone(),
        msp_id: latest.alert.msp_id.clone(),
        tenants: latest.alert.tenants.len(),
        first_seen: latest.alert.first_seen.clone(),
        versions: group.versions.len(),
        received_secs: secs(first.received_us),
        summary: latest.alert.summary.clone(),
    }
}

fn run_summary(files: &RunFiles, alerts: u64) -> RunSummary {
    let info = &files.info;
    let outcome = info.outcome.as_ref();
    let sent_in_files: u64 = files.sends.iter().map(|second| second.sent).sum();
    let records_sent = outcome.map_or(sent_in_files, |o| o.records_sent);
    let last_second = files.sends.last();
    let send_secs = match outcome.and_then(|o| Some((o.first_send_us?, o.last_send_us?))) {
        Some((first, last)) => secs(last.saturating_sub(first)),
        None => files.sends.iter().filter(|s| s.sent > 0).count() as f64,
    };
    let achieved_rate =
        if send_secs > 0.0 { records_sent.saturating_sub(1) as f64 / send_secs } else { 0.0 };
    let world_span =
        match (analysis::parse_time(&info.world_start), analysis::parse_time(&info.world_end)) {
            (Some(start), Some(end)) => (end - start) as f64 / 1_000.0,
            _ => 0.0,
        };
    let planned_secs = info.planned_records as f64 / info.rate.max(f64::MIN_POSITIVE);
    RunSummary {
        started_at: info.started_at.clone(),
        ended: outcome
            .map_or_else(|| "unknown: run.json has no outcome".into(), |o| o.ended.clone()),
        target_rate: info.rate,
        planned_records: info.planned_records,
        records_sent,
        records_acked: outcome
            .map_or(last_second.map_or(0, |s| s.acked_total), |o| o.records_acked),
        records_failed: outcome
            .map_or(last_second.map_or(0, |s| s.failed_total), |o| o.records_failed),
        send_secs,
        achieved_rate,
        late_sends: outcome
            .map_or_else(|| files.sends.iter().map(|s| s.late).sum(), |o| o.late_sends),
        send_lag_p99_ms: outcome.map_or(0.0, |o| o.send_lag_p99_us as f64 / 1_000.0),
        send_lag_max_ms: outcome.map_or_else(
            || files.sends.iter().map(|s| s.max_lag_us).max().unwrap_or(0) as f64 / 1_000.0,
            |o| o.send_lag_max_us as f64 / 1_000.0,
        ),
        day_length_secs: info.day_length_secs,
        world_start: info.world_start.clone(),
        world_end: info.world_end.clone(),
        speedup: if planned_secs > 0.0 { world_span / planned_secs } else { 0.0 },
        subscribed: info.grpc.is_some(),
        subscription_error: outcome.and_then(|o| o.subscription_error.clone()),
        alert_versions: files.alerts.len() as u64,
        alerts,
        unreadable_alerts: outcome.map_or(0, |o| o.unreadable_alerts),
    }
}

/// The detector's figures and the per-second series.
fn detector_summary(
    files: &RunFiles,
    last_send_secs: Option<f64>,
) -> (DetectorSummary, Vec<SecondPoint>) {
    let samples = &files.samples;
    let lags: Vec<u64> = samples.iter().filter_map(|s| s.lag).collect();
    let rss: Vec<u64> = samples.iter().filter_map(|s| s.rss_bytes).collect();
    let mib = |bytes: f64| bytes / (1024.0 * 1024.0);
    let rate = |a: &Sample, b: &Sample, value: fn(&Sample) -> Option<f64>| {
        let span = secs(b.t_us.saturating_sub(a.t_us));
        match (value(a), value(b)) {
            (Some(x), Some(y)) if span > 0.0 && y >= x => Some((y - x) / span),
            _ => None,
        }
    };
    let cpu = |s: &Sample| s.cpu_seconds;
    let events = |s: &Sample| s.events_total.map(|e| e as f64);
    let cpu_rates: Vec<f64> =
        samples.windows(2).filter_map(|pair| rate(&pair[0], &pair[1], cpu)).collect();
    let first_send = files.info.outcome.as_ref().and_then(|o| o.first_send_us).map(secs);
    let sending: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            let t = secs(s.t_us);
            first_send.is_some_and(|first| t >= first)
                && last_send_secs.is_some_and(|last| t <= last)
        })
        .collect();
    let consumed_rate = match (sending.first(), sending.last()) {
        (Some(a), Some(b)) => rate(a, b, events),
        _ => None,
    };
    let cpu_mean = match (
        samples.iter().find(|s| s.cpu_seconds.is_some()),
        samples.iter().rev().find(|s| s.cpu_seconds.is_some()),
    ) {
        (Some(a), Some(b)) => rate(a, b, cpu).map(|r| r * 100.0),
        _ => None,
    };
    let backlog = backlogs(samples);
    let has_backlog = backlog.iter().any(Option::is_some);
    let caught_up_after_secs = last_send_secs.and_then(|last| {
        samples
            .iter()
            .zip(&backlog)
            .find(|(s, backlog)| {
                let caught_up = if has_backlog { **backlog == Some(0) } else { s.lag == Some(0) };
                secs(s.t_us) >= last && caught_up
            })
            .map(|(s, _)| secs(s.t_us) - last)
    });
    let detector = DetectorSummary {
        samples: samples.len() as u64,
        lag_max: lags.iter().copied().max(),
        lag_mean: (!lags.is_empty()).then(|| lags.iter().sum::<u64>() as f64 / lags.len() as f64),
        lag_final: samples.iter().rev().find_map(|s| s.lag),
        backlog_max: backlog.iter().flatten().copied().max(),
        backlog_final: backlog.iter().rev().find_map(|b| *b),
        caught_up_after_secs,
        consumed_rate,
        cpu_mean_percent: cpu_mean,
        cpu_peak_percent: cpu_rates.iter().copied().reduce(f64::max).map(|r| r * 100.0),
        rss_mean_mib: (!rss.is_empty())
            .then(|| mib(rss.iter().sum::<u64>() as f64 / rss.len() as f64)),
        rss_peak_mib: rss.iter().copied().max().map(|b| mib(b as f64)),
        exited: samples.iter().any(|s| s.detector_running == Some(false)),
    };

    let mut seconds: BTreeSet<u64> = files.sends.iter().map(|s| s.second).collect();
    seconds.extend(samples.iter().map(|s| s.t_us / 1_000_000));
    let series = seconds
        .into_iter()
        .map(|second| {
            let sent = files.sends.iter().find(|s| s.second == second).map_or(0, |s| s.sent);
            let position = samples.iter().position(|s| s.t_us / 1_000_000 == second);
            let here = position.and_then(|p| samples.get(p));
            let before = position.and_then(|p| p.checked_sub(1)).and_then(|p| samples.get(p));
            let pair = before.zip(here);
            SecondPoint {
                second,
                sent,
                consumed: pair.and_then(|(a, b)| rate(a, b, events)),
                lag: here.and_then(|s| s.lag),
                backlog: position.and_then(|p| backlog.get(p).copied().flatten()),
                cpu_percent: pair.and_then(|(a, b)| rate(a, b, cpu)).map(|r| r * 100.0),
                rss_mib: here.and_then(|s| s.rss_bytes).map(|b| mib(b as f64)),
            }
        })
        .collect();
    (detector, series)
}

/// Writes `report.json`, `report.txt` and the charts into `dir`.
pub fn write_report(dir: &Path, report: &Report) -> Result<(), ReportError> {
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|source| ReportError::Write { path, source })
    };
    let mut json = serde_json::to_vec_pretty(report)?;
    json.push(b'\n');
    write(REPORT_FILE, &json)?;
    write(TEXT_FILE, render_text(report).as_bytes())?;
    write(LATENCY_CHART, charts::latency_chart(report)?.as_bytes())?;
    write(TIMELINE_CHART, charts::timeline_chart(report)?.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::files::{write_line, write_run_info, RunOutcome};
    use crate::report::analysis::test_alert;

    fn write_lines<T: Serialize>(dir: &Path, name: &str, values: &[T]) {
        let mut text = Vec::new();
        for value in values {
            write_line(&mut text, value).unwrap();
        }
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn truth(scenario: &str, malicious: bool, actor: &str, span: (&str, &str)) -> GroundTruth {
        GroundTruth {
            scenario: scenario.to_string(),
            malicious,
            msp_id: "msp-a".to_string(),
            actor_id: actor.to_string(),
            tenants: vec!["tn-a".to_string()],
            start: span.0.to_string(),
            end: span.1.to_string(),
            events: 2,
        }
    }

    fn record(id: &str, scenario: Option<usize>, scheduled_us: u64) -> WatchedRecord {
        WatchedRecord {
            event_id: id.to_string(),
            scenario,
            action: "backup.delete".to_string(),
            event_time_ms: 0,
            scheduled_us,
            sent_us: scheduled_us + 100,
            duplicate: false,
        }
    }

    fn sample(t_us: u64, acked: u64, events: u64, cpu: f64) -> Sample {
        Sample {
            t_us,
            acked_total: Some(acked),
            lag: Some(0),
            events_total: Some(events),
            alerts_total: None,
            cpu_seconds: Some(cpu),
            rss_bytes: Some(64 << 20),
            detector_running: Some(true),
        }
    }

    /// A run of 201 records from 1 s to 3 s: an attack and a look-alike, each caught once,
    /// and one alert on normal traffic.
    fn write_run(dir: &Path) {
        let outcome = RunOutcome {
            ended: "completed".into(),
            records_sent: 201,
            records_acked: 201,
            records_failed: 0,
            late_sends: 0,
            send_lag_p99_us: 900,
            send_lag_max_us: 2_000,
            first_send_us: Some(1_000_000),
            last_send_us: Some(3_000_000),
            last_scheduled_us: Some(3_000_000),
            finished_us: 4_000_000,
            alert_versions: 3,
            subscription_error: None,
            resubscribes: 0,
            unreadable_alerts: 0,
        };
        let info = RunInfo {
            version: "0".into(),
            started_at: "2026-12-01T00:00:00.000Z".into(),
            brokers: "b".into(),
            topic: "t".into(),
            grpc: Some("http://g".into()),
            metrics: None,
            detector_pid: None,
            seed: 1,
            msps: 1,
            rate: 100.0,
            planned_records: 201,
            day_length_secs: 20.0,
            events_per_day: 2_000,
            world_start: "2026-11-03T00:00:00Z".into(),
            world_end: "2026-11-03T12:00:00Z".into(),
            grace_secs: 1.0,
            scenarios: vec![],
            outcome: Some(outcome),
        };
        write_run_info(&dir.join(RUN_FILE), &info).unwrap();
        let truths = [
            truth("fast-delete", true, "mallory", ("2026-11-03T10:00:00Z", "2026-11-03T10:05:00Z")),
            truth(
                "retention-cleanup",
                false,
                "svc-retention-cleanup",
                ("2026-11-03T11:00:00Z", "2026-11-03T11:30:00Z"),
            ),
        ];
        write_lines(dir, GROUND_TRUTH_FILE, &truths);
        let records = [
            record("e1", Some(0), 1_000_000),
            record("e2", Some(0), 1_500_000),
            record("r1", Some(1), 2_000_000),
            record("r2", Some(1), 2_050_000),
            record("n1", None, 2_500_000),
        ];
        write_lines(dir, RECORDS_FILE, &records);
        let seen = ("2026-11-03T10:00:00Z", "2026-11-03T10:03:00Z");
        let alerts = [
            ReceivedAlert {
                received_us: 2_100_000,
                alert: test_alert("a", 1, "mallory", &["e1", "e2"], seen),
            },
            ReceivedAlert {
                received_us: 2_450_000,
                alert: test_alert("b", 1, "svc-retention-cleanup", &["r1"], seen),
            },
            ReceivedAlert {
                received_us: 2_900_000,
                alert: test_alert("c", 1, "alice", &["n1"], seen),
            },
        ];
        write_lines(dir, ALERTS_FILE, &alerts);
        let sends: Vec<SendSecond> = (1..=3)
            .map(|second| SendSecond {
                second,
                scheduled: 67,
                sent: 67,
                late: 0,
                max_lag_us: 2_000,
                acked_total: 67 * second,
                failed_total: 0,
                world_time_ms: None,
            })
            .collect();
        write_lines(dir, SENDS_FILE, &sends);
        let samples = [
            sample(500_000, 0, 1_000, 10.0),
            sample(1_500_000, 50, 1_040, 10.5),
            sample(2_500_000, 150, 1_130, 11.5),
            sample(3_500_000, 201, 1_201, 11.75),
        ];
        write_lines(dir, SAMPLES_FILE, &samples);
    }

    #[test]
    fn a_run_directory_reads_back_as_recall_precision_latency_and_detector_figures() {
        let dir = tempfile::tempdir().unwrap();
        write_run(dir.path());
        let report = build_report(dir.path()).unwrap();

        assert!((report.run.achieved_rate - 100.0).abs() < 1e-9);
        assert_eq!(report.run.alerts, 3);
        let attack = &report.scenarios[0];
        assert_eq!(attack.alerts, ["a"]);
        assert!(attack.complete);
        assert!((attack.time_to_detect_secs.unwrap() - 1.1).abs() < 1e-9);
        assert!((attack.world_minutes_to_detect.unwrap() - 3.0).abs() < 1e-9);
        assert_eq!(report.recall[0].recall, Some(1.0));
        assert_eq!((report.recall[1].alerts, report.recall[1].recall), (1, None));

        let all = report.precision.last().unwrap();
        assert_eq!((all.true_positive, all.false_positive_benign), (1, 1));
        assert_eq!(all.false_positive_unmatched, 1);
        assert_eq!(report.unmatched_alerts.len(), 1);
        assert_eq!(report.unmatched_alerts[0].actor_id, "alice");

        // a: 2.1 s - 1.5 s; b: 2.45 s - 2.0 s; c: 2.9 s - 2.5 s.
        let latency = report.latency.unwrap();
        assert_eq!(latency.samples, 3);
        assert!((latency.max_ms - 600.0).abs() < 1.0, "{latency:?}");
        assert!((latency.min_ms - 400.0).abs() < 1.0, "{latency:?}");

        let detector = &report.detector;
        assert_eq!(detector.backlog_max, Some(20));
        assert_eq!(detector.backlog_final, Some(0));
        assert!((detector.caught_up_after_secs.unwrap() - 0.5).abs() < 1e-9);
        assert!((detector.cpu_mean_percent.unwrap() - 58.333).abs() < 0.01);
        assert!((detector.cpu_peak_percent.unwrap() - 100.0).abs() < 1e-9);
        assert!((detector.consumed_rate.unwrap() - 90.0).abs() < 1e-9);
        assert!(!detector.exited);
    }

    #[test]
    fn the_report_files_are_written_and_the_table_names_every_scenario() {
        let dir = tempfile::tempdir().unwrap();
        write_run(dir.path());
        let report = build_report(dir.path()).unwrap();
        write_report(dir.path(), &report).unwrap();
        let json: Report =
            serde_json::from_slice(&std::fs::read(dir.path().join(REPORT_FILE)).unwrap()).unwrap();
        assert_eq!(json, report);
        let text = std::fs::read_to_string(dir.path().join(TEXT_FILE)).unwrap();
        assert!(text.contains("fast-delete") && text.contains("retention-cleanup"), "{text}");
        for chart in [LATENCY_CHART, TIMELINE_CHART] {
            let svg = std::fs::read_to_string(dir.path().join(chart)).unwrap();
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{chart}");
        }
    }
}
