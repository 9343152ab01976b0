//! Decoding: splitting input into records and turning each record into an [`Event`].
//!
//! SKELETON: the decoders helper replaces the bodies below; the signatures are the contract.

use crate::event::Event;

/// One record's bytes and where it started in its input.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    /// 1-based line of the input where the record starts.
    pub line: u64,
    /// The record's JSON text.
    pub bytes: &'a [u8],
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct DecodeError {
    /// Short, stable reason code for counting (`invalid_json`, `missing_field`, ...).
    pub reason: &'static str,
    /// Human-readable detail.
    pub detail: String,
}

/// The result of decoding one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A record that yields an event.
    Event(Box<Event>),
    /// A record that is understood but carries no event (a CloudTrail digest record).
    Skipped(&'static str),
}

/// Splits a whole input (a `{"Records": [...]}` document, a JSON array of records, or one
/// record per line) into records with their line numbers.
pub fn split_records(input: &[u8]) -> Vec<Result<RecordRef<'_>, (u64, DecodeError)>> {
    let _ = input;
    Vec::new()
}

/// Decodes one record, detecting its format (canonical, CloudTrail or OCSF).
pub fn decode_record(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let _ = bytes;
    Err(DecodeError { reason: "unimplemented", detail: String::new() })
}
