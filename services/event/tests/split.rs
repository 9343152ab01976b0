//! Splitting inputs into records: Records documents, arrays, JSON lines, and the line-by-line
//! streaming entry point.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions panic on broken fixtures

mod common;

use mspwatch_event::decode::{
    decode_record, for_each_line_record, for_each_record, split_line, split_records, Decoded,
    SplitItem, MAX_RECORDS_PER_INPUT,
};

/// (line, record text) for a framed record, (line, reason) for an error.
type Frame = Result<(u64, String), (u64, &'static str)>;

fn frames(items: Vec<SplitItem<'_>>) -> Vec<Frame> {
    items
        .into_iter()
        .map(|item| match item {
            Ok(record) => Ok((record.line, String::from_utf8(record.bytes.to_vec()).unwrap())),
            Err((line, error)) => Err((line, error.reason)),
        })
        .collect()
}

fn ok(line: u64, text: &str) -> Frame {
    Ok((line, text.to_owned()))
}

#[test]
fn pretty_records_document_yields_each_record_at_its_line() {
    let input = b"{\"Records\": [\n  {\"a\": 1},\n\n  {\"b\": {\n    \"c\": 2}}\n]}\n";
    assert_eq!(
        frames(split_records(input)),
        [ok(2, "{\"a\": 1}"), ok(4, "{\"b\": {\n    \"c\": 2}}")]
    );
}

#[test]
fn records_document_on_one_line_is_expanded() {
    let input = br#"{"Records":[{"a":1},{"b":2}],"extra":true}"#;
    assert_eq!(frames(split_records(input)), [ok(1, r#"{"a":1}"#), ok(1, r#"{"b":2}"#)]);
}

#[test]
fn top_level_arrays_pretty_or_on_one_line_yield_their_elements() {
    let pretty = b"[\n   {\n      \"a\": 1\n   },\n   {\"b\": 2}\n]";
    assert_eq!(
        frames(split_records(pretty)),
        [ok(2, "{\n      \"a\": 1\n   }"), ok(5, "{\"b\": 2}")]
    );
    let one_line = br#"[{"a":1}, {"b":2}]"#;
    assert_eq!(frames(split_records(one_line)), [ok(1, r#"{"a":1}"#), ok(1, r#"{"b":2}"#)]);
}

#[test]
fn json_lines_skip_blank_lines_and_a_bad_line_does_not_stop_the_rest() {
    let input = b"{\"a\":1}\n\n   \n{\"b\":2\n{\"c\":3}\r\n{\"Records\":[{\"d\":4},{\"e\":5}]}\n";
    assert_eq!(
        frames(split_records(input)),
        [
            ok(1, r#"{"a":1}"#),
            Err((4, "invalid_json")),
            ok(5, r#"{"c":3}"#),
            ok(6, r#"{"d":4}"#),
            ok(6, r#"{"e":5}"#),
        ]
    );
}

#[test]
fn json_lines_whose_first_line_is_broken_are_still_read_line_by_line() {
    let input = b"{\"event_id\": \"x\", \"ti\n{\"b\":2}\n{\"c\":3}\n";
    assert_eq!(
        frames(split_records(input)),
        [Err((1, "invalid_json")), ok(2, r#"{"b":2}"#), ok(3, r#"{"c":3}"#)]
    );
}

#[test]
fn lines_that_are_not_objects_pass_to_the_decoder_which_names_the_problem() {
    let input = b"{\"a\":1}\nhello\n42\n";
    let items = split_records(input);
    let reasons: Vec<_> = items
        .into_iter()
        .map(|item| decode_record(item.unwrap().bytes).err().map(|error| error.reason))
        .collect();
    assert_eq!(reasons, [Some("missing_field"), Some("invalid_json"), Some("not_an_object")]);
}

#[test]
fn one_pretty_printed_record_is_one_record() {
    let input = b"\n\n{\n  \"event_id\": \"x\",\n  \"time\": 1\n}\n";
    assert_eq!(
        frames(split_records(input)),
        [ok(3, "{\n  \"event_id\": \"x\",\n  \"time\": 1\n}")]
    );
}

#[test]
fn concatenated_documents_are_all_read() {
    let input = b"[\n  {\"a\": 1}\n][\n  {\"b\": 2}\n]\n{\"Records\": [\n  {\"c\": 3}\n]}";
    assert_eq!(
        frames(split_records(input)),
        [ok(2, r#"{"a": 1}"#), ok(4, r#"{"b": 2}"#), ok(7, r#"{"c": 3}"#)]
    );
}

#[test]
fn a_truncated_document_keeps_the_records_before_the_error() {
    let input = b"{\"Records\": [\n  {\"a\": 1},\n  {\"b\": 2},\n  {\"c\": ";
    assert_eq!(
        frames(split_records(input)),
        [ok(2, r#"{"a": 1}"#), ok(3, r#"{"b": 2}"#), Err((4, "invalid_json"))]
    );
    let input = b"[\n  {\"a\": 1},\n  {\"b\" 2}\n]";
    assert_eq!(frames(split_records(input)), [ok(2, r#"{"a": 1}"#), Err((3, "invalid_json"))]);
}

#[test]
fn a_byte_order_mark_and_crlf_line_ends_are_accepted() {
    let input = b"\xEF\xBB\xBF{\"a\":1}\r\n{\"b\":2}\r\n";
    assert_eq!(frames(split_records(input)), [ok(1, r#"{"a":1}"#), ok(2, r#"{"b":2}"#)]);
    let input = b"\xEF\xBB\xBF[\r\n {\"a\":1}\r\n]";
    assert_eq!(frames(split_records(input)), [ok(2, r#"{"a":1}"#)]);
}

#[test]
fn empty_and_blank_inputs_yield_nothing() {
    assert!(split_records(b"").is_empty());
    assert!(split_records(b" \n\n\t\n").is_empty());
    assert!(split_records(b"[]").is_empty());
    assert!(split_records(b"{\"Records\": []}").is_empty());
}

#[test]
fn invalid_utf8_inside_a_document_is_reported_at_its_line() {
    let input = b"[\n {\"a\": 1},\n {\"b\": \"\xFF\"}\n]";
    let frames = frames(split_records(input));
    assert_eq!(frames[0], ok(2, r#"{"a": 1}"#));
    assert_eq!(frames[1], Err((3, "invalid_utf8")));
}

#[test]
fn split_line_streams_one_line_at_a_time() {
    let plain: Vec<_> = split_line(b"  {\"a\":1}  \r", 7).collect();
    assert_eq!(frames(plain), [ok(7, r#"{"a":1}"#)]);
    let wrapper: Vec<_> = split_line(br#"{"Records":[{"a":1},{"b":2}]}"#, 3).collect();
    assert_eq!(frames(wrapper), [ok(3, r#"{"a":1}"#), ok(3, r#"{"b":2}"#)]);
    let array: Vec<_> = split_line(br#"[{"a":1},{"b":2}]"#, 4).collect();
    assert_eq!(frames(array), [ok(4, r#"{"a":1}"#), ok(4, r#"{"b":2}"#)]);
    assert_eq!(split_line(b"   ", 5).count(), 0);
    let truncated: Vec<_> = split_line(br#"{"a":"#, 6).collect();
    assert_eq!(frames(truncated), [Err((6, "invalid_json"))]);
    let mentions: Vec<_> = split_line(br#"{"user_agent":"\"Records\" tool"}"#, 8).collect();
    assert_eq!(frames(mentions), [ok(8, r#"{"user_agent":"\"Records\" tool"}"#)]);
}

#[test]
fn every_record_of_the_lines_sample_splits_like_split_line_does() {
    let input = std::fs::read(common::shared_dir().join("samples/cloudtrail-lines.jsonl")).unwrap();
    let whole = frames(split_records(&input));
    let streamed: Vec<_> = (1..)
        .zip(input.split(|&byte| byte == b'\n'))
        .flat_map(|(line_no, line)| frames(split_line(line, line_no).collect()))
        .collect();
    assert_eq!(whole, streamed);
    assert_eq!(whole.len(), 4);
    let skipped = whole
        .iter()
        .filter(|frame| {
            let text = &frame.as_ref().unwrap().1;
            decode_record(text.as_bytes()).unwrap() == Decoded::Skipped("cloudtrail_digest")
        })
        .count();
    assert_eq!(skipped, 1);
}

/// What `for_each_record` hands over, collected.
fn streamed(input: &[u8]) -> Vec<Frame> {
    let mut items = Vec::new();
    for_each_record(input, &mut |item| items.push(item));
    frames(items)
}

#[test]
fn streaming_a_whole_input_gives_what_splitting_it_gives() {
    let inputs: [&[u8]; 9] = [
        b"{\"Records\": [\n  {\"a\": 1},\n\n  {\"b\": 2}\n]}\n",
        br#"{"Records":[{"a":1},{"b":2}],"extra":true}"#,
        b"[\n {\"a\": 1},\n {\"b\" 2}\n]",
        b"{\"a\":1}\n\n{\"b\":2\n{\"c\":3}\r\n{\"Records\":[{\"d\":4},{\"e\":5}]}\n",
        b"{\n  \"a\": 1\n}\n[\n {\"b\": 2}\n]\n{\"c\": 3}",
        b"{\"broken\": \n{\"a\":1}\n{\"b\":2}\n",
        b"[\n {\"a\": 1},\n {\"b\": \"\xFF\"}\n]",
        br#"{"Records":[{"a":1}],"Records":[{"b":2}]}"#,
        b"\xEF\xBB\xBF[\r\n {\"a\":1}\r\n]",
    ];
    for input in inputs {
        assert_eq!(streamed(input), frames(split_records(input)), "{}", input.escape_ascii());
    }
    let sample =
        std::fs::read(common::shared_dir().join("samples/cloudtrail-lines.jsonl")).unwrap();
    assert_eq!(streamed(&sample), frames(split_records(&sample)));
}

#[test]
fn a_records_key_given_twice_makes_the_document_one_record_for_the_decoder() {
    let input = b"{\"Records\": [{\"a\": 1}],\n \"Records\": [{\"b\": 2}]}";
    let whole = std::str::from_utf8(input).unwrap();
    assert_eq!(streamed(input), [ok(1, whole)]);
}

#[test]
fn streaming_a_line_gives_what_splitting_it_gives() {
    let lines: [&[u8]; 5] = [
        br#"{"Records":[{"a":1},{"b":2}]}"#,
        br#"[{"a":1},{"b":2}"#,
        br#"{"a":"#,
        b"   ",
        br#"{"a":1}"#,
    ];
    for line in lines {
        let mut items = Vec::new();
        for_each_line_record(line, 9, &mut |item| items.push(item));
        assert_eq!(frames(items), frames(split_line(line, 9).collect()));
    }
}

/// `[1,1,...,1]` with `count` elements: three bytes a record, where each collected record
/// takes tens of bytes.
fn tiny_records(count: usize) -> Vec<u8> {
    let mut input = b"[".to_vec();
    input.extend(std::iter::repeat_n(&b"1,"[..], count.saturating_sub(1)).flatten());
    input.extend_from_slice(b"1]");
    input
}

#[test]
fn collecting_stops_at_the_record_limit_with_one_error_and_streaming_does_not() {
    let input = tiny_records(MAX_RECORDS_PER_INPUT + 5);
    let items = split_records(&input);
    assert_eq!(items.len(), MAX_RECORDS_PER_INPUT + 1);
    let Some(Err((line, error))) = items.last() else { panic!("the last item is the error") };
    assert_eq!((*line, error.reason), (1, "too_many_records"));
    assert!(error.detail.contains("1000000"), "{}", error.detail);
    assert_eq!(split_line(&input, 4).count(), MAX_RECORDS_PER_INPUT + 1);

    let mut count = 0;
    for_each_record(&input, &mut |item| {
        assert!(item.is_ok());
        count += 1;
    });
    assert_eq!(count, MAX_RECORDS_PER_INPUT + 5);
}
