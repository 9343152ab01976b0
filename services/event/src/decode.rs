//! Decoding: splitting input into records and turning each record into an [`Event`].
//!
//! A record is detected as canonical, CloudTrail or OCSF in the same pass that decodes a
//! canonical record: the canonical reader also notes the keys that mark the other formats
//! (`eventVersion`, `eventSource`, `eventName`, `digestStartTime`, `class_uid`), and only a
//! marked record is read again with its own format's reader.
//! Every field mspwatch reads goes through a typed reader, so a key repeated in any object
//! that mspwatch reads is refused as `duplicate_key`; keys mspwatch does not read are not
//! examined beyond being valid JSON.

mod canonical;
mod cloudtrail;
mod fields;
mod ocsf;
mod split;

use serde::Deserialize;

use crate::event::Event;

pub use fields::{MAX_FIELD_BYTES, MAX_LIST_ITEMS};
pub use split::{
    for_each_line_record, for_each_record, split_line, split_records, LineRecords, SplitItem,
    MAX_RECORDS_PER_INPUT,
};

/// Largest record decoded, in bytes; larger ones are refused with `record_too_large`.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

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

impl DecodeError {
    /// An error with a reason from [`reason`] and a sentence saying what was wrong.
    pub fn new(reason: &'static str, detail: impl Into<String>) -> DecodeError {
        DecodeError { reason, detail: detail.into() }
    }
}

/// The result of decoding one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A record that yields an event.
    Event(Box<Event>),
    /// A record that is understood but carries no event (a CloudTrail digest record).
    Skipped(&'static str),
}

/// The stable codes of [`DecodeError::reason`].
pub mod reason {
    /// The record is not valid UTF-8.
    pub const INVALID_UTF8: &str = "invalid_utf8";
    /// The record is not valid JSON.
    pub const INVALID_JSON: &str = "invalid_json";
    /// The record nests arrays and objects more than 128 levels deep.
    pub const NESTING_TOO_DEEP: &str = "nesting_too_deep";
    /// One input (a document, a line or a Kafka message) holds more than
    /// [`super::MAX_RECORDS_PER_INPUT`] records; the rest are not read.
    pub const TOO_MANY_RECORDS: &str = "too_many_records";
    /// The record is valid JSON but not an object.
    pub const NOT_AN_OBJECT: &str = "not_an_object";
    /// The record is larger than [`super::MAX_RECORD_BYTES`].
    pub const RECORD_TOO_LARGE: &str = "record_too_large";
    /// The record is a whole `{"Records": [...]}` document; split it first.
    pub const RECORDS_WRAPPER: &str = "records_wrapper";
    /// A key that mspwatch reads appears twice in one object.
    pub const DUPLICATE_KEY: &str = "duplicate_key";
    /// A required field is absent, null or empty.
    pub const MISSING_FIELD: &str = "missing_field";
    /// A field has the wrong type or a value outside its set.
    pub const INVALID_FIELD: &str = "invalid_field";
    /// A string is longer than [`super::MAX_FIELD_BYTES`] or a list longer than
    /// [`super::MAX_LIST_ITEMS`].
    pub const FIELD_TOO_LONG: &str = "field_too_long";
    /// A time is not a timestamp, or lies outside 1970 to 9999.
    pub const INVALID_TIME: &str = "invalid_time";
    /// A count, byte size or epoch time is negative, fractional (counts), not finite,
    /// too large, or a string that is not a number.
    pub const INVALID_NUMBER: &str = "invalid_number";

    /// Every reason, for reports that list all of them.
    pub const ALL: [&str; 13] = [
        INVALID_UTF8,
        INVALID_JSON,
        NESTING_TOO_DEEP,
        TOO_MANY_RECORDS,
        NOT_AN_OBJECT,
        RECORD_TOO_LARGE,
        RECORDS_WRAPPER,
        DUPLICATE_KEY,
        MISSING_FIELD,
        INVALID_FIELD,
        FIELD_TOO_LONG,
        INVALID_TIME,
        INVALID_NUMBER,
    ];
}

/// The stable codes of [`Decoded::Skipped`].
pub mod skip {
    /// A CloudTrail digest record (it has `digestStartTime` and no `eventName`).
    pub const CLOUDTRAIL_DIGEST: &str = "cloudtrail_digest";
    /// An OCSF record of a class other than API Activity (6003).
    pub const OCSF_OTHER_CLASS: &str = "ocsf_other_class";
}

/// The input formats a record may be in, as detected from its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Canonical,
    CloudTrail,
    Ocsf,
    RecordsWrapper,
}

/// The keys that mark a record's format.
#[derive(Debug, Default, Deserialize)]
struct Markers {
    #[serde(rename = "eventVersion")]
    event_version: Option<serde::de::IgnoredAny>,
    #[serde(rename = "eventSource")]
    event_source: Option<serde::de::IgnoredAny>,
    #[serde(rename = "eventName")]
    event_name: Option<serde::de::IgnoredAny>,
    #[serde(rename = "digestStartTime")]
    digest_start_time: Option<serde::de::IgnoredAny>,
    class_uid: Option<serde::de::IgnoredAny>,
    #[serde(rename = "Records")]
    records: Option<serde::de::IgnoredAny>,
}

impl Markers {
    fn format(&self) -> Format {
        let cloudtrail = self.event_name.is_some()
            || self.event_source.is_some()
            || self.event_version.is_some()
            || self.digest_start_time.is_some();
        detect(self.class_uid.is_some(), cloudtrail, self.records.is_some())
    }
}

/// The format marked by the presence of `class_uid`, a CloudTrail key, or `Records`.
fn detect(class_uid: bool, cloudtrail_key: bool, records: bool) -> Format {
    if class_uid {
        Format::Ocsf
    } else if cloudtrail_key {
        Format::CloudTrail
    } else if records {
        Format::RecordsWrapper
    } else {
        Format::Canonical
    }
}

/// Decodes one record, detecting its format (canonical, CloudTrail or OCSF).
pub fn decode_record(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(DecodeError::new(
            reason::RECORD_TOO_LARGE,
            format!("record is {} bytes, more than {MAX_RECORD_BYTES}", bytes.len()),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|error| {
        DecodeError::new(
            reason::INVALID_UTF8,
            format!("record is not utf-8 after byte {}", error.valid_up_to()),
        )
    })?;
    if text.trim_start().as_bytes().first() != Some(&b'{') {
        return Err(not_an_object(text));
    }

    match serde_json::from_str::<canonical::Record<'_>>(text) {
        Ok(record) => match record.format() {
            Format::Canonical => canonical::build(record).map(|event| Decoded::Event(event.into())),
            Format::CloudTrail => cloudtrail::decode(text),
            Format::Ocsf => ocsf::decode(text),
            Format::RecordsWrapper => Err(records_wrapper()),
        },
        Err(canonical_error) => match serde_json::from_str::<Markers>(text).map(|m| m.format()) {
            Ok(Format::CloudTrail) => cloudtrail::decode(text),
            Ok(Format::Ocsf) => ocsf::decode(text),
            Ok(Format::RecordsWrapper) => Err(records_wrapper()),
            Ok(Format::Canonical) | Err(_) => Err(from_json(&canonical_error)),
        },
    }
}

/// A stable id for a record that carries none: `sha256:` and the hex digest of its bytes.
fn digest_id(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write;

    let digest = Sha256::digest(bytes);
    let mut id = String::with_capacity(7 + 2 * digest.len());
    id.push_str("sha256:");
    for byte in digest {
        let _ = write!(id, "{byte:02x}");
    }
    id
}

fn records_wrapper() -> DecodeError {
    DecodeError::new(
        reason::RECORDS_WRAPPER,
        "record is a {\"Records\": [...]} document; split it into records first",
    )
}

fn not_an_object(text: &str) -> DecodeError {
    match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Ok(_) => DecodeError::new(reason::NOT_AN_OBJECT, "record is valid json but not an object"),
        Err(error) => from_json(&error),
    }
}

/// Maps a serde_json error to a reason: syntax errors are `invalid_json`; repeated keys,
/// missing fields and wrong types get their own reasons.
pub(crate) fn from_json(error: &serde_json::Error) -> DecodeError {
    let message = error.to_string();
    if message.starts_with("invalid unicode code point") {
        return DecodeError::new(reason::INVALID_UTF8, message);
    }
    if message.starts_with("number out of range") {
        return DecodeError::new(reason::INVALID_NUMBER, message);
    }
    if message.starts_with("recursion limit exceeded") {
        let detail = format!("arrays and objects nest more than 128 levels deep ({message})");
        return DecodeError::new(reason::NESTING_TOO_DEEP, detail);
    }
    if !error.is_data() {
        return DecodeError::new(reason::INVALID_JSON, message);
    }
    let backquoted = |prefix: &str| {
        let rest = message.strip_prefix(prefix)?;
        rest.split('`').next().map(str::to_owned)
    };
    if let Some(key) = backquoted("duplicate field `") {
        let detail = format!("key `{key}` appears more than once in one object ({message})");
        return DecodeError::new(reason::DUPLICATE_KEY, detail);
    }
    if let Some(key) = backquoted("missing field `") {
        return DecodeError::new(reason::MISSING_FIELD, format!("`{key}` is missing ({message})"));
    }
    DecodeError::new(reason::INVALID_FIELD, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_past_the_parser_limit_has_a_reason_of_its_own() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let Err(error) = serde_json::from_str::<serde_json::Value>(&deep) else {
            panic!("200 levels are past the parser's limit");
        };
        let refusal = from_json(&error);
        assert_eq!(refusal.reason, reason::NESTING_TOO_DEEP);
        assert!(refusal.detail.contains("128 levels"), "{}", refusal.detail);
        assert!(reason::ALL.contains(&refusal.reason));
    }
}
