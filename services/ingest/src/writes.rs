//! Writes caused by consumed messages: alert versions and dead letters, with the tag that
//! ties each one back to the offset whose commit waits for it.

use std::time::Instant;

use mspwatch_alert::Alert;
use rdkafka::message::{Header, OwnedHeaders};

use crate::detector::PartitionId;

/// Header: the topic the rejected record was read from.
pub const HEADER_SOURCE_TOPIC: &str = "mspwatch-source-topic";
/// Header: the partition the rejected record was read from.
pub const HEADER_SOURCE_PARTITION: &str = "mspwatch-source-partition";
/// Header: the offset of the message that held the rejected record.
pub const HEADER_SOURCE_OFFSET: &str = "mspwatch-source-offset";
/// Header: the reject reason code (`invalid_json`, `missing_field`, ...).
pub const HEADER_REASON: &str = "mspwatch-reason";
/// Header: a human-readable detail, cut to [`MAX_DETAIL_BYTES`].
pub const HEADER_DETAIL: &str = "mspwatch-detail";
/// Header: the 1-based line of the record within the message, when it has several.
pub const HEADER_SOURCE_LINE: &str = "mspwatch-source-line";
/// Header: present (`true`) when the payload was cut to `dead_letter_max_bytes`.
pub const HEADER_TRUNCATED: &str = "mspwatch-truncated";

/// Longest detail header.
pub const MAX_DETAIL_BYTES: usize = 1024;

/// What a write is, for metrics and the durable-alert callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteKind {
    /// One alert version.
    Alert {
        /// The alert's stable id.
        id: String,
        /// The version.
        version: u32,
    },
    /// One rejected record.
    DeadLetter,
}

impl WriteKind {
    /// `alert` or `dead_letter`, for metric labels.
    pub fn label(&self) -> &'static str {
        match self {
            WriteKind::Alert { .. } => "alert",
            WriteKind::DeadLetter => "dead_letter",
        }
    }
}

/// Ties a write to the consumed message that caused it.
#[derive(Debug, Clone)]
pub struct WriteTag {
    /// The consumed partition.
    pub source: PartitionId,
    /// The assignment generation of that partition when the message was processed.
    pub generation: u64,
    /// The consumed message's offset.
    pub offset: i64,
    /// What is written.
    pub kind: WriteKind,
}

/// A write ready to hand to the producer.
#[derive(Debug)]
pub struct Write {
    /// The destination topic.
    pub topic: String,
    /// The record key.
    pub key: Option<Vec<u8>>,
    /// The record value.
    pub payload: Vec<u8>,
    /// Record headers.
    pub headers: Option<OwnedHeaders>,
    /// What it is and what offset waits for it.
    pub tag: WriteTag,
    /// Earliest time to try it (for writes queued again after a failure).
    pub not_before: Option<Instant>,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// An alert version as a write to the alerts topic: JSON, keyed by the alert id.
pub fn alert_write(topic: &str, alert: &Alert, tag_base: (PartitionId, u64, i64)) -> Option<Write> {
    let payload = match serde_json::to_vec(alert) {
        Ok(payload) => payload,
        Err(error) => {
            tracing::error!(alert_id = %alert.id, error = %error, "alert cannot be serialized");
            return None;
        }
    };
    let (source, generation, offset) = tag_base;
    Some(Write {
        topic: topic.to_owned(),
        key: Some(alert.id.as_bytes().to_vec()),
        payload,
        headers: None,
        tag: WriteTag {
            source,
            generation,
            offset,
            kind: WriteKind::Alert { id: alert.id.clone(), version: alert.version },
        },
        not_before: None,
        attempts: 0,
    })
}

/// Where a rejected record came from and why it was rejected.
#[derive(Debug, Clone)]
pub struct Rejection<'a> {
    /// The consumed partition.
    pub source: &'a PartitionId,
    /// The assignment generation.
    pub generation: u64,
    /// The consumed message's offset.
    pub offset: i64,
    /// The line of the record within the message, when known.
    pub line: Option<u64>,
    /// Reason code.
    pub reason: &'a str,
    /// Detail.
    pub detail: &'a str,
}

/// A rejected record as a write to the dead-letter topic: the original bytes (cut to
/// `max_bytes`), the source message's key, and the source position and reason in headers.
pub fn dead_letter_write(
    topic: &str,
    rejection: &Rejection<'_>,
    key: Option<&[u8]>,
    payload: &[u8],
    max_bytes: usize,
) -> Write {
    let truncated = payload.len() > max_bytes;
    let payload = payload.get(..max_bytes).unwrap_or(payload).to_vec();
    let partition = rejection.source.partition.to_string();
    let offset = rejection.offset.to_string();
    let detail = cut_to_char_boundary(rejection.detail, MAX_DETAIL_BYTES);
    let mut headers = OwnedHeaders::new()
        .insert(Header { key: HEADER_SOURCE_TOPIC, value: Some(&*rejection.source.topic) })
        .insert(Header { key: HEADER_SOURCE_PARTITION, value: Some(&partition) })
        .insert(Header { key: HEADER_SOURCE_OFFSET, value: Some(&offset) })
        .insert(Header { key: HEADER_REASON, value: Some(rejection.reason) })
        .insert(Header { key: HEADER_DETAIL, value: Some(detail) });
    if let Some(line) = rejection.line {
        headers =
            headers.insert(Header { key: HEADER_SOURCE_LINE, value: Some(&line.to_string()) });
    }
    if truncated {
        headers = headers.insert(Header { key: HEADER_TRUNCATED, value: Some("true") });
    }
    Write {
        topic: topic.to_owned(),
        key: key.map(<[u8]>::to_vec),
        payload,
        headers: Some(headers),
        tag: WriteTag {
            source: rejection.source.clone(),
            generation: rejection.generation,
            offset: rejection.offset,
            kind: WriteKind::DeadLetter,
        },
        not_before: None,
        attempts: 0,
    }
}

fn cut_to_char_boundary(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Headers;

    fn header(headers: &OwnedHeaders, key: &str) -> Option<String> {
        headers
            .iter()
            .find(|header| header.key == key)
            .and_then(|header| header.value)
            .map(|value| String::from_utf8_lossy(value).into_owned())
    }

    #[test]
    fn dead_letter_carries_source_position_reason_and_original_bytes() {
        let source = PartitionId::new("audit", 3);
        let rejection = Rejection {
            source: &source,
            generation: 1,
            offset: 42,
            line: Some(2),
            reason: "invalid_json",
            detail: "expected value at column 1",
        };
        let write = dead_letter_write("dlq", &rejection, Some(b"msp-a"), b"{not json", 1024);
        let headers = write.headers.as_ref().unwrap();
        assert_eq!(header(headers, HEADER_SOURCE_TOPIC).as_deref(), Some("audit"));
        assert_eq!(header(headers, HEADER_SOURCE_PARTITION).as_deref(), Some("3"));
        assert_eq!(header(headers, HEADER_SOURCE_OFFSET).as_deref(), Some("42"));
        assert_eq!(header(headers, HEADER_REASON).as_deref(), Some("invalid_json"));
        assert_eq!(header(headers, HEADER_SOURCE_LINE).as_deref(), Some("2"));
        assert_eq!(header(headers, HEADER_TRUNCATED), None);
        assert_eq!(write.payload, b"{not json");
        assert_eq!(write.key.as_deref(), Some(&b"msp-a"[..]));
        assert_eq!(write.tag.offset, 42);
    }

    #[test]
    fn oversized_dead_letter_is_cut_and_marked() {
        let source = PartitionId::new("audit", 0);
        let detail = "é".repeat(2000);
        let rejection = Rejection {
            source: &source,
            generation: 1,
            offset: 0,
            line: None,
            reason: "too_large",
            detail: &detail,
        };
        let write = dead_letter_write("dlq", &rejection, None, &[b'x'; 5000], 100);
        assert_eq!(write.payload.len(), 100);
        let headers = write.headers.as_ref().unwrap();
        assert_eq!(header(headers, HEADER_TRUNCATED).as_deref(), Some("true"));
        assert!(header(headers, HEADER_DETAIL).unwrap().len() <= MAX_DETAIL_BYTES);
    }
}
