//! Cursors: stable positions in the alerts topic, as clients hold them.
//!
//! A cursor maps each partition of the alerts topic to the next offset to read there. Its text
//! form is `c1.` followed by the unpadded base64url encoding of `p<partition>:<offset>` entries
//! joined by commas, partitions ascending (`c1.` + base64url(`p0:123,p1:45`)). A partition the
//! cursor does not name is read from its start. The form is opaque to clients but stable: a
//! cursor stays valid across server restarts and across instances serving the same topic.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// The prefix of every cursor: format version 1.
const PREFIX: &str = "c1.";
/// Longest cursor text accepted.
const MAX_TEXT_LEN: usize = 64 * 1024;
/// Most partitions one cursor may name.
const MAX_PARTITIONS: usize = 4096;

/// A position in the alerts topic: the next offset to read in each partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    next_offsets: BTreeMap<i32, i64>,
}

/// Why a text is not a cursor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// The text is longer than any real cursor.
    #[error("cursor is longer than {MAX_TEXT_LEN} bytes")]
    TooLong,
    /// The text does not start with the version prefix.
    #[error("cursor does not start with `{PREFIX}`")]
    Prefix,
    /// The payload is not unpadded base64url of UTF-8 text.
    #[error("cursor payload is not base64url text")]
    Encoding,
    /// One entry is not `p<partition>:<offset>` with non-negative numbers.
    #[error("cursor entry `{0}` is not p<partition>:<offset>")]
    Entry(String),
    /// Partitions are repeated or not ascending.
    #[error("cursor partitions are not strictly ascending")]
    Order,
    /// More partitions than any topic has.
    #[error("cursor names more than {MAX_PARTITIONS} partitions")]
    TooManyPartitions,
}

impl Cursor {
    /// The next offset to read in `partition`; 0 when the cursor does not name it.
    pub fn next_offset(&self, partition: i32) -> i64 {
        self.next_offsets.get(&partition).copied().unwrap_or(0)
    }

    /// Sets the next offset to read in `partition`.
    pub fn set(&mut self, partition: i32, next_offset: i64) {
        self.next_offsets.insert(partition, next_offset);
    }

    /// Each named partition with its next offset, partitions ascending.
    pub fn partitions(&self) -> impl Iterator<Item = (i32, i64)> + '_ {
        self.next_offsets.iter().map(|(partition, offset)| (*partition, *offset))
    }

    /// True when the cursor names no partition (the start of every partition).
    pub fn is_empty(&self) -> bool {
        self.next_offsets.is_empty()
    }

    /// The text form clients hold.
    pub fn encode(&self) -> String {
        let mut plain = String::with_capacity(self.next_offsets.len() * 12);
        for (index, (partition, offset)) in self.next_offsets.iter().enumerate() {
            if index > 0 {
                plain.push(',');
            }
            plain.push_str(&format!("p{partition}:{offset}"));
        }
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(plain))
    }

    /// Parses the text form, refusing anything `encode` would not have written.
    pub fn decode(text: &str) -> Result<Cursor, CursorError> {
        if text.len() > MAX_TEXT_LEN {
            return Err(CursorError::TooLong);
        }
        let payload = text.strip_prefix(PREFIX).ok_or(CursorError::Prefix)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| CursorError::Encoding)?;
        let plain = String::from_utf8(bytes).map_err(|_| CursorError::Encoding)?;

        let mut cursor = Cursor::default();
        if plain.is_empty() {
            return Ok(cursor);
        }
        let mut previous: Option<i32> = None;
        for entry in plain.split(',') {
            if cursor.next_offsets.len() >= MAX_PARTITIONS {
                return Err(CursorError::TooManyPartitions);
            }
            let (partition, offset) = parse_entry(entry)?;
            if previous.is_some_and(|previous| partition <= previous) {
                return Err(CursorError::Order);
            }
            previous = Some(partition);
            cursor.next_offsets.insert(partition, offset);
        }
        Ok(cursor)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.encode())
    }
}

fn parse_entry(entry: &str) -> Result<(i32, i64), CursorError> {
    let bad = || CursorError::Entry(entry.chars().take(40).collect());
    let (partition, offset) =
        entry.strip_prefix('p').and_then(|rest| rest.split_once(':')).ok_or_else(bad)?;
    let partition = parse_non_negative::<i32>(partition).ok_or_else(bad)?;
    let offset = parse_non_negative::<i64>(offset).ok_or_else(bad)?;
    Ok((partition, offset))
}

/// Parses plain decimal digits only: no sign, no spaces, no leading zeros except `0` itself.
fn parse_non_negative<T: std::str::FromStr>(digits: &str) -> Option<T> {
    let canonical = !digits.is_empty()
        && digits.bytes().all(|byte| byte.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(entries: &[(i32, i64)]) -> Cursor {
        let mut cursor = Cursor::default();
        for (partition, offset) in entries {
            cursor.set(*partition, *offset);
        }
        cursor
    }

    #[test]
    fn cursors_survive_encoding() {
        for entries in [&[][..], &[(0, 0)], &[(0, 123), (1, 45), (17, i64::MAX)]] {
            let original = cursor(entries);
            assert_eq!(Cursor::decode(&original.encode()), Ok(original));
        }
    }

    #[test]
    fn encoded_form_is_documented_payload() {
        let text = cursor(&[(0, 123), (1, 45)]).encode();
        let payload = text.strip_prefix("c1.").map(|payload| URL_SAFE_NO_PAD.decode(payload));
        assert_eq!(payload, Some(Ok(b"p0:123,p1:45".to_vec())));
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let encode = |plain: &str| format!("c1.{}", URL_SAFE_NO_PAD.encode(plain));
        assert_eq!(Cursor::decode("hello"), Err(CursorError::Prefix));
        assert_eq!(Cursor::decode("c1.***"), Err(CursorError::Encoding));
        assert_eq!(Cursor::decode(&"c1.A".repeat(20_000)), Err(CursorError::TooLong));
        for bad in ["p0", "p-1:3", "p0:-3", "q0:1", "p0:01", "p0: 1", "p99999999999:1", "p0:1,"] {
            assert!(
                matches!(Cursor::decode(&encode(bad)), Err(CursorError::Entry(_))),
                "{bad} was accepted"
            );
        }
        assert_eq!(Cursor::decode(&encode("p1:1,p0:1")), Err(CursorError::Order));
        assert_eq!(Cursor::decode(&encode("p1:1,p1:2")), Err(CursorError::Order));
    }

    #[test]
    fn too_many_partitions_are_refused() {
        let plain: Vec<String> =
            (0..=MAX_PARTITIONS).map(|partition| format!("p{partition}:0")).collect();
        let text = format!("c1.{}", URL_SAFE_NO_PAD.encode(plain.join(",")));
        assert_eq!(Cursor::decode(&text), Err(CursorError::TooManyPartitions));
    }

    #[test]
    fn unnamed_partitions_start_at_zero() {
        assert_eq!(cursor(&[(1, 9)]).next_offset(0), 0);
        assert_eq!(cursor(&[(1, 9)]).next_offset(1), 9);
    }
}
