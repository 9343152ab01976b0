//! Tests of input reading: shapes, caps, gzip and directory walking.

use std::io::{BufReader, Write};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::*;

/// Everything a sink was given, in order.
#[derive(Debug, Default)]
struct Collected {
    lines: Vec<(u64, String)>,
    documents: Vec<String>,
    refusals: Vec<(u64, &'static str, usize)>,
}

impl RecordSink for Collected {
    fn line(&mut self, _source: &str, line_no: u64, bytes: &[u8]) -> io::Result<()> {
        self.lines.push((line_no, String::from_utf8_lossy(bytes).into_owned()));
        Ok(())
    }

    fn document(&mut self, _source: &str, bytes: &[u8]) -> io::Result<()> {
        self.documents.push(String::from_utf8_lossy(bytes).into_owned());
        Ok(())
    }

    fn refuse(&mut self, _source: &str, refusal: Refusal<'_>) -> io::Result<()> {
        self.refusals.push((refusal.line, refusal.reason, refusal.excerpt.len()));
        Ok(())
    }
}

const LIMITS: Limits = Limits {
    max_record_bytes: 64,
    max_document_bytes: 256,
    max_gzip_ratio: 100,
    max_decompressed_bytes: None,
};

/// Reads `input` through a reader with a tiny buffer, so records straddle buffer boundaries.
fn collect(input: &[u8], limits: Limits) -> Collected {
    let mut collected = Collected::default();
    let mut stream = BufReader::with_capacity(5, input);
    let result = read_records("test", &mut stream, None, limits, &mut collected);
    assert!(result.is_ok());
    collected
}

fn lines(pairs: &[(u64, &str)]) -> Vec<(u64, String)> {
    pairs.iter().map(|(line, text)| (*line, (*text).to_owned())).collect()
}

#[test]
fn json_lines_are_numbered_with_blank_lines_skipped_and_crlf_removed() {
    let collected = collect(b"{\"a\":1}\r\n\n   \n{\"b\":2}\n{\"c\":3}", LIMITS);
    assert_eq!(collected.lines, lines(&[(1, "{\"a\":1}"), (4, "{\"b\":2}"), (5, "{\"c\":3}")]));
    assert!(collected.documents.is_empty());
}

#[test]
fn a_line_over_the_cap_is_refused_and_the_next_line_still_read() {
    let long = format!("{{\"a\":\"{}\"}}", "x".repeat(500));
    let input = format!("{{\"first\":1}}\n{long}\n{{\"after\":2}}\n");
    let collected = collect(input.as_bytes(), LIMITS);
    assert_eq!(collected.lines, lines(&[(1, "{\"first\":1}"), (3, "{\"after\":2}")]));
    assert_eq!(collected.refusals, vec![(2, "record_too_large", 64)]);
}

#[test]
fn a_line_exactly_at_the_cap_is_kept() {
    let exact = format!("{{\"a\":\"{}\"}}", "x".repeat(64 - 8));
    assert_eq!(exact.len(), 64);
    let collected = collect(exact.as_bytes(), LIMITS);
    assert_eq!(collected.lines, lines(&[(1, exact.as_str())]));
}

#[test]
fn a_json_array_is_read_as_one_document() {
    let input = b"\n\n[\n  {\"a\": 1},\n  {\"b\": 2}\n]\n";
    let collected = collect(input, LIMITS);
    assert!(collected.lines.is_empty());
    assert_eq!(collected.documents, vec!["\n\n[\n  {\"a\": 1},\n  {\"b\": 2}\n]\n".to_owned()]);
}

#[test]
fn a_records_wrapper_is_a_document_pretty_or_on_one_line() {
    let pretty = collect(b"{\n  \"Records\": [\n    {\"a\": 1}\n  ]\n}\n", LIMITS);
    assert_eq!(pretty.documents.len(), 1);
    let compact = collect(b"{\"Records\":[{\"a\":1},{\"b\":2}]}", LIMITS);
    assert_eq!(compact.documents.len(), 1);
    assert_eq!(compact.documents[0].trim_end(), "{\"Records\":[{\"a\":1},{\"b\":2}]}");
    let late_key = collect(b"{\"x\":1,\"Records\":[{\"a\":1}]}\n", LIMITS);
    assert_eq!(late_key.documents.len(), 1, "a Records key after another key");
    assert!(late_key.lines.is_empty());
}

#[test]
fn a_records_wrapper_on_one_line_longer_than_the_record_cap_is_still_a_document() {
    let input = format!("{{\"Records\":[{}{{\"last\":1}}]}}", "{\"a\":1},".repeat(20));
    assert!(input.len() > LIMITS.max_record_bytes && input.len() < LIMITS.max_document_bytes);
    let mut collected = Collected::default();
    let mut stream = BufReader::with_capacity(64, input.as_bytes());
    read_records("test", &mut stream, None, LIMITS, &mut collected).unwrap();
    assert!(collected.refusals.is_empty(), "{:?}", collected.refusals);
    assert_eq!(collected.documents, vec![input]);
}

#[test]
fn a_pretty_printed_record_is_a_document() {
    let input = b"{\n  \"event_id\": \"e1\",\n  \"actor\": {\"id\": \"a\"}\n}\n";
    let collected = collect(input, LIMITS);
    assert_eq!(collected.documents.len(), 1);
    assert!(collected.documents[0].starts_with("{\n  \"event_id\""));
}

#[test]
fn json_lines_with_a_broken_first_line_stay_json_lines() {
    let input = b"{\"event_id\": \"cut off\n{\"a\":1}\n{\"b\":2}\n";
    let collected = collect(input, LIMITS);
    assert!(collected.documents.is_empty());
    assert_eq!(
        collected.lines,
        lines(&[(1, "{\"event_id\": \"cut off"), (2, "{\"a\":1}"), (3, "{\"b\":2}")])
    );
}

#[test]
fn a_document_over_the_cap_is_refused_without_reading_past_it() {
    let input = format!("[{}]", "{\"a\":1},".repeat(100));
    let collected = collect(input.as_bytes(), LIMITS);
    assert!(collected.documents.is_empty());
    assert_eq!(collected.refusals, vec![(1, "document_too_large", 257)]);
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let collected = collect(b"\xEF\xBB\xBF{\"a\":1}\n", LIMITS);
    assert_eq!(collected.lines, lines(&[(1, "{\"a\":1}")]));
}

#[test]
fn an_empty_or_blank_input_has_no_records() {
    for input in [&b""[..], b"\n\n  \t\n"] {
        let collected = collect(input, LIMITS);
        assert!(collected.lines.is_empty() && collected.documents.is_empty());
        assert!(collected.refusals.is_empty());
    }
}

#[test]
fn binary_garbage_without_newlines_is_one_refused_line() {
    let input = vec![0_u8; 10_000];
    let collected = collect(&input, LIMITS);
    assert_eq!(collected.refusals, vec![(1, "record_too_large", 64)]);
    assert!(collected.lines.is_empty());
}

fn gzip(members: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for member in members {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(member).unwrap();
        out.extend(encoder.finish().unwrap());
    }
    out
}

fn decompress_all(bytes: Vec<u8>) -> io::Result<Vec<u8>> {
    let mut reader = decompressed(Box::new(io::Cursor::new(bytes)), None, LIMITS)?;
    let mut out = Vec::new();
    reader.stream.read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn gzip_is_detected_by_its_magic_number_and_members_are_joined() {
    let compressed = gzip(&[b"{\"a\":1}\n", b"{\"b\":2}\n"]);
    assert_eq!(decompress_all(compressed).unwrap(), b"{\"a\":1}\n{\"b\":2}\n");
    assert_eq!(decompress_all(b"{\"plain\":1}\n".to_vec()).unwrap(), b"{\"plain\":1}\n");
    assert_eq!(decompress_all(vec![0x1f]).unwrap(), vec![0x1f], "one byte is not gzip");
}

#[test]
fn a_corrupt_gzip_stream_is_a_read_error() {
    let mut compressed = gzip(&[&b"{\"a\":1}\n".repeat(1000)]);
    let middle = compressed.len() / 2;
    compressed.truncate(middle);
    assert!(decompress_all(compressed).is_err());
    assert!(decompress_all(vec![0x1f, 0x8b, 0xff, 0xff, 0xff]).is_err());
}

#[test]
fn directories_are_walked_depth_first_in_name_order() {
    let root = tempfile::tempdir().unwrap();
    let make = |relative: &str| {
        let path = root.path().join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"{}\n").unwrap();
    };
    for relative in [
        "b.jsonl",
        "a/2.json",
        "a/10.json.gz",
        "c.JSON",
        ".hidden.jsonl",
        ".git/x.json",
        "notes.txt",
        "a/sub/z.jsonl",
    ] {
        make(relative);
    }
    let (sources, errors) = collect_sources(&[root.path().to_path_buf()]);
    assert!(errors.is_empty());
    let names: Vec<String> = sources
        .iter()
        .map(|source| match source {
            Source::File(path) => {
                path.strip_prefix(root.path()).unwrap().to_string_lossy().into_owned()
            }
            Source::Stdin => "-".to_owned(),
        })
        .collect();
    assert_eq!(names, ["a/10.json.gz", "a/2.json", "a/sub/z.jsonl", "b.jsonl", "c.JSON"]);
}

#[test]
fn named_files_are_read_whatever_their_extension_and_missing_ones_reported() {
    let root = tempfile::tempdir().unwrap();
    let notes = root.path().join("notes.txt");
    fs::write(&notes, b"{}\n").unwrap();
    let missing = root.path().join("missing.jsonl");
    let (sources, errors) = collect_sources(&[notes.clone(), "-".into(), missing.clone()]);
    assert_eq!(sources, [Source::File(notes), Source::Stdin]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].source_name, missing.display().to_string());
    assert_eq!(errors[0].error.kind(), io::ErrorKind::NotFound);
}

/// `members` gzip members of one MiB of line feeds each: about a thousand times smaller
/// than what they expand to.
fn gzip_bomb(members: usize) -> Vec<u8> {
    let member = gzip(&[&vec![b'\n'; 1 << 20]]);
    member.repeat(members)
}

#[test]
fn gzip_that_expands_past_the_ratio_stops_with_an_error_soon_after_the_check_starts() {
    let bomb = gzip_bomb(40);
    let mut reader = decompressed(Box::new(io::Cursor::new(bomb)), None, LIMITS).unwrap();
    let mut out = Vec::new();
    let error = reader.stream.read_to_end(&mut out).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    let message = error.to_string();
    assert!(message.contains("expands more than 100 times"), "{message}");
    assert!(message.contains("--max-gzip-ratio"), "{message}");
    let read = out.len() as u64;
    assert!(read <= RATIO_CHECKED_AFTER + (1 << 20), "stopped after {read} bytes");
}

#[test]
fn gzip_within_the_ratio_or_under_the_checked_size_is_read_whole() {
    let small_bomb = gzip_bomb(8);
    assert_eq!(decompress_all(small_bomb).unwrap().len(), 8 << 20, "under 16 MiB: no check");
    let relaxed = Limits { max_gzip_ratio: 5_000, ..LIMITS };
    let bomb = gzip_bomb(20);
    let mut reader = decompressed(Box::new(io::Cursor::new(bomb)), None, relaxed).unwrap();
    let mut out = Vec::new();
    reader.stream.read_to_end(&mut out).unwrap();
    assert_eq!(out.len(), 20 << 20);
}

#[test]
fn gzip_past_the_size_limit_stops_with_an_error() {
    let limits = Limits { max_decompressed_bytes: Some(1000), ..LIMITS };
    let compressed = gzip(&[&b"{\"a\":1}\n".repeat(1000)]);
    let mut reader = decompressed(Box::new(io::Cursor::new(compressed)), None, limits).unwrap();
    let mut out = Vec::new();
    let error = reader.stream.read_to_end(&mut out).unwrap_err();
    assert!(error.to_string().contains("more than 1000 bytes"), "{error}");
    let plain = b"{\"a\":1}\n".repeat(1000);
    let mut reader = decompressed(Box::new(io::Cursor::new(plain)), None, limits).unwrap();
    assert!(reader.stream.read_to_end(&mut Vec::new()).is_ok(), "the limit is for gzip only");
}
