//! Fuzzes `split_records` and `split_line`: no input may panic, every record is a slice of
//! the input at a line that exists, and each record then decodes without panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mspwatch_event::decode::{decode_record, split_line, split_records, RecordRef};

fn check(input: &[u8], record: &RecordRef<'_>, lines: u64) {
    let start = (record.bytes.as_ptr() as usize).wrapping_sub(input.as_ptr() as usize);
    assert!(start <= input.len() && record.bytes.len() <= input.len() - start);
    assert!((1..=lines).contains(&record.line), "line {} of {lines}", record.line);
    let _ = decode_record(record.bytes);
}

fuzz_target!(|data: &[u8]| {
    let lines = 1 + data.iter().filter(|&&byte| byte == b'\n').count() as u64;
    for item in split_records(data) {
        match item {
            Ok(record) => check(data, &record, lines),
            Err((line, _)) => assert!((1..=lines).contains(&line), "line {line} of {lines}"),
        }
    }
    for (line_no, line) in (1..).zip(data.split(|&byte| byte == b'\n')) {
        for record in split_line(line, line_no).flatten() {
            assert_eq!(record.line, line_no);
            check(data, &record, lines);
        }
    }
});
