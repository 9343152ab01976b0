//! Deterministic identifiers and random streams derived from the seed.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The splitmix64 finalizer: a bijection on `u64` that scatters nearby inputs.
pub fn mix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The independent random streams the generator draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The world: MSPs, tenants, credentials.
    World,
    /// The attack plan: which MSP and credential each scenario uses.
    Plan,
    /// One scenario's events (indexed by scenario position).
    Scenario,
    /// One day's normal traffic (indexed by day).
    Day,
    /// One day's delivery: formats, delays, duplicates (indexed by day).
    Delivery,
}

impl Stream {
    fn tag(self) -> u64 {
        match self {
            Stream::World => 1,
            Stream::Plan => 2,
            Stream::Scenario => 3,
            Stream::Day => 4,
            Stream::Delivery => 5,
        }
    }
}

/// A ChaCha generator for one stream and index, independent of every other stream.
pub fn stream_rng(seed: u64, stream: Stream, index: u64) -> ChaCha8Rng {
    let key = mix64(mix64(seed) ^ mix64(stream.tag().wrapping_mul(0x1_0000_0001) ^ index));
    ChaCha8Rng::seed_from_u64(key)
}

/// The canonical `event_id` of the event with this sequence number: unique per seed.
pub fn event_id(seed: u64, seq: u64) -> String {
    format!("ev-{:016x}", mix64(seq ^ mix64(seed)))
}

/// A UUID-shaped identifier for the event with this sequence number (CloudTrail `eventID`,
/// OCSF `metadata.uid`); `salt` separates several identifiers of one event.
pub fn event_uuid(seed: u64, seq: u64, salt: u64) -> String {
    let high = mix64(mix64(seed) ^ salt.wrapping_mul(0x5851_f42d_4c95_7f2d));
    let low = mix64(seq ^ mix64(seed ^ salt));
    let version = (high & 0xffff_ffff_ffff_0fff) | 0x4000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        version >> 32,
        (version >> 16) & 0xffff,
        version & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_differ_for_every_sequence_number() {
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|seq| event_id(7, seq)).collect();
        assert_eq!(ids.len(), 10_000);
        let uuids: std::collections::HashSet<String> =
            (0..10_000).map(|seq| event_uuid(7, seq, 1)).collect();
        assert_eq!(uuids.len(), 10_000);
    }

    #[test]
    fn uuids_have_the_canonical_shape() {
        let uuid = event_uuid(42, 3, 1);
        let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(groups, vec![8, 4, 4, 4, 12]);
        assert_eq!(uuid.chars().nth(14), Some('4'));
    }

    #[test]
    fn streams_are_independent_of_each_other() {
        use rand::Rng;
        let mut day = stream_rng(1, Stream::Day, 0);
        let mut delivery = stream_rng(1, Stream::Delivery, 0);
        let a: u64 = day.gen();
        let b: u64 = delivery.gen();
        assert_ne!(a, b);
        let mut again = stream_rng(1, Stream::Day, 0);
        assert_eq!(again.gen::<u64>(), a);
    }
}
