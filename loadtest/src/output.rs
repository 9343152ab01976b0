//! Writing a generated data set: event files, ground truth and the directory.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::clock::date;
use crate::render::Format;
use crate::stream::{GenerateError, TrafficStream};

/// The ground-truth file name.
pub const GROUND_TRUTH_FILE: &str = "ground-truth.jsonl";
/// The directory file name.
pub const DIRECTORY_FILE: &str = "directory.yaml";

/// How the event files are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputOptions {
    /// One file per UTC day of delivery (`events-YYYY-MM-DD.jsonl`) rather than `events.jsonl`.
    pub split_by_day: bool,
    /// Compress the event files (`.jsonl.gz`).
    pub gzip: bool,
    /// Write exactly this many records, then stop.
    pub limit: Option<u64>,
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputSummary {
    /// Records written, duplicates included.
    pub records: u64,
    /// Records that repeat an earlier one.
    pub duplicates: u64,
    /// Records per format: canonical, CloudTrail, OCSF.
    pub per_format: [u64; 3],
    /// Event files, in name order.
    pub files: Vec<PathBuf>,
    /// Scenarios written to the ground truth.
    pub scenarios: usize,
}

/// Why a data set could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file could not be created or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// Generation failed.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// The directory could not be serialized.
    #[error("directory yaml: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// The ground truth could not be serialized.
    #[error("ground truth json: {0}")]
    Json(#[from] serde_json::Error),
}

enum Sink {
    Plain(BufWriter<File>),
    Gzip(GzEncoder<BufWriter<File>>),
}

impl Sink {
    fn create(path: &Path, gzip: bool) -> io::Result<Sink> {
        let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
        Ok(if gzip {
            Sink::Gzip(GzEncoder::new(file, Compression::best()))
        } else {
            Sink::Plain(file)
        })
    }

    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let writer: &mut dyn Write = match self {
            Sink::Plain(writer) => writer,
            Sink::Gzip(writer) => writer,
        };
        writer.write_all(line)?;
        writer.write_all(b"\n")
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Plain(mut writer) => writer.flush(),
            Sink::Gzip(writer) => writer.finish()?.flush(),
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |source| OutputError::Io { path: path.to_path_buf(), source }
}

/// Writes the directory, the ground truth and the events of `stream` into `dir`, calling
/// `progress` with the number of records written so far every few thousand records.
pub fn write_data_set(
    stream: TrafficStream,
    dir: &Path,
    options: OutputOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<OutputSummary, OutputError> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let directory = dir.join(DIRECTORY_FILE);
    std::fs::write(&directory, stream.world().directory_yaml()?).map_err(io_error(&directory))?;
    let truth_path = dir.join(GROUND_TRUTH_FILE);
    let mut truth = Vec::new();
    for line in stream.ground_truth() {
        serde_json::to_writer(&mut truth, &line)?;
        truth.push(b'\n');
    }
    std::fs::write(&truth_path, truth).map_err(io_error(&truth_path))?;

    let mut summary = OutputSummary { scenarios: stream.scenarios().len(), ..Default::default() };
    let extension = if options.gzip { "jsonl.gz" } else { "jsonl" };
    let mut current: Option<(String, PathBuf, Sink)> = None;
    for delivery in stream {
        if options.limit.is_some_and(|limit| summary.records >= limit) {
            break;
        }
        let delivery = delivery?;
        let name = if options.split_by_day {
            format!("events-{}.{extension}", date(delivery.deliver_at_ms))
        } else {
            format!("events.{extension}")
        };
        if current.as_ref().is_none_or(|(open, _, _)| open != &name) {
            if let Some((_, path, sink)) = current.take() {
                sink.finish().map_err(io_error(&path))?;
            }
            let path = dir.join(&name);
            let sink = Sink::create(&path, options.gzip).map_err(io_error(&path))?;
            summary.files.push(path.clone());
            current = Some((name, path, sink));
        }
        if let Some((_, path, sink)) = current.as_mut() {
            sink.write_line(&delivery.line).map_err(io_error(path))?;
        }
        summary.records += 1;
        summary.duplicates += u64::from(delivery.duplicate);
        let slot = match delivery.format {
            Format::Canonical => 0,
            Format::Cloudtrail => 1,
            Format::Ocsf => 2,
        };
        if let Some(count) = summary.per_format.get_mut(slot) {
            *count += 1;
        }
        if summary.records % 4_096 == 0 {
            progress(summary.records);
        }
    }
    if let Some((_, path, sink)) = current.take() {
        sink.finish().map_err(io_error(&path))?;
    }
    progress(summary.records);
    Ok(summary)
}
