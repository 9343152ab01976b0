//! Everything the commands write to the terminal: alerts and results on standard output,
//! errors and the replay summary on standard error.

use std::collections::BTreeMap;
use std::fmt::{self, Display};
use std::io::{self, BufWriter, Write};
use std::time::Duration;

use mspwatch_alert::format::{write_alert, AlertFormat};
use mspwatch_alert::Alert;
use mspwatch_engine::EngineStats;

/// Writes the alerts to standard output, in order.
pub fn write_alerts(alerts: &[Alert], format: AlertFormat) -> io::Result<()> {
    let mut out = BufWriter::new(io::stdout().lock());
    for alert in alerts {
        write_alert(&mut out, alert, format)?;
    }
    out.flush()
}

/// Writes one line to standard output.
pub fn line(text: impl Display) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

/// Writes an error message to standard error, as `error: message`.
pub fn error(message: impl Display) {
    // Nothing useful is left to do when standard error itself cannot be written.
    let _ = writeln!(io::stderr().lock(), "error: {message}");
}

/// Writes a warning to standard error: something the user should know, that did not stop the
/// command.
pub fn warning(message: impl Display) {
    let _ = writeln!(io::stderr().lock(), "warning: {message}");
}

/// Writes each rule problem (`FILE:LINE:COL: reason`) on its own line of standard error.
pub fn rule_problems(problems: &[impl Display]) {
    let mut err = io::stderr().lock();
    for problem in problems {
        let _ = writeln!(err, "{problem}");
    }
}

/// What a replay did, for the closing summary.
#[derive(Debug, Default)]
pub struct Summary {
    /// Sources read (files and standard input).
    pub sources: usize,
    /// Sources that could not be read, or not to their end.
    pub unreadable: usize,
    /// Bytes read from the sources (compressed bytes for gzip).
    pub bytes_read: u64,
    /// Records found: lines, document records and refused records.
    pub records: u64,
    /// Rejected records by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Records understood but carrying no event, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Events outside `--from`/`--to`.
    pub filtered: u64,
    /// What the engine counted.
    pub engine: EngineStats,
    /// Distinct alerts (final versions) by rule.
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// The allowed lateness the run used, in milliseconds.
    pub lateness_ms: i64,
    /// The topic of a replay from Kafka (`sources` then counts its partitions); `None` for
    /// files.
    pub kafka_topic: Option<String>,
    /// Messages read from Kafka.
    pub messages: u64,
}

/// Writes the replay summary to standard error.
pub fn summary(summary: &Summary) {
    let _ = io::stderr().lock().write_all(render_summary(summary).as_bytes());
}

fn render_summary(summary: &Summary) -> String {
    let mut text = String::new();
    let seconds = summary.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 { summary.records as f64 / seconds } else { 0.0 };
    let unreadable = match summary.unreadable {
        0 => String::new(),
        count => format!(" ({count} unreadable)"),
    };
    let _ = match &summary.kafka_topic {
        Some(topic) => fmt::Write::write_fmt(
            &mut text,
            format_args!(
                "replay: topic {topic}, {} partitions, {} messages read in {seconds:.2} s, {} \
                 records/s\n",
                summary.sources,
                grouped(summary.messages),
                grouped(rate.round() as u64),
            ),
        ),
        None => fmt::Write::write_fmt(
            &mut text,
            format_args!(
                "replay: {} sources{unreadable}, {} read in {seconds:.2} s, {} records/s\n",
                summary.sources,
                bytes(summary.bytes_read),
                grouped(rate.round() as u64),
            ),
        ),
    };
    let total = |map: &BTreeMap<String, u64>| map.values().sum::<u64>();
    let stats = &summary.engine;

    let mut rows = Rows::default();
    rows.row(0, "records read", summary.records);
    rows.row(0, "rejected", total(&summary.rejected));
    for (reason, count) in &summary.rejected {
        rows.row(1, reason, *count);
    }
    rows.row(0, "skipped", total(&summary.skipped));
    for (reason, count) in &summary.skipped {
        rows.row(1, reason, *count);
    }
    rows.row(0, "filtered by time", summary.filtered);
    rows.row(0, "events accepted", stats.events_in);
    rows.row(1, "duplicates", stats.duplicates);
    rows.row(1, "too late", stats.too_late);
    rows.row(1, "unattributed", stats.unattributed);
    rows.row(1, "evaluated", stats.events_evaluated);
    if stats.evicted > 0 {
        rows.row(1, "keys evicted", stats.evicted);
    }
    rows.row(0, "alerts", total(&summary.alerts_by_rule));
    for (rule_id, count) in &summary.alerts_by_rule {
        rows.row(1, rule_id, *count);
    }
    text.push_str(&rows.render());
    if stats.too_late > 0 {
        let _ = fmt::Write::write_fmt(
            &mut text,
            format_args!(
                "hint: {} events came more than {} behind the newest event time and were not \
                 evaluated; raise --max-reorder for files, or --lateness for standard input\n",
                grouped(stats.too_late),
                duration(summary.lateness_ms)
            ),
        );
    }
    text
}

/// A duration in the largest unit that divides it: `5m`, `90s`, `250ms`.
fn duration(ms: i64) -> String {
    const UNITS: [(i64, &str); 4] =
        [(24 * 60 * 60 * 1000, "d"), (60 * 60 * 1000, "h"), (60 * 1000, "m"), (1000, "s")];
    UNITS
        .iter()
        .find(|(unit_ms, _)| ms != 0 && ms % unit_ms == 0)
        .map_or_else(|| format!("{ms}ms"), |(unit_ms, unit)| format!("{}{unit}", ms / unit_ms))
}

/// Label and count rows, the counts aligned in one column.
#[derive(Default)]
struct Rows {
    rows: Vec<(usize, String, String)>,
}

impl Rows {
    fn row(&mut self, depth: usize, label: &str, count: u64) {
        self.rows.push((depth, label.to_owned(), grouped(count)));
    }

    fn render(&self) -> String {
        let label_width =
            self.rows.iter().map(|(depth, label, _)| depth * 2 + label.len()).max().unwrap_or(0);
        let count_width = self.rows.iter().map(|(_, _, count)| count.len()).max().unwrap_or(0);
        let mut text = String::new();
        for (depth, label, count) in &self.rows {
            let indent = "  ".repeat(depth + 1);
            let pad = label_width - depth * 2;
            let _ = fmt::Write::write_fmt(
                &mut text,
                format_args!("{indent}{label:<pad$}  {count:>count_width$}\n"),
            );
        }
        text
    }
}

/// A count with thousands separators: `12,345`.
fn grouped(count: u64) -> String {
    let digits = count.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// A byte count in binary units: `12.4 MiB`.
fn bytes(count: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = count as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{count} B"),
        _ => format!("{value:.1} {}", UNITS.get(unit).copied().unwrap_or("B")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn byte_counts_use_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn summary_lists_reasons_and_rules_under_their_totals() {
        let mut summary = Summary {
            sources: 2,
            records: 1500,
            filtered: 7,
            elapsed: Duration::from_secs(1),
            ..Summary::default()
        };
        summary.rejected.insert("invalid_json".to_owned(), 3);
        summary.rejected.insert("record_too_large".to_owned(), 1);
        summary.alerts_by_rule.insert("cross-tenant-backup-deletion".to_owned(), 2);
        summary.engine.events_in = 1489;
        let text = render_summary(&summary);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("replay: 2 sources, 0 B read in 1.00 s, 1,500 records/s"));
        let rejected = lines.iter().position(|line| line.trim_start().starts_with("rejected"));
        let rejected = rejected.unwrap();
        assert!(lines[rejected].trim_end().ends_with(" 4"));
        assert!(lines[rejected + 1].trim_start().starts_with("invalid_json"));
        assert!(lines[rejected + 1].trim_end().ends_with(" 3"));
        assert!(text.contains("events accepted"));
        assert!(lines
            .iter()
            .any(|line| line.contains("cross-tenant-backup-deletion")
                && line.trim_end().ends_with(" 2")));
        assert!(!text.contains("keys evicted"));
        assert!(!text.contains("hint"));
    }

    #[test]
    fn late_events_bring_a_hint_about_lateness() {
        let mut summary = Summary { lateness_ms: 300_000, ..Summary::default() };
        summary.engine.too_late = 1234;
        let text = render_summary(&summary);
        assert!(text.contains("hint: 1,234 events came more than 5m behind"), "{text}");
    }

    #[test]
    fn durations_use_the_largest_whole_unit() {
        assert_eq!(duration(300_000), "5m");
        assert_eq!(duration(90_000), "90s");
        assert_eq!(duration(250), "250ms");
        assert_eq!(duration(0), "0ms");
        assert_eq!(duration(2 * 24 * 60 * 60 * 1000), "2d");
    }
}
