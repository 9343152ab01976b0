//! The engine's memory budget: a byte limit shared by the engines made with it, split per map,
//! and the accounting of approximate bytes that each map keeps as entries come and go.
//!
//! Every map of the engine knows the bytes of its hash table exactly and keeps a running sum of
//! the heap bytes its keys and values own: real string lengths, and the capacity of nested
//! tables and vectors. When a map is over its budget, its least recently active entries are
//! evicted. Held events are not evicted: when the reorder buffer is over its budget, the oldest
//! held events are evaluated early.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A number of bytes, written in configuration as `512MiB`, `64KiB`, `2GiB` or a plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The number of bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

/// Why a size could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a size ({why}; expected e.g. 512MiB, 64KiB, 2GiB or 1048576)")]
pub struct ByteSizeError {
    text: String,
    why: &'static str,
}

impl FromStr for ByteSize {
    type Err = ByteSizeError;

    fn from_str(text: &str) -> Result<ByteSize, ByteSizeError> {
        let trimmed = text.trim();
        let error = |why| ByteSizeError { text: text.to_owned(), why };
        let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
        let (digits, unit) = trimmed.split_at(split);
        let number: u64 = digits.parse().map_err(|_| error("no number"))?;
        let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            _ => return Err(error("unknown unit")),
        };
        number.checked_mul(multiplier).map(ByteSize).ok_or_else(|| error("too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 4] =
            [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
        for (unit, size) in UNITS {
            if self.0 >= size && self.0 % size == 0 {
                return write!(formatter, "{}{unit}", self.0 / size);
            }
        }
        write!(formatter, "{}", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ByteSize, D::Error> {
        struct SizeVisitor;
        impl serde::de::Visitor<'_> for SizeVisitor {
            type Value = ByteSize;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a size such as \"512MiB\", or a number of bytes")
            }

            fn visit_u64<E: serde::de::Error>(self, bytes: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(bytes))
            }

            fn visit_i64<E: serde::de::Error>(self, bytes: i64) -> Result<ByteSize, E> {
                u64::try_from(bytes)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ByteSize, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

/// A memory limit shared by every engine made with a clone of it: each engine keeps its state
/// within an equal share, the limit divided by the number of engines alive.
///
/// The live service makes one engine per assigned partition from one configuration, so the
/// engines of one process share `[detector] memory_limit` equally, and the share of each grows
/// or shrinks as partitions are assigned or revoked.
#[derive(Clone)]
pub struct MemoryLimit {
    shared: Arc<SharedLimit>,
}

struct SharedLimit {
    bytes: u64,
    engines: AtomicUsize,
}

impl MemoryLimit {
    /// A limit of `bytes` for all the engines made with it together.
    pub fn new(bytes: ByteSize) -> MemoryLimit {
        MemoryLimit {
            shared: Arc::new(SharedLimit { bytes: bytes.bytes(), engines: AtomicUsize::new(0) }),
        }
    }

    /// The whole limit.
    pub fn bytes(&self) -> u64 {
        self.shared.bytes
    }

    /// Engines sharing the limit right now.
    pub fn engines(&self) -> usize {
        self.shared.engines.load(Ordering::Relaxed)
    }

    /// One engine's share: the limit divided by the engines alive (at least one).
    pub fn share(&self) -> u64 {
        self.bytes() / self.engines().max(1) as u64
    }
}

/// Shows the limit alone, not how many engines share it now, so that the engine settings
/// print the same whatever the number of partitions.
impl fmt::Debug for MemoryLimit {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "MemoryLimit({})", ByteSize(self.bytes()))
    }
}

/// One engine's membership in a shared limit: counted while it lives.
#[derive(Debug)]
pub(crate) struct Membership {
    limit: MemoryLimit,
}

impl Membership {
    pub(crate) fn join(limit: MemoryLimit) -> Membership {
        limit.shared.engines.fetch_add(1, Ordering::Relaxed);
        Membership { limit }
    }

    /// This engine's share now.
    pub(crate) fn share(&self) -> u64 {
        self.limit.share()
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.limit.shared.engines.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Parts of an engine's share given to each kind of state, in percent. The rest (30%) is left
/// for what accounting does not see: memory the allocator holds free after evictions, tables
/// being resized, the decoder's buffers, alerts on their way out, and the program itself.
pub(crate) mod percent {
    /// Credential baselines.
    pub(crate) const CREDENTIALS: u64 = 22;
    /// Tenant baselines.
    pub(crate) const TENANTS: u64 = 11;
    /// MSP baselines.
    pub(crate) const MSPS: u64 = 2;
    /// Remembered event ids, for de-duplication.
    pub(crate) const EVENT_IDS: u64 = 5;
    /// Rule state (windows, sequence progress, first-seen memory), split among the rules.
    pub(crate) const RULE_STATE: u64 = 18;
    /// Open incidents, split among the rules.
    pub(crate) const INCIDENTS: u64 = 6;
    /// Events held for reordering.
    pub(crate) const HELD_EVENTS: u64 = 6;
}

/// The byte budget of each kind of state, from one engine's share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budgets {
    pub(crate) credentials: usize,
    pub(crate) tenants: usize,
    pub(crate) msps: usize,
    pub(crate) event_ids: usize,
    /// Per rule that keeps state.
    pub(crate) rule_state: usize,
    /// Per rule.
    pub(crate) incidents: usize,
    pub(crate) held_events: usize,
}

impl Budgets {
    /// No budget: count limits only.
    pub(crate) const UNLIMITED: Budgets = Budgets {
        credentials: usize::MAX,
        tenants: usize::MAX,
        msps: usize::MAX,
        event_ids: usize::MAX,
        rule_state: usize::MAX,
        incidents: usize::MAX,
        held_events: usize::MAX,
    };

    /// Splits `share` bytes among the kinds of state, for `stateful_rules` rules with state
    /// and `rules` rules in all.
    pub(crate) fn split(share: u64, stateful_rules: usize, rules: usize) -> Budgets {
        let part = |percent: u64, among: usize| -> usize {
            let bytes = share / 100 * percent / among.max(1) as u64;
            usize::try_from(bytes).unwrap_or(usize::MAX)
        };
        Budgets {
            credentials: part(percent::CREDENTIALS, 1),
            tenants: part(percent::TENANTS, 1),
            msps: part(percent::MSPS, 1),
            event_ids: part(percent::EVENT_IDS, 1),
            rule_state: part(percent::RULE_STATE, stateful_rules),
            incidents: part(percent::INCIDENTS, rules),
            held_events: part(percent::HELD_EVENTS, 1),
        }
    }
}

/// Heap bytes a value owns beyond its own inline size, approximately and cheaply (no walk
/// over a large collection: values that hold many strings keep a running count).
pub(crate) trait Footprint {
    /// Bytes owned on the heap.
    fn heap_bytes(&self) -> usize;

    /// Rebuilds the running counts behind [`Footprint::heap_bytes`], which are not saved
    /// with checkpoints and snapshots.
    fn recount(&mut self) {}

    /// Brings counts that the value only marks as stale up to date; called before
    /// [`Footprint::heap_bytes`] by maps that count (so values in maps that do not count
    /// never spend time on it).
    fn settle(&mut self) {}

    /// Whether the entry has a history worth keeping over entries seen once: maps evict
    /// entries without history first, so a flood of identities seen once pushes out only its
    /// own kind while established entries fill at most three quarters of the map.
    /// `last_active_ms` is when the entry was last active.
    fn has_history(&self, last_active_ms: i64) -> bool {
        let _ = last_active_ms;
        false
    }
}

impl Footprint for Box<str> {
    fn heap_bytes(&self) -> usize {
        string_bytes(self.len())
    }
}

/// A first-seen combination: the value is when it was first seen.
impl Footprint for i64 {
    fn heap_bytes(&self) -> usize {
        0
    }

    fn has_history(&self, last_active_ms: i64) -> bool {
        last_active_ms > *self
    }
}

/// What the allocator spends on each allocation beyond the bytes asked for: rounding up to
/// its size class, and the unused part of its pages. Measured rather than derived: with it, the
/// bytes accounted for a flood of new credentials come within a few percent of the resident
/// memory they add (see docs/configuration.md).
pub(crate) const ALLOCATION_BYTES: usize = 16;

/// Bytes an allocation of `len` string bytes takes (nothing for an empty string, which
/// allocates nothing).
pub(crate) fn string_bytes(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        (len.saturating_add(7) & !7).saturating_add(ALLOCATION_BYTES)
    }
}

/// Bytes of a vector's (or deque's) buffer of `capacity` elements of `T`.
pub(crate) fn buffer_bytes<T>(capacity: usize) -> usize {
    let bytes = capacity.saturating_mul(std::mem::size_of::<T>());
    if bytes == 0 {
        0
    } else {
        bytes.saturating_add(ALLOCATION_BYTES)
    }
}

/// Bytes of a hash table whose allocation is `allocation` bytes.
pub(crate) fn table_bytes(allocation: usize) -> usize {
    if allocation == 0 {
        0
    } else {
        allocation.saturating_add(ALLOCATION_BYTES)
    }
}

/// Bytes of a standard hash set of `T` that can hold `capacity` elements: a power of two of
/// buckets at most 7/8 full, one control byte per bucket and a group of trailing ones.
pub(crate) fn hash_set_bytes<T>(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity.saturating_mul(8) / 7).next_power_of_two()
    };
    table_bytes(buckets.saturating_mul(std::mem::size_of::<T>() + 1).saturating_add(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_binary_units_and_print_back() {
        assert_eq!("512MiB".parse::<ByteSize>(), Ok(ByteSize(512 << 20)));
        assert_eq!(" 64 kib ".parse::<ByteSize>(), Ok(ByteSize(64 << 10)));
        assert_eq!("2G".parse::<ByteSize>(), Ok(ByteSize(2 << 30)));
        assert_eq!("1048576".parse::<ByteSize>(), Ok(ByteSize(1 << 20)));
        assert!("12 parsecs".parse::<ByteSize>().is_err());
        assert!("MiB".parse::<ByteSize>().is_err());
        assert!("99999999999TiB".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize(512 << 20).to_string(), "512MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000");
    }

    #[test]
    fn engines_share_a_limit_equally_while_they_live() {
        let limit = MemoryLimit::new(ByteSize(1200));
        let first = Membership::join(limit.clone());
        assert_eq!(first.share(), 1200);
        let second = Membership::join(limit.clone());
        let third = Membership::join(limit.clone());
        assert_eq!((first.share(), second.share()), (400, 400));
        drop(third);
        assert_eq!(first.share(), 600);
        drop(second);
        assert_eq!(limit.share(), 1200);
    }

    #[test]
    fn budgets_split_rule_parts_among_the_rules() {
        let budgets = Budgets::split(100_000, 3, 10);
        assert_eq!(budgets.credentials, 22_000);
        assert_eq!(budgets.rule_state, 6_000);
        assert_eq!(budgets.incidents, 600);
    }
}
