//! `mspwatch replay`: audit-log files, or a time range of a Kafka topic, through a fresh
//! detector, the final alerts out.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use indicatif::{ProgressBar, ProgressStyle};
use mspwatch_alert::format::AlertFormat;
use mspwatch_alert::Alert;
use mspwatch_engine::{Engine, EngineConfig, EngineStats};
use mspwatch_event::decode::{
    decode_record, for_each_line_record, for_each_record, Decoded, SplitItem,
};
use mspwatch_event::{Directory, Event};
use mspwatch_ingest::{replay_range, ReplayItem, ReplayRequest};
use mspwatch_rules::RuleSet;
use serde::Serialize;

use crate::cli::ReplayArgs;
use crate::failure::Failure;
use crate::input::{self, Limits, ReadFailure, RecordSink, Refusal, Source};
use crate::output::{self, Summary};

/// Runs `mspwatch replay`.
pub fn run(args: &ReplayArgs) -> Result<ExitCode, Failure> {
    if !args.brokers.is_empty() {
        return run_kafka(args);
    }
    let started = Instant::now();
    let range = TimeRange::new(args.from, args.to)?;
    let limits = Limits {
        max_record_bytes: args.max_record_bytes,
        max_document_bytes: args.max_document_bytes,
        max_gzip_ratio: args.max_gzip_ratio,
        max_decompressed_bytes: args.max_decompressed_bytes.map(|bytes| bytes as u64),
    };
    if args.paths.iter().filter(|path| path.as_os_str() == "-").count() > 1 {
        return Err(Failure::config("standard input (`-`) may be named only once"));
    }
    let (sources, mut unreadable) = input::collect_sources(&args.paths);
    for error in &unreadable {
        output::error(error);
    }
    let plan = crate::plan::plan(sources, limits, args.lateness, args.max_reorder);
    if plan.needed_ms > plan.hold_ms {
        output::warning(format!(
            "the input's events are out of time order by up to {} s (files that \
             overlap, or events out of order within a file), more than --max-reorder allows; \
             events further out of order count as too late",
            plan.needed_ms / 1000
        ));
    }
    let sources = plan.sources;
    let engine = build_engine(args, plan.hold_ms)?;
    let rejects = args.rejects.as_deref().map(RejectsFile::create).transpose()?;
    let progress = progress_bar(&sources);
    let mut replay = Replay::new(engine, range, rejects);
    for source in &sources {
        progress.set_message(source.to_string());
        tracing::debug!(source = %source, "reading");
        match input::read_source(source, limits, &progress, &mut replay) {
            Ok(()) => {}
            Err(ReadFailure::Input(error)) => {
                progress.suspend(|| output::error(&error));
                unreadable.push(error);
            }
            Err(ReadFailure::Sink(error)) => {
                progress.finish_and_clear();
                return Err(Failure::Io(anyhow!(error).context("cannot write the rejects file")));
            }
        }
    }
    progress.finish_and_clear();

    let (engine, alerts, mut summary) = replay.finish()?;
    write_alerts(&alerts, args.format.into())?;
    if let (Some(path), Some(engine)) = (&args.baseline_out, &engine) {
        save_baselines(engine, path)?;
    }
    summary.sources = sources.len();
    summary.unreadable = unreadable.len();
    summary.bytes_read = progress.position();
    summary.elapsed = started.elapsed();
    summary.lateness_ms = plan.hold_ms;
    if !args.quiet {
        output::summary(&summary);
    }
    log_finish(&summary);
    if !unreadable.is_empty() {
        output::error(format!("{} input(s) could not be read", unreadable.len()));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `mspwatch replay --brokers`: reads the time range of the topic with its own consumer
/// (assigned partitions, no group, no commits, so the live detector's offsets stay where they
/// are) into one engine per partition, as the live service keeps them.
fn run_kafka(args: &ReplayArgs) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    let range = TimeRange::new(args.from, args.to)?;
    let recipe = EngineRecipe::new(args, args.lateness)?;
    // Loads any baseline snapshot once now, so a bad one stops the replay before it reads.
    recipe.make()?;
    let rejects = args.rejects.as_deref().map(RejectsFile::create).transpose()?;
    let mut request = ReplayRequest::new(&args.brokers, &args.topic);
    request.from_ms = args.from;
    request.to_ms = args.to;
    request.lateness_ms = args.lateness;
    request.idle_timeout = Duration::from_millis(u64::try_from(args.idle_timeout).unwrap_or(0));
    request.time_lookup = !args.no_time_lookup;

    let mut replay = Replay::per_partition(recipe, range, rejects);
    let mut sink_error = None;
    let read = replay_range(&request, |item| {
        if sink_error.is_none() {
            sink_error = replay.kafka_item(&args.topic, item).err();
        }
    });
    let read = read.map_err(|error| {
        Failure::Io(anyhow!(error).context(format!("cannot replay topic {}", args.topic)))
    })?;
    if let Some(error) = sink_error {
        return Err(Failure::Io(anyhow!(error).context("cannot write the rejects file")));
    }
    for partition in &read.partitions {
        tracing::debug!(
            partition = partition.partition,
            start_offset = partition.start_offset,
            end_offset = partition.end_offset,
            start = ?partition.start,
            "partition replayed"
        );
    }

    let (_, alerts, mut summary) = replay.finish()?;
    write_alerts(&alerts, args.format.into())?;
    summary.kafka_topic = Some(args.topic.clone());
    summary.sources = read.partitions.len();
    summary.messages = read.messages;
    summary.filtered += read.out_of_range;
    summary.records += read.out_of_range + read.skipped;
    if read.skipped > 0 {
        summary.skipped.insert("no_event".to_owned(), read.skipped);
    }
    summary.elapsed = started.elapsed();
    summary.lateness_ms = args.lateness;
    if !args.quiet {
        output::summary(&summary);
    }
    log_finish(&summary);
    Ok(ExitCode::SUCCESS)
}

/// Logs the end of a replay with the most memory the process held (at info, so that hostile
/// input checks and capacity planning can read it with `MSPWATCH_LOG=info`).
fn log_finish(summary: &Summary) {
    let engine = &summary.engine;
    tracing::info!(
        peak_resident_kib = peak_resident_kib(),
        records = summary.records,
        evicted = engine.evicted,
        state_bytes = engine.state_bytes,
        released_early = engine.released_early,
        "replay finished"
    );
}

/// The most resident memory this process has held, in KiB (`VmHWM`; 0 where unknown).
fn peak_resident_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The event-time window of `--from` (inclusive) and `--to` (exclusive).
#[derive(Debug, Clone, Copy)]
struct TimeRange {
    from_ms: i64,
    to_ms: i64,
}

impl TimeRange {
    fn new(from_ms: Option<i64>, to_ms: Option<i64>) -> Result<TimeRange, Failure> {
        let range =
            TimeRange { from_ms: from_ms.unwrap_or(i64::MIN), to_ms: to_ms.unwrap_or(i64::MAX) };
        if range.from_ms >= range.to_ms {
            return Err(Failure::config("--from must be earlier than --to"));
        }
        Ok(range)
    }

    fn contains(self, time_ms: i64) -> bool {
        self.from_ms <= time_ms && time_ms < self.to_ms
    }
}

/// The engine, with the rules, the directory and any saved baselines loaded; it holds events
/// for `hold_ms` so that the planned input is evaluated in event-time order.
fn build_engine(args: &ReplayArgs, hold_ms: i64) -> Result<Engine, Failure> {
    EngineRecipe::new(args, hold_ms)?.make()
}

/// Everything a replay engine is made of: settings, rules, directory and saved baselines.
struct EngineRecipe {
    config: EngineConfig,
    rules: RuleSet,
    directory: Directory,
    baselines: Option<(PathBuf, Vec<u8>)>,
}

impl EngineRecipe {
    /// Loads the rules, the directory and the baseline snapshot named by `args`.
    fn new(args: &ReplayArgs, hold_ms: i64) -> Result<EngineRecipe, Failure> {
        let rules = crate::rules_cmd::load_rules(&args.rules)?;
        let directory = match &args.directory {
            Some(path) => load_directory(path)?,
            None => Directory::default(),
        };
        let defaults = EngineConfig::default();
        let config = EngineConfig {
            allowed_lateness_ms: hold_ms,
            reorder_hold_ms: Some(hold_ms),
            max_tracked_keys: args.max_tracked.unwrap_or(defaults.max_tracked_keys),
            // One limit for every engine of the replay: a Kafka replay's partitions share it.
            memory_limit: args.memory_limit.map(mspwatch_engine::MemoryLimit::new),
            ..defaults
        };
        let baselines = match &args.baseline_in {
            Some(path) => {
                let bytes = fs::read(path)
                    .with_context(|| format!("cannot read baseline snapshot {}", path.display()))
                    .map_err(Failure::Config)?;
                Some((path.clone(), bytes))
            }
            None => None,
        };
        tracing::info!(rules = rules.rules.len(), msps = directory.msps().len(), "starting replay");
        Ok(EngineRecipe { config, rules, directory, baselines })
    }

    /// A fresh engine.
    fn make(&self) -> Result<Engine, Failure> {
        let mut engine =
            Engine::new(self.config.clone(), self.rules.clone(), self.directory.clone());
        if let Some((path, bytes)) = &self.baselines {
            engine
                .load_baselines(bytes)
                .with_context(|| format!("cannot load baseline snapshot {}", path.display()))
                .map_err(Failure::Config)?;
        }
        Ok(engine)
    }
}

/// Reads the MSP directory file.
pub fn load_directory(path: &Path) -> Result<Directory, Failure> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read MSP directory {}", path.display()))
        .map_err(Failure::Config)?;
    Directory::from_yaml(&text)
        .map_err(|error| Failure::config(format!("MSP directory {}: {error}", path.display())))
}

fn progress_bar(sources: &[Source]) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total: Option<u64> = sources.iter().map(input::source_size).sum();
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::new(total),
            "{spinner} {binary_bytes}/{binary_total_bytes} [{wide_bar}] {binary_bytes_per_sec} \
             eta {eta} {msg}",
        ),
        None => {
            (ProgressBar::new_spinner(), "{spinner} {binary_bytes} {binary_bytes_per_sec} {msg}")
        }
    };
    match ProgressStyle::with_template(template) {
        Ok(style) => bar.with_style(style),
        Err(_) => bar,
    }
}

fn write_alerts(alerts: &[Alert], format: AlertFormat) -> Result<(), Failure> {
    match output::write_alerts(alerts, format) {
        Ok(()) => Ok(()),
        // A reader that stopped early (`| head`) is not an error.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(Failure::Io(anyhow!(error).context("cannot write the alerts"))),
    }
}

/// Writes the baseline snapshot through a temporary file in the same directory, renamed into
/// place, so that a crash never leaves a half-written snapshot under the final name.
fn save_baselines(engine: &Engine, path: &Path) -> Result<(), Failure> {
    let snapshot = engine.save_baselines();
    write_atomically(path, &snapshot)
        .with_context(|| format!("cannot write baseline snapshot {}", path.display()))
        .map_err(Failure::Io)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file")
    })?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".tmp-{}", std::process::id()));
    let temporary = path.with_file_name(temporary_name);
    let written = (|| {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// The rejects file: one JSON line per rejected record.
struct RejectsFile {
    out: BufWriter<File>,
    path: PathBuf,
}

/// One line of the rejects file.
#[derive(Serialize)]
struct RejectLine<'a> {
    source: &'a str,
    line: u64,
    reason: &'a str,
    detail: &'a str,
    record: &'a str,
}

impl RejectsFile {
    fn create(path: &Path) -> Result<RejectsFile, Failure> {
        let file = File::create(path)
            .with_context(|| format!("cannot create rejects file {}", path.display()))
            .map_err(Failure::Config)?;
        Ok(RejectsFile { out: BufWriter::new(file), path: path.to_path_buf() })
    }

    fn write(&mut self, line: &RejectLine<'_>) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, line)?;
        self.out.write_all(b"\n")
    }

    fn finish(mut self) -> Result<(), Failure> {
        self.out
            .flush()
            .with_context(|| format!("cannot write rejects file {}", self.path.display()))
            .map_err(Failure::Io)
    }
}

/// Sorts alerts by first seen (as a time, then as written), then id.
pub fn sort_alerts(alerts: &mut [Alert]) {
    alerts.sort_by_cached_key(|alert| {
        let first_seen_ms = chrono::DateTime::parse_from_rfc3339(&alert.first_seen)
            .map_or(i64::MAX, |time| time.timestamp_millis());
        (first_seen_ms, alert.first_seen.clone(), alert.id.clone())
    });
}

/// The engines of a replay.
enum Engines {
    /// Files: one engine sees every event.
    One(Box<Engine>),
    /// Kafka: one engine per partition, made when the partition's first event comes, as the
    /// live service keeps them; partitions read at different paces never make each other's
    /// events late.
    PerPartition {
        /// How to make each engine.
        recipe: Box<EngineRecipe>,
        /// The engines so far.
        by_partition: BTreeMap<i32, Engine>,
    },
}

/// The state of one replay: the engines, the counts and the latest version of every alert.
struct Replay {
    engines: Engines,
    range: TimeRange,
    rejects: Option<RejectsFile>,
    summary: Summary,
    latest: HashMap<String, Alert>,
    raised: Vec<Alert>,
    /// A failure making a partition's engine, reported by `finish`.
    failure: Option<Failure>,
}

impl Replay {
    fn new(engine: Engine, range: TimeRange, rejects: Option<RejectsFile>) -> Replay {
        Replay::with_engines(Engines::One(Box::new(engine)), range, rejects)
    }

    /// A replay that keeps one engine per Kafka partition.
    fn per_partition(
        recipe: EngineRecipe,
        range: TimeRange,
        rejects: Option<RejectsFile>,
    ) -> Replay {
        let engines =
            Engines::PerPartition { recipe: Box::new(recipe), by_partition: BTreeMap::new() };
        Replay::with_engines(engines, range, rejects)
    }

    fn with_engines(engines: Engines, range: TimeRange, rejects: Option<RejectsFile>) -> Replay {
        Replay {
            engines,
            range,
            rejects,
            summary: Summary::default(),
            latest: HashMap::new(),
            raised: Vec::new(),
            failure: None,
        }
    }

    /// Takes one item read from Kafka: an event of a partition, or a rejected record, which
    /// is reported as `topic/partition@offset` with its line in the message.
    fn kafka_item(&mut self, topic: &str, item: ReplayItem) -> io::Result<()> {
        self.summary.records += 1;
        match item {
            ReplayItem::Event { event, partition, .. } => {
                self.ingest_from(Some(partition), event);
                Ok(())
            }
            ReplayItem::Rejected { partition, offset, line, reason, detail, record } => {
                let source = format!("{topic}/{partition}@{offset}");
                self.reject(&source, line.unwrap_or(0), &reason, &detail, &record)
            }
        }
    }

    /// Takes one framed record, or rejects what could not be framed with `excerpt` of the
    /// input at its line.
    fn split_item<'a>(
        &mut self,
        source: &str,
        item: SplitItem<'a>,
        excerpt: impl Fn(u64) -> &'a [u8],
    ) -> io::Result<()> {
        match item {
            Ok(record) => self.record(source, record.line, record.bytes),
            Err((line, error)) => {
                self.summary.records += 1;
                self.reject(source, line, error.reason, &error.detail, excerpt(line))
            }
        }
    }

    /// Decodes one record and gives its event to the engine. The decoder refuses invalid
    /// UTF-8 itself; a NUL byte is refused here with a reason of its own.
    fn record(&mut self, source: &str, line: u64, bytes: &[u8]) -> io::Result<()> {
        self.summary.records += 1;
        if let Some(position) = memchr::memchr(0, bytes) {
            let detail = format!("a NUL byte at offset {position}");
            return self.reject(source, line, "nul_byte", &detail, bytes);
        }
        match decode_record(bytes) {
            Ok(Decoded::Event(event)) => self.ingest(event),
            Ok(Decoded::Skipped(reason)) => {
                *self.summary.skipped.entry(reason.to_owned()).or_default() += 1;
            }
            Err(error) => return self.reject(source, line, error.reason, &error.detail, bytes),
        }
        Ok(())
    }

    fn ingest(&mut self, event: Box<Event>) {
        self.ingest_from(None, event);
    }

    /// Gives an event to the engine (of `partition`, for a Kafka replay).
    fn ingest_from(&mut self, partition: Option<i32>, event: Box<Event>) {
        if !self.range.contains(event.time_ms) {
            self.summary.filtered += 1;
            return;
        }
        let engine = match &mut self.engines {
            Engines::One(engine) => engine.as_mut(),
            Engines::PerPartition { recipe, by_partition } => {
                match by_partition.entry(partition.unwrap_or(-1)) {
                    std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                    std::collections::btree_map::Entry::Vacant(entry) => match recipe.make() {
                        Ok(engine) => entry.insert(engine),
                        Err(failure) => {
                            self.failure.get_or_insert(failure);
                            return;
                        }
                    },
                }
            }
        };
        engine.ingest(event, &mut self.raised);
        self.keep_latest();
    }

    /// Moves the alert versions just raised into `latest`, keeping the highest version of each.
    fn keep_latest(&mut self) {
        for alert in self.raised.drain(..) {
            match self.latest.get(&alert.id) {
                Some(kept) if kept.version > alert.version => {}
                _ => {
                    self.latest.insert(alert.id.clone(), alert);
                }
            }
        }
    }

    fn reject(
        &mut self,
        source: &str,
        line: u64,
        reason: &str,
        detail: &str,
        record: &[u8],
    ) -> io::Result<()> {
        *self.summary.rejected.entry(reason.to_owned()).or_default() += 1;
        let Some(rejects) = &mut self.rejects else {
            return Ok(());
        };
        let record = String::from_utf8_lossy(input::excerpt(record));
        rejects.write(&RejectLine { source, line, reason, detail, record: &record })
    }

    /// Flushes the engines; returns the engine of a file replay, the final alert versions in
    /// (first seen, id) order, and the counts.
    fn finish(mut self) -> Result<(Option<Engine>, Vec<Alert>, Summary), Failure> {
        if let Some(failure) = self.failure.take() {
            return Err(failure);
        }
        let stats = match &mut self.engines {
            Engines::One(engine) => {
                engine.flush(&mut self.raised);
                engine.stats()
            }
            Engines::PerPartition { by_partition, .. } => {
                let mut stats = EngineStats::default();
                for engine in by_partition.values_mut() {
                    engine.flush(&mut self.raised);
                    add_stats(&mut stats, &engine.stats());
                }
                stats
            }
        };
        self.keep_latest();
        if let Some(rejects) = self.rejects.take() {
            rejects.finish()?;
        }

        let mut alerts: Vec<Alert> = self.latest.into_values().collect();
        sort_alerts(&mut alerts);
        for alert in &alerts {
            *self.summary.alerts_by_rule.entry(alert.rule_id.clone()).or_default() += 1;
        }
        self.summary.engine = stats;
        let engine = match self.engines {
            Engines::One(engine) => Some(*engine),
            Engines::PerPartition { .. } => None,
        };
        Ok((engine, alerts, self.summary))
    }
}

/// Adds the counts of `more` to `total`.
fn add_stats(total: &mut EngineStats, more: &EngineStats) {
    total.events_in += more.events_in;
    total.events_evaluated += more.events_evaluated;
    total.duplicates += more.duplicates;
    total.too_late += more.too_late;
    total.unattributed += more.unattributed;
    total.evicted += more.evicted;
    total.alert_versions += more.alert_versions;
    total.pending += more.pending;
    total.state_entries += more.state_entries;
    total.state_bytes += more.state_bytes;
    total.memory_budget_bytes += more.memory_budget_bytes;
    total.released_early += more.released_early;
    let (sum, add) = (&mut total.evictions, &more.evictions);
    sum.credentials += add.credentials;
    sum.tenants += add.tenants;
    sum.msps += add.msps;
    sum.event_ids += add.event_ids;
    sum.rule_state += add.rule_state;
    sum.incidents += add.incidents;
}

/// Records are handed over one at a time, never collected, so that an input of many tiny
/// records (`[1,1,1,...]`) takes no more memory than its own bytes.
impl RecordSink for Replay {
    fn line(&mut self, source: &str, line_no: u64, bytes: &[u8]) -> io::Result<()> {
        let mut outcome = Ok(());
        for_each_line_record(bytes, line_no, &mut |item| {
            if outcome.is_ok() {
                outcome = self.split_item(source, item, |_| bytes);
            }
        });
        outcome
    }

    fn document(&mut self, source: &str, bytes: &[u8]) -> io::Result<()> {
        let mut outcome = Ok(());
        for_each_record(bytes, &mut |item| {
            if outcome.is_ok() {
                outcome = self.split_item(source, item, |line| line_excerpt(bytes, line));
            }
        });
        outcome
    }

    fn refuse(&mut self, source: &str, refusal: Refusal<'_>) -> io::Result<()> {
        self.summary.records += 1;
        self.reject(source, refusal.line, refusal.reason, &refusal.detail, refusal.excerpt)
    }
}

/// The document from the start of 1-based line `line` on (the whole document for line 0 or 1).
fn line_excerpt(document: &[u8], line: u64) -> &[u8] {
    let skip = usize::try_from(line.saturating_sub(1)).unwrap_or(usize::MAX);
    match skip.checked_sub(1) {
        None => document,
        Some(newline_index) => memchr::memchr_iter(b'\n', document)
            .nth(newline_index)
            .and_then(|position| document.get(position + 1..))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_excerpt_starts_at_the_line() {
        let document = b"[\n  {\"a\": 1},\n  {\"b\": \n]";
        assert_eq!(line_excerpt(document, 0), document);
        assert_eq!(line_excerpt(document, 1), document);
        assert_eq!(line_excerpt(document, 3), b"  {\"b\": \n]");
        assert_eq!(line_excerpt(document, 4), b"]");
        assert_eq!(line_excerpt(document, 9), b"");
    }

    #[test]
    fn the_time_range_includes_from_and_excludes_to() {
        let range = TimeRange::new(Some(1000), Some(2000)).unwrap();
        assert!(!range.contains(999));
        assert!(range.contains(1000));
        assert!(range.contains(1999));
        assert!(!range.contains(2000));
        let open = TimeRange::new(None, None).unwrap();
        assert!(open.contains(i64::MIN) && open.contains(i64::MAX - 1));
        assert!(TimeRange::new(Some(5), Some(5)).is_err());
    }

    #[test]
    fn a_snapshot_is_written_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baselines.snapshot");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> =
            fs::read_dir(dir.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let missing_dir = dir.path().join("no-such-dir").join("baselines.snapshot");
        assert!(write_atomically(&missing_dir, b"x").is_err());
    }
}
