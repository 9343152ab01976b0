//! Splitting an input into records: `{"Records": [...]}` documents, JSON arrays of records,
//! and JSON lines.
//!
//! Splitting frames records without decoding them: [`super::decode_record`] validates each.
//! A document is parsed once more to find its elements; JSON lines are framed by their first
//! and last bytes, so that the hot path parses each record only once.

use std::fmt;

use memchr::memchr_iter;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::fields::Str;
use super::{from_json, reason, DecodeError, RecordRef};

/// One framed record, or the line and reason of input that could not be framed.
pub type SplitItem<'a> = Result<RecordRef<'a>, (u64, DecodeError)>;

/// The UTF-8 byte order mark, skipped at the start of an input.
const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// How many lines after the first are looked at to recognize JSON lines whose first line is
/// broken.
const LINES_PROBED: usize = 16;

/// Most records [`split_records`] and [`split_line`] collect from one input; past it they
/// give one `too_many_records` error and read no further. Tiny records (`[1,1,1,...]`) would
/// otherwise make the list of records many times larger than the input.
/// [`for_each_record`] and [`for_each_line_record`] hand records over one at a time and have
/// no such limit.
pub const MAX_RECORDS_PER_INPUT: usize = 1_000_000;

/// Splits a whole input (a `{"Records": [...]}` document, a JSON array of records, or one
/// record per line) into records with their line numbers.
///
/// An input whose first line is a complete JSON value is read as JSON lines: blank lines are
/// skipped, each line is a record (a line holding a `Records` wrapper or an array yields its
/// elements), and a bad line gives an error entry without stopping the lines after it.
/// Any other input is read as one or more JSON documents, each a `Records` wrapper, an array
/// of records, or one pretty-printed record; a syntax error ends the input, after the records
/// before it. At most [`MAX_RECORDS_PER_INPUT`] records are collected.
pub fn split_records(input: &[u8]) -> Vec<SplitItem<'_>> {
    let mut items = Vec::new();
    for_each_record(input, &mut collect_at_most(&mut items, 1));
    items
}

/// Calls `visit` with each record of a whole input, in the order and with the line numbers
/// that [`split_records`] gives, without collecting them: memory stays bounded by the input
/// whatever the number of records.
pub fn for_each_record<'a>(input: &'a [u8], visit: &mut dyn FnMut(SplitItem<'a>)) {
    let body = input.strip_prefix(BYTE_ORDER_MARK).unwrap_or(input);
    let Some(start) = body.iter().position(|byte| !byte.is_ascii_whitespace()) else {
        return;
    };
    let first_line = body.get(start..).and_then(|rest| rest.split(|&b| b == b'\n').next());
    let first_line = first_line.unwrap_or_default();
    let lines_mode = match body.get(start) {
        Some(b'{' | b'[') => is_complete_value(first_line),
        _ => true,
    };
    if lines_mode {
        return split_lines(body, visit);
    }
    // Documents yield records, then at most one error, which ends them: hold it until it is
    // clear whether any record was framed, as input that frames none may be JSON lines.
    let mut framed_any = false;
    let mut error = None;
    split_documents(input, body, &mut |item| match item {
        Ok(record) => {
            framed_any = true;
            visit(Ok(record));
        }
        Err(failure) => error = Some(failure),
    });
    if !framed_any && looks_like_json_lines(body, start) {
        return split_lines(body, visit);
    }
    if let Some(failure) = error {
        visit(Err(failure));
    }
}

/// A visitor that pushes items onto `items` until [`MAX_RECORDS_PER_INPUT`], then one error
/// (at `fallback_line` when the item over the limit has no line), then nothing.
fn collect_at_most<'i, 'a>(
    items: &'i mut Vec<SplitItem<'a>>,
    fallback_line: u64,
) -> impl FnMut(SplitItem<'a>) + 'i {
    let mut over = false;
    move |item| {
        if over {
            return;
        }
        if items.len() < MAX_RECORDS_PER_INPUT {
            items.push(item);
            return;
        }
        over = true;
        let line = match &item {
            Ok(record) => record.line,
            Err((line, _)) => *line,
        }
        .max(fallback_line);
        let detail = format!(
            "more than {MAX_RECORDS_PER_INPUT} records in one input; the rest were not read"
        );
        items.push(Err((line, DecodeError::new(reason::TOO_MANY_RECORDS, detail))));
    }
}

/// Frames one line of a JSON lines input: a `Records` wrapper or an array on one line yields
/// its elements, a blank line nothing, and any other line itself.
///
/// A line that starts with `{` but does not end with `}` is an error entry (a truncated
/// write); other syntax errors are left to [`super::decode_record`].
/// Lets a caller stream a large input line by line without holding it whole; at most
/// [`MAX_RECORDS_PER_INPUT`] records of one line are collected.
pub fn split_line(line: &[u8], line_no: u64) -> LineRecords<'_> {
    let record = trim(line);
    let records = match line_shape(record) {
        LineShape::Empty => Inner::Empty,
        LineShape::Elements => {
            let mut items = Vec::new();
            expand_line(record, line_no, &mut collect_at_most(&mut items, line_no));
            Inner::Many(items.into_iter())
        }
        LineShape::Truncated => Inner::One(Some(Err((line_no, truncated_line())))),
        LineShape::Record => Inner::One(Some(Ok(RecordRef { line: line_no, bytes: record }))),
    };
    LineRecords { records }
}

/// Calls `visit` with each record of one line, as [`split_line`] frames them, without
/// collecting them.
pub fn for_each_line_record<'a>(
    line: &'a [u8],
    line_no: u64,
    visit: &mut dyn FnMut(SplitItem<'a>),
) {
    let record = trim(line);
    match line_shape(record) {
        LineShape::Empty => {}
        LineShape::Elements => expand_line(record, line_no, visit),
        LineShape::Truncated => visit(Err((line_no, truncated_line()))),
        LineShape::Record => visit(Ok(RecordRef { line: line_no, bytes: record })),
    }
}

/// What one trimmed line holds.
enum LineShape {
    Empty,
    /// An array or a `Records` wrapper: its elements are the records.
    Elements,
    /// An object cut short.
    Truncated,
    Record,
}

fn line_shape(record: &[u8]) -> LineShape {
    match record.first() {
        None => LineShape::Empty,
        Some(b'[') => LineShape::Elements,
        Some(b'{') if record.last() != Some(&b'}') => LineShape::Truncated,
        Some(b'{') if memchr::memmem::find(record, b"\"Records\"").is_some() => LineShape::Elements,
        Some(_) => LineShape::Record,
    }
}

fn truncated_line() -> DecodeError {
    DecodeError::new(reason::INVALID_JSON, "line ends before its json object does")
}

/// The records framed from one line, in order.
#[derive(Debug)]
pub struct LineRecords<'a> {
    records: Inner<'a>,
}

#[derive(Debug)]
enum Inner<'a> {
    Empty,
    One(Option<SplitItem<'a>>),
    Many(std::vec::IntoIter<SplitItem<'a>>),
}

impl<'a> Iterator for LineRecords<'a> {
    type Item = SplitItem<'a>;

    fn next(&mut self) -> Option<SplitItem<'a>> {
        match &mut self.records {
            Inner::Empty => None,
            Inner::One(item) => item.take(),
            Inner::Many(items) => items.next(),
        }
    }
}

/// Splits JSON lines; `body` is the input after any byte order mark.
fn split_lines<'a>(body: &'a [u8], visit: &mut dyn FnMut(SplitItem<'a>)) {
    let mut line_start = 0;
    let ends = memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    for (line_no, line_end) in (1..).zip(ends) {
        let line = body.get(line_start..line_end).unwrap_or_default();
        for_each_line_record(line, line_no, visit);
        line_start = line_end + 1;
    }
}

/// Expands a `Records` wrapper or an array written on one line; any other object is itself.
/// The elements before a syntax error are kept.
fn expand_line<'a>(record: &'a [u8], line_no: u64, visit: &mut dyn FnMut(SplitItem<'a>)) {
    let mut elements = 0usize;
    let mut deserializer = serde_json::Deserializer::from_slice(record);
    let mut sink = |element: &'a RawValue| {
        elements += 1;
        visit(Ok(RecordRef { line: line_no, bytes: element.get().as_bytes() }));
    };
    let result = TopSeed { sink: &mut sink }
        .deserialize(&mut deserializer)
        .and_then(|kind| deserializer.end().map(|()| kind));
    let itself = Ok(RecordRef { line: line_no, bytes: record });
    match result {
        Ok(TopKind::Elements) => {}
        Ok(TopKind::Single) => visit(itself),
        Err(_) if elements == 0 && record.first() == Some(&b'{') => visit(itself),
        Err(error) => visit(Err((line_no, from_json(&error)))),
    }
}

/// Splits one or more JSON documents written one after another.
fn split_documents<'a>(input: &'a [u8], body: &'a [u8], visit: &mut dyn FnMut(SplitItem<'a>)) {
    let mut lines = LineCounter::new(input);
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<&RawValue>();
    loop {
        let offset = stream.byte_offset();
        match stream.next() {
            None => break,
            Some(Ok(document)) => expand_document(document, &mut lines, visit),
            Some(Err(error)) => {
                let rest = body.get(offset..).unwrap_or_default();
                salvage(rest, &mut lines, visit);
                let line = u64::try_from(error.line()).unwrap_or(u64::MAX);
                let mut refusal = from_json(&error);
                refusal.detail.push_str("; nothing after this point of the document was read");
                visit(Err((line, refusal)));
                break;
            }
        }
    }
}

/// Adds a document's records: its elements, or the document itself.
fn expand_document<'a>(
    document: &'a RawValue,
    lines: &mut LineCounter<'a>,
    visit: &mut dyn FnMut(SplitItem<'a>),
) {
    let bytes = document.get().as_bytes();
    // An object is a `Records` wrapper only if it has one `Records` array, which is known at
    // its end: look first, then hand over the elements.
    if bytes.first() == Some(&b'{') {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let kind = TopSeed { sink: &mut |_| {} }.deserialize(&mut deserializer);
        if !matches!(kind, Ok(TopKind::Elements)) {
            visit(Ok(RecordRef { line: lines.line_of(bytes), bytes }));
            return;
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let mut sink = |element: &'a RawValue| {
        let bytes = element.get().as_bytes();
        visit(Ok(RecordRef { line: lines.line_of(bytes), bytes }));
    };
    let kind = TopSeed { sink: &mut sink }.deserialize(&mut deserializer);
    match kind {
        Ok(TopKind::Elements) => {}
        Ok(TopKind::Single) | Err(_) => {
            visit(Ok(RecordRef { line: lines.line_of(bytes), bytes }));
        }
    }
}

/// After a syntax error, keeps the elements that came before it.
fn salvage<'a>(rest: &'a [u8], lines: &mut LineCounter<'a>, visit: &mut dyn FnMut(SplitItem<'a>)) {
    let mut deserializer = serde_json::Deserializer::from_slice(rest);
    let mut sink = |element: &'a RawValue| {
        let bytes = element.get().as_bytes();
        visit(Ok(RecordRef { line: lines.line_of(bytes), bytes }));
    };
    let _ = TopSeed { sink: &mut sink }.deserialize(&mut deserializer);
}

/// Whether `line` alone is one complete JSON value.
fn is_complete_value(line: &[u8]) -> bool {
    serde_json::from_slice::<IgnoredAny>(trim(line)).is_ok()
}

/// Whether any of the lines after the first few is a complete JSON object on its own, as in
/// JSON lines whose first line is broken.
fn looks_like_json_lines(body: &[u8], start: usize) -> bool {
    let rest = body.get(start..).unwrap_or_default();
    rest.split(|&byte| byte == b'\n')
        .skip(1)
        .map(trim)
        .filter(|line| !line.is_empty())
        .take(LINES_PROBED)
        .any(|line| line.first() == Some(&b'{') && is_complete_value(line))
}

fn trim(line: &[u8]) -> &[u8] {
    line.trim_ascii()
}

fn count_newlines(bytes: &[u8]) -> u64 {
    u64::try_from(memchr_iter(b'\n', bytes).count()).unwrap_or(u64::MAX)
}

/// Turns positions inside the input into 1-based line numbers, counting forward.
struct LineCounter<'a> {
    input: &'a [u8],
    position: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(input: &'a [u8]) -> LineCounter<'a> {
        LineCounter { input, position: 0, line: 1 }
    }

    /// The line where `part`, a slice of the input, starts.
    fn line_of(&mut self, part: &[u8]) -> u64 {
        let base = self.input.as_ptr() as usize;
        let offset = (part.as_ptr() as usize).saturating_sub(base);
        if offset < self.position {
            self.position = 0;
            self.line = 1;
        }
        let skipped = self.input.get(self.position..offset).unwrap_or_default();
        self.line = self.line.saturating_add(count_newlines(skipped));
        self.position = offset.max(self.position);
        self.line
    }
}

/// What a top-level value turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TopKind {
    /// An array or a `Records` wrapper: its elements went to the sink.
    Elements,
    /// Anything else: the value is one record.
    Single,
}

/// Reads a top-level value, handing the elements of an array or of a `Records` wrapper to
/// the sink as they come, so that the elements before a syntax error are kept.
struct TopSeed<'s, 'de> {
    sink: &'s mut dyn FnMut(&'de RawValue),
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_, 'de> {
    type Value = TopKind;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<TopKind, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, 'de> {
    type Value = TopKind;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a record, an array of records or a Records document")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<TopKind, A::Error> {
        ElementsSeed { sink: self.sink }.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopKind, A::Error> {
        let mut records_seen = false;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            if key.as_str() != "Records" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if records_seen {
                return Err(de::Error::duplicate_field("Records"));
            }
            records_seen = true;
            map.next_value_seed(ElementsSeed { sink: &mut *self.sink })?;
        }
        Ok(if records_seen { TopKind::Elements } else { TopKind::Single })
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<TopKind, E> {
        Ok(TopKind::Single)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<TopKind, E> {
        Ok(TopKind::Single)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<TopKind, E> {
        Ok(TopKind::Single)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<TopKind, E> {
        Ok(TopKind::Single)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<TopKind, E> {
        Ok(TopKind::Single)
    }

    fn visit_unit<E: de::Error>(self) -> Result<TopKind, E> {
        Ok(TopKind::Single)
    }
}

/// Reads an array, handing each element's raw text to the sink.
struct ElementsSeed<'s, 'de> {
    sink: &'s mut dyn FnMut(&'de RawValue),
}

impl<'de> DeserializeSeed<'de> for ElementsSeed<'_, 'de> {
    type Value = TopKind;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<TopKind, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ElementsSeed<'_, 'de> {
    type Value = TopKind;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopKind, A::Error> {
        while let Some(element) = seq.next_element::<&'de RawValue>()? {
            (self.sink)(element);
        }
        Ok(TopKind::Elements)
    }
}
