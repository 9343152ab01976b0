//! Reading replay input: which files to read, gzip, and lines or whole documents with bounded
//! memory.
//!
//! A source is a file or standard input. Its bytes are gunzipped when they start with the gzip
//! magic number, whatever the file is called, and gunzipping stops with an error naming the
//! source when the output grows past the expansion or size limit (a decompression bomb). Then
//! the shape is detected: a JSON array or a `{"Records": [...]}` document (or any first line
//! that is not a complete JSON value) is read whole, up to a cap, and handed over as a
//! document; anything else is streamed line by line, and a line longer than the record cap is
//! skipped to its end without being held in memory.

use std::cell::Cell;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::bufread::MultiGzDecoder;
use indicatif::ProgressBar;
use serde::Deserialize;

/// How much of a rejected record the rejects file keeps.
pub const EXCERPT_BYTES: usize = 4096;

/// Buffer size of the readers.
const BUFFER_BYTES: usize = 64 * 1024;

/// The first bytes of every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// File extensions read when walking a directory (compared without case).
const EXTENSIONS: [&str; 3] = ["json", "jsonl", "gz"];

/// Where records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Standard input, named `-` on the command line.
    Stdin,
    /// A file.
    File(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Stdin => formatter.write_str("-"),
            Source::File(path) => write!(formatter, "{}", path.display()),
        }
    }
}

/// An input that could not be read, or could not be read to its end.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {source_name}: {error}")]
pub struct InputError {
    /// The file or directory, as the command line or the walk named it.
    pub source_name: String,
    /// What went wrong.
    pub error: io::Error,
}

/// Caps on what one source may make the reader hold in memory, or read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest line kept; a longer one is rejected as `record_too_large`.
    pub max_record_bytes: usize,
    /// Largest document read whole; a larger one is rejected as `document_too_large`.
    pub max_document_bytes: usize,
    /// Gzip: most times the decompressed bytes may outnumber the compressed bytes read, once
    /// past [`RATIO_CHECKED_AFTER`]; past it reading stops with an error.
    pub max_gzip_ratio: u64,
    /// Gzip: most decompressed bytes read from one source; past it reading stops with an
    /// error. `None`: no limit but the ratio.
    pub max_decompressed_bytes: Option<u64>,
}

/// Decompressed bytes read before the expansion ratio is checked, so that small files that
/// compress very well are read whatever their ratio.
pub const RATIO_CHECKED_AFTER: u64 = 16 << 20;

/// A record the reader refuses before any decoding.
#[derive(Debug)]
pub struct Refusal<'a> {
    /// 1-based line where the record starts.
    pub line: u64,
    /// `record_too_large` or `document_too_large`.
    pub reason: &'static str,
    /// What was too large, and how large.
    pub detail: String,
    /// The start of the record.
    pub excerpt: &'a [u8],
}

/// Receives what the reader finds in a source.
pub trait RecordSink {
    /// One line of a JSON-lines source (without its line ending; blank lines are not passed).
    fn line(&mut self, source: &str, line_no: u64, bytes: &[u8]) -> io::Result<()>;
    /// A whole-document source.
    fn document(&mut self, source: &str, bytes: &[u8]) -> io::Result<()>;
    /// A record refused by the reader.
    fn refuse(&mut self, source: &str, refusal: Refusal<'_>) -> io::Result<()>;
}

/// Why reading a source stopped early.
#[derive(Debug)]
pub enum ReadFailure {
    /// The source could not be opened or read: report it and go on with the next.
    Input(InputError),
    /// The sink failed (its output could not be written): stop the run.
    Sink(io::Error),
}

/// The sources named on the command line, directories expanded, and the paths that could not
/// be listed.
pub fn collect_sources(paths: &[PathBuf]) -> (Vec<Source>, Vec<InputError>) {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            sources.push(Source::Stdin);
            continue;
        }
        match fs::metadata(path) {
            Ok(metadata) if metadata.is_dir() => walk(path, &mut sources, &mut errors),
            Ok(_) => sources.push(Source::File(path.clone())),
            Err(error) => {
                errors.push(InputError { source_name: path.display().to_string(), error })
            }
        }
    }
    (sources, errors)
}

/// Adds the readable files under `dir`, depth first, each directory's entries in name order;
/// hidden entries, files with other extensions and links to directories are left out.
fn walk(dir: &Path, sources: &mut Vec<Source>, errors: &mut Vec<InputError>) {
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(error) => {
            errors.push(InputError { source_name: dir.display().to_string(), error });
            return;
        }
    };
    let mut entries = Vec::new();
    for entry in listing {
        match entry {
            Ok(entry) => entries.push(entry),
            Err(error) => errors.push(InputError { source_name: dir.display().to_string(), error }),
        }
    }
    entries.sort_by_key(|entry| entry.file_name());

    for entry in entries {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let file_type = match entry.file_type() {
            Ok(file_type) => file_type,
            Err(error) => {
                errors.push(InputError { source_name: path.display().to_string(), error });
                continue;
            }
        };
        if file_type.is_dir() {
            walk(&path, sources, errors);
        } else if has_known_extension(&path) {
            if file_type.is_symlink() && fs::metadata(&path).is_ok_and(|target| target.is_dir()) {
                tracing::debug!(path = %path.display(), "not following a link to a directory");
                continue;
            }
            sources.push(Source::File(path));
        } else {
            tracing::debug!(path = %path.display(), "skipping a file with another extension");
        }
    }
}

fn has_known_extension(path: &Path) -> bool {
    let extension = path.extension().map(|extension| extension.to_string_lossy());
    extension.is_some_and(|extension| {
        EXTENSIONS.iter().any(|known| extension.eq_ignore_ascii_case(known))
    })
}

/// The size of a file source, when known.
pub fn source_size(source: &Source) -> Option<u64> {
    match source {
        Source::Stdin => None,
        Source::File(path) => fs::metadata(path).ok().map(|metadata| metadata.len()),
    }
}

/// Reads one source to its end, handing lines or the document to `sink`.
pub fn read_source(
    source: &Source,
    limits: Limits,
    progress: &ProgressBar,
    sink: &mut dyn RecordSink,
) -> Result<(), ReadFailure> {
    let name = source.to_string();
    let input_error =
        |error: io::Error| ReadFailure::Input(InputError { source_name: name.clone(), error });
    let raw: Box<dyn Read> = match source {
        Source::Stdin => Box::new(progress.wrap_read(io::stdin().lock())),
        Source::File(path) => Box::new(progress.wrap_read(File::open(path).map_err(input_error)?)),
    };
    let size_hint = source_size(source);
    let mut reader = decompressed(raw, size_hint, limits).map_err(input_error)?;
    read_records(&name, &mut *reader.stream, reader.size_hint, limits, sink).map_err(|failure| {
        match failure {
            Failure::Read(error) => input_error(error),
            Failure::Sink(error) => ReadFailure::Sink(error),
        }
    })
}

/// A source's bytes after gunzipping, with the decompressed size when it is known.
struct Decompressed {
    stream: Box<dyn BufRead>,
    size_hint: Option<u64>,
}

/// Wraps `raw` in a gzip decoder when it starts with the gzip magic number.
fn decompressed(
    mut raw: Box<dyn Read>,
    size_hint: Option<u64>,
    limits: Limits,
) -> io::Result<Decompressed> {
    let mut magic = Vec::with_capacity(GZIP_MAGIC.len());
    (&mut raw).take(GZIP_MAGIC.len() as u64).read_to_end(&mut magic)?;
    let is_gzip = magic == GZIP_MAGIC;
    let compressed = Rc::new(Cell::new(0u64));
    let counted =
        Counted { inner: io::Cursor::new(magic).chain(raw), count: Rc::clone(&compressed) };
    let whole = BufReader::with_capacity(BUFFER_BYTES, counted);
    if !is_gzip {
        return Ok(Decompressed { stream: Box::new(whole), size_hint });
    }
    // Several gzip members one after another are one stream, as `cat a.gz b.gz` makes.
    let inflated = Bounded {
        inner: MultiGzDecoder::new(whole),
        compressed,
        decompressed: 0,
        max_ratio: limits.max_gzip_ratio,
        max_bytes: limits.max_decompressed_bytes,
    };
    let inflated = BufReader::with_capacity(BUFFER_BYTES, inflated);
    Ok(Decompressed { stream: Box::new(inflated), size_hint: None })
}

/// A reader that counts the bytes read through it into a shared cell.
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.count.set(self.count.get().saturating_add(read as u64));
        Ok(read)
    }
}

/// A gzip decoder that stops with an error when its output outgrows the limits: more than
/// `max_ratio` times the compressed bytes read (once past [`RATIO_CHECKED_AFTER`]), or more
/// than `max_bytes`.
struct Bounded<R> {
    inner: R,
    compressed: Rc<Cell<u64>>,
    decompressed: u64,
    max_ratio: u64,
    max_bytes: Option<u64>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.decompressed = self.decompressed.saturating_add(read as u64);
        let compressed = self.compressed.get().max(1);
        if self.max_bytes.is_some_and(|max| self.decompressed > max) {
            let max = self.max_bytes.unwrap_or_default();
            return Err(bomb(format!(
                "gzip data decompresses to more than {max} bytes (--max-decompressed-bytes)"
            )));
        }
        let ratio_exceeded = self.decompressed > compressed.saturating_mul(self.max_ratio);
        if self.decompressed > RATIO_CHECKED_AFTER && ratio_exceeded {
            return Err(bomb(format!(
                "gzip data expands more than {} times ({} bytes from {compressed}; \
                 --max-gzip-ratio), a decompression bomb or a file to read with a higher limit",
                self.max_ratio, self.decompressed
            )));
        }
        Ok(read)
    }
}

fn bomb(message: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{message}; stopped reading, after the records before this point"),
    )
}

/// Why `read_records` stopped.
#[derive(Debug)]
enum Failure {
    Read(io::Error),
    Sink(io::Error),
}

/// Detects the shape of the (decompressed) stream and hands its records to `sink`.
fn read_records(
    name: &str,
    stream: &mut dyn BufRead,
    size_hint: Option<u64>,
    limits: Limits,
    sink: &mut dyn RecordSink,
) -> Result<(), Failure> {
    let leading_newlines = skip_leading_whitespace(stream).map_err(Failure::Read)?;
    let start = stream.fill_buf().map_err(Failure::Read)?;
    if start.is_empty() {
        return Ok(());
    }
    if starts_document(start) {
        let prefix = newlines(leading_newlines, limits);
        return read_document(name, prefix, stream, size_hint, limits, sink);
    }

    let first_line_no = leading_newlines + 1;
    let mut head = vec![read_line(stream, limits)?];
    if head_shape(head.first()) == Shape::Unclosed {
        probe_lines(stream, limits, &mut head)?;
    }
    if is_document(&head) {
        let mut document = newlines(leading_newlines, limits);
        for (_, line) in head {
            document.extend_from_slice(&line);
            document.push(b'\n');
        }
        return read_document(name, document, stream, size_hint, limits, sink);
    }

    let mut line_no = first_line_no;
    for (read, line) in &head {
        handle_line(name, line_no, *read, line, limits, sink)?;
        line_no += 1;
    }
    read_lines(name, line_no, stream, limits, sink)
}

/// How many lines after an unclosed first line are read to tell a pretty-printed document
/// from JSON lines whose first line is broken.
const LINES_PROBED: usize = 16;

/// What the first line of an input says about the input's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A `{"Records": [...]}` object on one line: a document.
    Wrapper,
    /// An object that the line does not close: a pretty-printed document, or a broken line.
    Unclosed,
    /// Anything else: JSON lines.
    Lines,
}

fn read_line(stream: &mut dyn BufRead, limits: Limits) -> Result<(LineRead, Vec<u8>), Failure> {
    let mut line = Vec::new();
    let read = read_bounded_line(stream, &mut line, limits.max_record_bytes);
    Ok((read.map_err(Failure::Read)?, line))
}

/// Reads up to [`LINES_PROBED`] more lines, stopping at the first complete JSON object.
fn probe_lines(
    stream: &mut dyn BufRead,
    limits: Limits,
    head: &mut Vec<(LineRead, Vec<u8>)>,
) -> Result<(), Failure> {
    let mut held = head.iter().map(|(_, line)| line.len()).sum::<usize>();
    while head.len() <= LINES_PROBED && held <= limits.max_document_bytes {
        let (read, line) = read_line(stream, limits)?;
        if read == LineRead::End {
            return Ok(());
        }
        let stop = read != LineRead::Complete || is_complete_object(&line);
        held = held.saturating_add(line.len());
        head.push((read, line));
        if stop {
            return Ok(());
        }
    }
    Ok(())
}

/// Whether the lines read so far show a whole document rather than JSON lines.
fn is_document(head: &[(LineRead, Vec<u8>)]) -> bool {
    match head_shape(head.first()) {
        Shape::Wrapper => true,
        Shape::Lines => false,
        Shape::Unclosed => head
            .iter()
            .skip(1)
            .all(|(read, line)| *read == LineRead::Complete && !is_complete_object(line)),
    }
}

fn head_shape(first: Option<&(LineRead, Vec<u8>)>) -> Shape {
    #[derive(Deserialize)]
    struct Wrapper {
        #[serde(rename = "Records")]
        records: Option<serde::de::IgnoredAny>,
    }
    let Some((LineRead::Complete, line)) = first else {
        return Shape::Lines;
    };
    let line = line.trim_ascii();
    if line.first() != Some(&b'{') {
        return Shape::Lines;
    }
    match serde_json::from_slice::<Wrapper>(line) {
        Ok(wrapper) if wrapper.records.is_some() => Shape::Wrapper,
        Ok(_) => Shape::Lines,
        Err(error) if error.is_eof() => Shape::Unclosed,
        Err(_) => Shape::Lines,
    }
}

/// Whether the line alone is one complete JSON object starting at its first byte, as a JSON
/// line is (the elements of a pretty-printed document are indented).
fn is_complete_object(line: &[u8]) -> bool {
    line.first() == Some(&b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(line.trim_ascii_end()).is_ok()
}

/// The blank lines before a document, kept so that record line numbers stay right; more than
/// the document cap are cut at one past the cap, which makes the document too large.
fn newlines(count: u64, limits: Limits) -> Vec<u8> {
    let cap = limits.max_document_bytes.saturating_add(1);
    vec![b'\n'; usize::try_from(count).unwrap_or(usize::MAX).min(cap)]
}

/// Consumes whitespace (and a byte-order mark) before the first record; returns the number
/// of line feeds consumed.
fn skip_leading_whitespace(stream: &mut dyn BufRead) -> io::Result<u64> {
    let mut newlines = 0;
    let mut first = true;
    loop {
        let buffer = match stream.fill_buf() {
            Ok(buffer) => buffer,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        let mut skip = 0;
        if first && buffer.starts_with(b"\xEF\xBB\xBF") {
            skip = 3;
        }
        first = false;
        let rest = buffer.get(skip..).unwrap_or_default();
        let blank = rest.iter().take_while(|byte| byte.is_ascii_whitespace()).count();
        newlines += rest.iter().take(blank).filter(|&&byte| byte == b'\n').count() as u64;
        let consumed = skip + blank;
        let exhausted = consumed == buffer.len();
        stream.consume(consumed);
        if !exhausted || consumed == 0 {
            return Ok(newlines);
        }
    }
}

/// Whether the stream starts a whole document: a JSON array, or an object whose first key is
/// `Records` (a CloudTrail log file).
fn starts_document(start: &[u8]) -> bool {
    match start.first() {
        Some(b'[') => true,
        Some(b'{') => {
            let after_brace = start.get(1..).unwrap_or_default();
            let key_start = after_brace.iter().position(|byte| !byte.is_ascii_whitespace());
            key_start
                .and_then(|position| after_brace.get(position..))
                .is_some_and(|key| key.starts_with(b"\"Records\""))
        }
        _ => false,
    }
}

/// Reads the rest of the stream as one document (after `prefix`, already read), up to the cap.
fn read_document(
    name: &str,
    mut document: Vec<u8>,
    stream: &mut dyn BufRead,
    size_hint: Option<u64>,
    limits: Limits,
    sink: &mut dyn RecordSink,
) -> Result<(), Failure> {
    let cap = limits.max_document_bytes;
    if let Some(size) = size_hint {
        let expected = usize::try_from(size).unwrap_or(usize::MAX).min(cap.saturating_add(1));
        document.reserve(expected.saturating_sub(document.len()));
    }
    let room = (cap.saturating_add(1)).saturating_sub(document.len()) as u64;
    stream.take(room).read_to_end(&mut document).map_err(Failure::Read)?;
    if document.len() > cap {
        let refusal = Refusal {
            line: 1,
            reason: "document_too_large",
            detail: format!(
                "the document is larger than the {cap}-byte limit (--max-document-bytes)"
            ),
            excerpt: excerpt(&document),
        };
        return sink.refuse(name, refusal).map_err(Failure::Sink);
    }
    sink.document(name, &document).map_err(Failure::Sink)
}

/// Streams the remaining lines, numbering them from `line_no`.
fn read_lines(
    name: &str,
    mut line_no: u64,
    stream: &mut dyn BufRead,
    limits: Limits,
    sink: &mut dyn RecordSink,
) -> Result<(), Failure> {
    let mut line = Vec::new();
    loop {
        let blank = skip_line_feeds(stream).map_err(Failure::Read)?;
        line_no = line_no.saturating_add(blank);
        let read =
            read_bounded_line(stream, &mut line, limits.max_record_bytes).map_err(Failure::Read)?;
        if matches!(read, LineRead::End) {
            return Ok(());
        }
        handle_line(name, line_no, read, &line, limits, sink)?;
        line_no = line_no.saturating_add(1);
    }
}

fn handle_line(
    name: &str,
    line_no: u64,
    read: LineRead,
    line: &[u8],
    limits: Limits,
    sink: &mut dyn RecordSink,
) -> Result<(), Failure> {
    match read {
        LineRead::End => Ok(()),
        LineRead::Complete if line.iter().all(u8::is_ascii_whitespace) => Ok(()),
        LineRead::Complete => sink.line(name, line_no, line).map_err(Failure::Sink),
        LineRead::TooLong { length } => {
            let refusal = Refusal {
                line: line_no,
                reason: "record_too_large",
                detail: format!(
                    "the line is {length} bytes, more than the {}-byte limit (--max-record-bytes)",
                    limits.max_record_bytes
                ),
                excerpt: excerpt(line),
            };
            sink.refuse(name, refusal).map_err(Failure::Sink)
        }
    }
}

/// Consumes the line feeds at the front of the stream; returns how many. Runs of empty lines
/// (a stream of nothing but line feeds, say) then cost a scan, not a line each.
fn skip_line_feeds(stream: &mut dyn BufRead) -> io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let buffer = match stream.fill_buf() {
            Ok(buffer) => buffer,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        let feeds = buffer.iter().take_while(|&&byte| byte == b'\n').count();
        let exhausted = feeds == buffer.len() && feeds > 0;
        stream.consume(feeds);
        skipped = skipped.saturating_add(feeds as u64);
        if !exhausted {
            return Ok(skipped);
        }
    }
}

/// The first [`EXCERPT_BYTES`] of a record.
pub fn excerpt(record: &[u8]) -> &[u8] {
    record.get(..EXCERPT_BYTES).unwrap_or(record)
}

/// The outcome of reading one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineRead {
    /// No more input.
    End,
    /// A whole line is in the buffer (without `\n` or `\r\n`).
    Complete,
    /// The line was longer than the cap: the buffer holds its first `cap` bytes and the rest
    /// was skipped. `length` is the line's full length.
    TooLong { length: u64 },
}

/// Reads the next line into `line`, keeping at most `cap` bytes of it; a longer line is read to
/// its end without being kept, so memory stays bounded whatever the input.
fn read_bounded_line(
    stream: &mut dyn BufRead,
    line: &mut Vec<u8>,
    cap: usize,
) -> io::Result<LineRead> {
    line.clear();
    let mut length: u64 = 0;
    let mut read_any = false;
    loop {
        let buffer = match stream.fill_buf() {
            Ok(buffer) => buffer,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if buffer.is_empty() {
            if !read_any {
                return Ok(LineRead::End);
            }
            return Ok(finish_line(line, length, cap));
        }
        read_any = true;
        let newline = memchr::memchr(b'\n', buffer);
        let content = match newline {
            Some(position) => buffer.get(..position).unwrap_or(buffer),
            None => buffer,
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(content.get(..room).unwrap_or(content));
        length = length.saturating_add(content.len() as u64);
        let consumed = newline.map_or(buffer.len(), |position| position + 1);
        stream.consume(consumed);
        if newline.is_some() {
            return Ok(finish_line(line, length, cap));
        }
    }
}

fn finish_line(line: &mut Vec<u8>, length: u64, cap: usize) -> LineRead {
    if length > cap as u64 {
        return LineRead::TooLong { length };
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    LineRead::Complete
}

#[cfg(test)]
mod tests;
