//! The checkpoint file layout: a fixed header naming what the state belongs to and where it
//! resumes, the detector's bytes, and a CRC-32 over everything before it.
//!
//! ```text
//! magic        8 bytes   "MSPWCKPT"
//! version      u32 LE    FRAME_VERSION
//! group        u16 LE length, then UTF-8 bytes
//! topic        u16 LE length, then UTF-8 bytes
//! partition    i32 LE
//! next_offset  i64 LE    the first offset the state has not seen
//! written_ms   i64 LE    wall-clock time of writing, epoch milliseconds
//! length       u64 LE    length of the state that follows
//! state        `length` bytes
//! crc32        u32 LE    CRC-32 (IEEE) of every byte above
//! ```
//!
//! A file cut short anywhere, or with any byte changed, fails the length or CRC check.

use crate::detector::PartitionId;

/// The first bytes of every checkpoint file.
pub(crate) const MAGIC: &[u8; 8] = b"MSPWCKPT";

/// The file layout this build writes and reads.
pub(crate) const FRAME_VERSION: u32 = 1;

/// A decoded checkpoint file, borrowed from its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub group: &'a str,
    pub topic: &'a str,
    pub partition: i32,
    pub next_offset: i64,
    pub written_ms: i64,
    pub state: &'a [u8],
}

/// Why bytes are not a usable checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Cut short: an interrupted write, or a file truncated later.
    #[error("torn: {0}")]
    Torn(String),
    /// The bytes are whole but wrong: not a checkpoint, or damaged.
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// A checkpoint of another file layout.
    #[error("file layout version {found} is not supported (expected {expected})")]
    Version {
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
}

/// The bytes of a checkpoint file for `state`.
pub(crate) fn encode(frame: &Frame<'_>) -> Vec<u8> {
    let fixed = MAGIC.len() + 4 + 2 + 2 + 4 + 8 + 8 + 8 + 4;
    let mut bytes =
        Vec::with_capacity(fixed + frame.group.len() + frame.topic.len() + frame.state.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FRAME_VERSION.to_le_bytes());
    put_text(&mut bytes, frame.group);
    put_text(&mut bytes, frame.topic);
    bytes.extend_from_slice(&frame.partition.to_le_bytes());
    bytes.extend_from_slice(&frame.next_offset.to_le_bytes());
    bytes.extend_from_slice(&frame.written_ms.to_le_bytes());
    bytes.extend_from_slice(&(frame.state.len() as u64).to_le_bytes());
    bytes.extend_from_slice(frame.state);
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// Texts longer than a length prefix can say are cut; group and topic names are far shorter.
fn put_text(bytes: &mut Vec<u8>, text: &str) {
    let mut end = text.len().min(usize::from(u16::MAX));
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = text.get(..end).unwrap_or_default();
    bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
}

/// Decodes and checks a checkpoint file.
pub(crate) fn decode(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    let mut reader = Reader { bytes, at: 0 };
    let magic = reader.take(MAGIC.len(), "magic")?;
    if magic != MAGIC {
        return Err(FrameError::Corrupt("not a checkpoint file (bad magic)".to_owned()));
    }
    let version = u32::from_le_bytes(reader.array("version")?);
    if version != FRAME_VERSION {
        return Err(FrameError::Version { found: version, expected: FRAME_VERSION });
    }
    let group = reader.text("group")?;
    let topic = reader.text("topic")?;
    let partition = i32::from_le_bytes(reader.array("partition")?);
    let next_offset = i64::from_le_bytes(reader.array("next offset")?);
    let written_ms = i64::from_le_bytes(reader.array("time written")?);
    let length = u64::from_le_bytes(reader.array("state length")?);
    let length = usize::try_from(length)
        .map_err(|_| FrameError::Corrupt(format!("state length {length} is impossible")))?;
    let state = reader.take(length, "state")?;
    let covered = reader.at;
    let stored = u32::from_le_bytes(reader.array("checksum")?);
    if reader.at != bytes.len() {
        let extra = bytes.len() - reader.at;
        return Err(FrameError::Corrupt(format!("{extra} unexpected bytes after the checksum")));
    }
    let computed = crc32fast::hash(bytes.get(..covered).unwrap_or_default());
    if computed != stored {
        return Err(FrameError::Corrupt(format!(
            "checksum {computed:08x} does not match the stored {stored:08x}"
        )));
    }
    if next_offset < 0 || partition < 0 {
        return Err(FrameError::Corrupt(format!(
            "impossible position: partition {partition}, offset {next_offset}"
        )));
    }
    Ok(Frame { group, topic, partition, next_offset, written_ms, state })
}

impl Frame<'_> {
    /// Whether the frame belongs to `partition` of `group`.
    pub(crate) fn belongs_to(&self, group: &str, partition: &PartitionId) -> bool {
        self.group == group
            && self.topic == &*partition.topic
            && self.partition == partition.partition
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, length: usize, what: &str) -> Result<&'a [u8], FrameError> {
        let end = self.at.checked_add(length).filter(|end| *end <= self.bytes.len());
        let Some(end) = end else {
            return Err(FrameError::Torn(format!(
                "{} bytes end inside the {what}",
                self.bytes.len()
            )));
        };
        let taken = self.bytes.get(self.at..end).unwrap_or_default();
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], FrameError> {
        let taken = self.take(N, what)?;
        let mut array = [0u8; N];
        array.copy_from_slice(taken);
        Ok(array)
    }

    fn text(&mut self, what: &str) -> Result<&'a str, FrameError> {
        let length = u16::from_le_bytes(self.array(what)?);
        let bytes = self.take(usize::from(length), what)?;
        std::str::from_utf8(bytes)
            .map_err(|_| FrameError::Corrupt(format!("the {what} is not UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(state: &[u8]) -> Vec<u8> {
        encode(&Frame {
            group: "detectors",
            topic: "mspwatch.audit",
            partition: 3,
            next_offset: 1234,
            written_ms: 1_793_610_000_000,
            state,
        })
    }

    #[test]
    fn a_frame_reads_back_as_written() {
        let bytes = sample(b"engine state");
        let frame = decode(&bytes).unwrap();
        assert_eq!(frame.group, "detectors");
        assert_eq!(frame.topic, "mspwatch.audit");
        assert_eq!((frame.partition, frame.next_offset), (3, 1234));
        assert_eq!(frame.state, b"engine state");
        assert!(frame.belongs_to("detectors", &PartitionId::new("mspwatch.audit", 3)));
        assert!(!frame.belongs_to("detectors", &PartitionId::new("mspwatch.audit", 4)));
        assert!(!frame.belongs_to("others", &PartitionId::new("mspwatch.audit", 3)));
    }

    #[test]
    fn every_truncation_is_detected_as_torn() {
        let bytes = sample(&[7u8; 300]);
        for length in 0..bytes.len() {
            let cut = bytes.get(..length).unwrap();
            assert!(
                matches!(decode(cut), Err(FrameError::Torn(_))),
                "cut at {length}: {:?}",
                decode(cut)
            );
        }
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let bytes = sample(&[7u8; 64]);
        for index in 0..bytes.len() {
            let mut damaged = bytes.clone();
            if let Some(byte) = damaged.get_mut(index) {
                *byte ^= 0x5a;
            }
            assert!(decode(&damaged).is_err(), "flipping byte {index} went unnoticed");
        }
    }

    #[test]
    fn another_layout_version_is_refused_by_number() {
        let mut bytes = sample(b"x");
        if let Some(byte) = bytes.get_mut(8) {
            *byte = 9;
        }
        assert_eq!(decode(&bytes), Err(FrameError::Version { found: 9, expected: 1 }));
    }

    #[test]
    fn bytes_after_the_checksum_are_refused() {
        let mut bytes = sample(b"x");
        bytes.push(0);
        assert!(matches!(decode(&bytes), Err(FrameError::Corrupt(_))));
    }
}
