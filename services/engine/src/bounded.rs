//! A map whose size is bounded, evicting the least recently active entries.
//!
//! Every entry carries the event time at which it was last active. When the map grows past its
//! capacity, the oldest eighth of the capacity is evicted at once, so the cost of eviction is
//! amortized over many insertions. Eviction never looks at hash order: it picks entries by
//! activity time, then by key, so the same input evicts the same entries on every run.

use std::borrow::Borrow;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

/// The hasher of every in-memory map of the engine: fast, and seeded per process so that
/// hostile identifiers cannot be crafted to collide.
pub(crate) type MapHasher = foldhash::fast::RandomState;

/// A `HashMap` with the engine's hasher.
pub(crate) type FastMap<K, V> = hashbrown::HashMap<K, V, MapHasher>;

/// The hasher for hashes the engine keeps as values (remembered event ids, distinct values):
/// seeded at random per engine, and saved with checkpoints so a restored engine hashes alike.
pub(crate) type FastHasher = foldhash::fast::FixedState;

/// A map that keeps at most `capacity` entries, evicting the least recently active.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + Hash + Eq, V: Serialize",
    deserialize = "K: Deserialize<'de> + Hash + Eq, V: Deserialize<'de>"
))]
pub(crate) struct BoundedMap<K, V> {
    entries: FastMap<K, Slot<V>>,
    capacity: usize,
    evicted: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Slot<V> {
    last_active_ms: i64,
    value: V,
}

impl<K: Hash + Eq + Ord + Clone, V> BoundedMap<K, V> {
    /// An empty map holding at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        BoundedMap { entries: FastMap::default(), capacity: capacity.max(1), evicted: 0 }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries evicted so far.
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The entry for `key`, without marking it active.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.get(key).map(|slot| &slot.value)
    }

    /// The entry for `key` and the time it was last active before now (`None` when it was
    /// absent and `make` created it); the entry is marked active at `now_ms`.
    pub(crate) fn touch_returning_last<Q>(
        &mut self,
        key: &Q,
        now_ms: i64,
        make: impl FnOnce() -> V,
    ) -> (Option<i64>, &mut V)
    where
        K: Borrow<Q> + for<'q> From<&'q Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(key) {
            self.evict_oldest();
        }
        let mut previous = None;
        let slot = match self.entries.entry_ref(key) {
            hashbrown::hash_map::EntryRef::Occupied(entry) => {
                previous = Some(entry.get().last_active_ms);
                entry.into_mut()
            }
            hashbrown::hash_map::EntryRef::Vacant(entry) => {
                entry.insert(Slot { last_active_ms: now_ms, value: make() })
            }
        };
        slot.last_active_ms = slot.last_active_ms.max(now_ms);
        (previous, &mut slot.value)
    }

    /// The entry for `key` with the time it was last active, without marking it active.
    pub(crate) fn get_with_time<Q>(&self, key: &Q) -> Option<(i64, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.get(key).map(|slot| (slot.last_active_ms, &slot.value))
    }

    /// The entry for `key`, marked active at `now_ms`; created by `make` when absent.
    pub(crate) fn touch<Q>(&mut self, key: &Q, now_ms: i64, make: impl FnOnce() -> V) -> &mut V
    where
        K: Borrow<Q> + for<'q> From<&'q Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(key) {
            self.evict_oldest();
        }
        let slot = self
            .entries
            .entry_ref(key)
            .or_insert_with(|| Slot { last_active_ms: now_ms, value: make() });
        slot.last_active_ms = slot.last_active_ms.max(now_ms);
        &mut slot.value
    }

    /// Inserts or replaces the entry for `key`, marked active at `now_ms`.
    pub(crate) fn insert(&mut self, key: K, now_ms: i64, value: V) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.evict_oldest();
        }
        self.entries.insert(key, Slot { last_active_ms: now_ms, value });
    }

    /// The entry for `key`, marked active at `now_ms`.
    pub(crate) fn get_mut<Q>(&mut self, key: &Q, now_ms: i64) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.entries.get_mut(key)?;
        slot.last_active_ms = slot.last_active_ms.max(now_ms);
        Some(&mut slot.value)
    }

    /// Removes every entry last active before `cutoff_ms`; returns how many went.
    pub(crate) fn retain_active_since(&mut self, cutoff_ms: i64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, slot| slot.last_active_ms >= cutoff_ms);
        before - self.entries.len()
    }

    /// Removes entries for which `keep` is false.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain(|key, slot| keep(key, &mut slot.value));
    }

    /// Iterates over entries with their last activity time, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, i64, &V)> {
        self.entries.iter().map(|(key, slot)| (key, slot.last_active_ms, &slot.value))
    }

    /// Evicts the least recently active eighth of the capacity (at least one entry).
    fn evict_oldest(&mut self) {
        let target = (self.capacity / 8).max(1).min(self.entries.len());
        let mut by_age: Vec<(i64, &K)> =
            self.entries.iter().map(|(key, slot)| (slot.last_active_ms, key)).collect();
        if target < by_age.len() {
            by_age.select_nth_unstable(target - 1);
            by_age.truncate(target);
        }
        let doomed: Vec<K> = by_age.into_iter().map(|(_, key)| key.clone()).collect();
        for key in &doomed {
            self.entries.remove(key);
        }
        self.evicted += doomed.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserting_past_capacity_evicts_the_least_recently_active() {
        let mut map: BoundedMap<Box<str>, u32> = BoundedMap::new(8);
        for index in 0..8 {
            *map.touch(format!("key-{index}").as_str(), index, || 0) += 1;
        }
        map.touch("key-0", 100, || 0);
        map.touch("key-new", 101, || 0);
        assert_eq!(map.len(), 8);
        assert_eq!(map.evicted(), 1);
        assert!(map.get("key-1").is_none(), "the oldest untouched key goes first");
        assert!(map.get("key-0").is_some(), "a key touched recently stays");
    }

    #[test]
    fn retain_active_since_drops_idle_entries() {
        let mut map: BoundedMap<Box<str>, ()> = BoundedMap::new(100);
        map.touch("old", 10, || ());
        map.touch("new", 20, || ());
        assert_eq!(map.retain_active_since(15), 1);
        assert!(map.get("new").is_some());
    }
}
