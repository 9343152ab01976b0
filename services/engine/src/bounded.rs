//! A map whose size is bounded, evicting the least recently active entries.
//!
//! Every entry carries the event time at which it was last active. When the map grows past its
//! capacity in entries, the oldest eighth of the capacity is evicted at once, so the cost of
//! eviction is amortized over many insertions. A map may also be given a budget in bytes (see
//! `memory.rs`): it then counts the bytes it holds and evicts its oldest entries to stay within
//! it. Eviction never looks at hash order: it picks entries by activity time, then by key, so
//! the same input evicts the same entries on every run.

use std::borrow::Borrow;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::memory::{table_bytes, Footprint};

/// The hasher of every in-memory map of the engine: fast, and seeded per process so that
/// hostile identifiers cannot be crafted to collide.
pub(crate) type MapHasher = foldhash::fast::RandomState;

/// A `HashMap` with the engine's hasher.
pub(crate) type FastMap<K, V> = hashbrown::HashMap<K, V, MapHasher>;

/// The hasher for hashes the engine keeps as values (remembered event ids, distinct values):
/// seeded at random per engine, and saved with checkpoints so a restored engine hashes alike.
pub(crate) type FastHasher = foldhash::fast::FixedState;

/// A map that keeps at most `capacity` entries and, when given a budget, at most about that
/// many bytes, evicting the least recently active.
///
/// The bytes are its hash table's, exactly, plus a running sum of the heap bytes its keys and
/// values own, kept up to date as entries are added, changed (through [`Tracked`]) and removed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + Hash + Eq, V: Serialize",
    deserialize = "K: Deserialize<'de> + Hash + Eq, V: Deserialize<'de>"
))]
pub(crate) struct BoundedMap<K, V> {
    entries: FastMap<K, Slot<V>>,
    capacity: usize,
    evicted: u64,
    /// Heap bytes owned by the keys and values; meaningful while `counted`.
    #[serde(skip)]
    heap: usize,
    /// Whether `heap` is kept: only under a budget, so that a map without one spends nothing
    /// on accounting. Summed afresh when a budget is first set, and after a restore.
    #[serde(skip)]
    counted: bool,
    /// Most bytes the map may hold; set by the engine from its memory budget.
    #[serde(skip, default = "unlimited")]
    budget: usize,
}

fn unlimited() -> usize {
    usize::MAX
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Slot<V> {
    last_active_ms: i64,
    value: V,
}

/// A value of a [`BoundedMap`] borrowed for writing: when it is dropped, the map's byte count
/// (if it keeps one) takes in whatever the value grew or shrank by.
pub(crate) struct Tracked<'a, V: Footprint> {
    value: &'a mut V,
    heap: Option<&'a mut usize>,
    before: usize,
}

impl<'a, V: Footprint> Tracked<'a, V> {
    #[inline]
    fn new(value: &'a mut V, heap: &'a mut usize, counted: bool) -> Self {
        if !counted {
            return Tracked { value, heap: None, before: 0 };
        }
        value.settle();
        let before = value.heap_bytes();
        Tracked { value, heap: Some(heap), before }
    }
}

impl<V: Footprint> std::ops::Deref for Tracked<'_, V> {
    type Target = V;

    fn deref(&self) -> &V {
        self.value
    }
}

impl<V: Footprint> std::ops::DerefMut for Tracked<'_, V> {
    fn deref_mut(&mut self) -> &mut V {
        self.value
    }
}

impl<V: Footprint> Drop for Tracked<'_, V> {
    #[inline]
    fn drop(&mut self) {
        if let Some(heap) = &mut self.heap {
            self.value.settle();
            **heap = heap.wrapping_add(self.value.heap_bytes()).wrapping_sub(self.before);
        }
    }
}

impl<K: Hash + Eq + Ord + Clone + Footprint, V: Footprint> BoundedMap<K, V> {
    /// An empty map holding at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        BoundedMap {
            entries: FastMap::default(),
            capacity: capacity.max(1),
            evicted: 0,
            heap: 0,
            counted: false,
            budget: usize::MAX,
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries evicted so far.
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Bytes held under a budget: the hash table and what its keys and values own on the
    /// heap; 0 for a map without a budget, which does not count.
    pub(crate) fn bytes(&self) -> usize {
        if !self.counted {
            return 0;
        }
        table_bytes(self.entries.allocation_size()).saturating_add(self.heap)
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
    #[inline]
    pub(crate) fn touch_returning_last<Q>(
        &mut self,
        key: &Q,
        now_ms: i64,
        make: impl FnOnce() -> V,
    ) -> (Option<i64>, Tracked<'_, V>)
    where
        K: Borrow<Q> + for<'q> From<&'q Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.make_room_for(key);
        let BoundedMap { entries, heap, counted, .. } = self;
        match entries.entry_ref(key) {
            hashbrown::hash_map::EntryRef::Occupied(entry) => {
                let slot = entry.into_mut();
                let previous = slot.last_active_ms;
                slot.last_active_ms = previous.max(now_ms);
                (Some(previous), Tracked::new(&mut slot.value, heap, *counted))
            }
            hashbrown::hash_map::EntryRef::Vacant(entry) => {
                let slot = insert_vacant(entry, heap, *counted, now_ms, make());
                (None, Tracked::new(&mut slot.value, heap, *counted))
            }
        }
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
    #[inline]
    pub(crate) fn touch<Q>(
        &mut self,
        key: &Q,
        now_ms: i64,
        make: impl FnOnce() -> V,
    ) -> Tracked<'_, V>
    where
        K: Borrow<Q> + for<'q> From<&'q Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.touch_returning_last(key, now_ms, make).1
    }

    /// Inserts or replaces the entry for `key`, marked active at `now_ms`.
    pub(crate) fn insert(&mut self, key: K, now_ms: i64, mut value: V) {
        self.make_room_for(&key);
        value.recount();
        value.settle();
        let value_bytes = value.heap_bytes();
        let slot = Slot { last_active_ms: now_ms, value };
        match self.entries.entry(key) {
            hashbrown::hash_map::Entry::Occupied(mut entry) => {
                let old = std::mem::replace(entry.get_mut(), slot);
                let old_bytes = old.value.heap_bytes();
                self.heap = self.heap.wrapping_add(value_bytes).wrapping_sub(old_bytes);
            }
            hashbrown::hash_map::Entry::Vacant(entry) => {
                let key_bytes = entry.key().heap_bytes();
                self.heap = self.heap.wrapping_add(key_bytes).wrapping_add(value_bytes);
                entry.insert(slot);
            }
        }
    }

    /// The entry for `key`, marked active at `now_ms`.
    pub(crate) fn get_mut<Q>(&mut self, key: &Q, now_ms: i64) -> Option<Tracked<'_, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.entries.get_mut(key)?;
        slot.last_active_ms = slot.last_active_ms.max(now_ms);
        Some(Tracked::new(&mut slot.value, &mut self.heap, self.counted))
    }

    /// Removes every entry last active before `cutoff_ms`; returns how many went.
    pub(crate) fn retain_active_since(&mut self, cutoff_ms: i64) -> usize {
        self.retain_slots(|_, slot| slot.last_active_ms >= cutoff_ms)
    }

    /// Removes entries for which `keep` is false.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.retain_slots(|key, slot| keep(key, &slot.value));
    }

    fn retain_slots(&mut self, mut keep: impl FnMut(&K, &Slot<V>) -> bool) -> usize {
        let before = self.entries.len();
        let mut freed = 0usize;
        self.entries.retain(|key, slot| {
            let kept = keep(key, slot);
            if !kept {
                freed = freed.wrapping_add(key.heap_bytes()).wrapping_add(slot.value.heap_bytes());
            }
            kept
        });
        self.heap = self.heap.wrapping_sub(freed);
        before - self.entries.len()
    }

    /// Iterates over entries with their last activity time, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, i64, &V)> {
        self.entries.iter().map(|(key, slot)| (key, slot.last_active_ms, &slot.value))
    }

    /// Keeps the map within `budget` bytes from now on, evicting the least recently active
    /// entries now if it holds more; returns how many were evicted. `usize::MAX` means no
    /// budget: the map then stops counting its bytes.
    pub(crate) fn enforce(&mut self, budget: usize) -> usize {
        self.budget = budget;
        if budget == usize::MAX {
            self.counted = false;
            return 0;
        }
        self.ensure_counted();
        let mut evicted = 0;
        while self.bytes() > budget && !self.entries.is_empty() {
            let table = table_bytes(self.entries.allocation_size());
            if table > budget {
                // The budget shrank below the table itself: halve the entries and the table.
                evicted += self.evict_oldest(self.entries.len().div_ceil(2));
                self.entries.shrink_to_fit();
                continue;
            }
            // Evict the oldest entries that, at the average size, bring the heap to seven
            // eighths of what the table leaves, so that eviction does not run on every event.
            let room = (budget - table) / 8 * 7;
            let excess = self.heap.saturating_sub(room);
            let average = (self.heap / self.entries.len()).max(1);
            evicted += self.evict_oldest(excess.div_ceil(average).max(1));
        }
        evicted
    }

    /// Sums the heap bytes again if the map was restored since it last did.
    fn ensure_counted(&mut self) {
        if self.counted {
            return;
        }
        let mut heap = 0usize;
        for (key, slot) in &mut self.entries {
            slot.value.recount();
            slot.value.settle();
            heap = heap.saturating_add(key.heap_bytes()).saturating_add(slot.value.heap_bytes());
        }
        self.heap = heap;
        self.counted = true;
    }

    /// Before `key` is added: evicts when the map holds `capacity` entries, or when its table
    /// is full and growing it would take the map past its budget.
    #[inline]
    fn make_room_for<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let len = self.entries.len();
        // A full table doubles on the next insertion: that must fit the budget.
        let table_full = self.counted && len >= self.entries.capacity();
        if len >= self.capacity || (table_full && self.growth_over_budget()) {
            self.make_room_slowly(key);
        }
    }

    /// Whether doubling the table would take the map past its budget.
    fn growth_over_budget(&self) -> bool {
        let table = table_bytes(self.entries.allocation_size());
        table.saturating_mul(2).saturating_add(self.heap) > self.budget
    }

    #[cold]
    fn make_room_slowly<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let len = self.entries.len();
        let at_capacity = len >= self.capacity;
        if self.entries.contains_key(key) {
            return;
        }
        if at_capacity {
            self.evict_oldest((self.capacity / 8).max(1));
            return;
        }
        // Half the entries out: the table is then cleaned in place instead of doubled.
        self.evict_oldest(len / 2 + 1);
    }

    /// Evicts `count` entries; returns how many went.
    ///
    /// Entries without history (see [`Footprint::has_history`]) go first, least recently
    /// active first; entries with history go when none without are left, or when they would
    /// otherwise fill more than three quarters of what stays. Ties in activity time go by key.
    fn evict_oldest(&mut self, count: usize) -> usize {
        let target = count.min(self.entries.len());
        if target == 0 {
            return 0;
        }
        let mut fresh: Vec<(i64, &K)> = Vec::new();
        let mut kept_for_history: Vec<(i64, &K)> = Vec::new();
        for (key, slot) in &self.entries {
            let entry = (slot.last_active_ms, key);
            if slot.value.has_history(slot.last_active_ms) {
                kept_for_history.push(entry);
            } else {
                fresh.push(entry);
            }
        }
        let staying = self.entries.len() - target;
        let history_room = staying / 4 * 3;
        let history_out = kept_for_history
            .len()
            .saturating_sub(history_room)
            .max(target.saturating_sub(fresh.len()))
            .min(target);
        let fresh_out = target - history_out;
        // The last entry to go of each kind; every entry of that kind up to it goes, in one
        // pass, without copying the keys.
        let fresh_cutoff = last_to_go(&mut fresh, fresh_out);
        let history_cutoff = last_to_go(&mut kept_for_history, history_out);
        drop((fresh, kept_for_history));
        let mut freed = 0usize;
        let mut gone = 0usize;
        self.entries.retain(|key, slot| {
            let cutoff = match slot.value.has_history(slot.last_active_ms) {
                true => &history_cutoff,
                false => &fresh_cutoff,
            };
            let goes = cutoff
                .as_ref()
                .is_some_and(|(time, last)| (slot.last_active_ms, key) <= (*time, last));
            if goes {
                freed = freed.wrapping_add(key.heap_bytes()).wrapping_add(slot.value.heap_bytes());
                gone += 1;
            }
            !goes
        });
        self.heap = self.heap.wrapping_sub(freed);
        self.evicted += gone as u64;
        gone
    }
}

/// The activity time and key of the `count`-th least recently active entry (ties by key).
fn last_to_go<K: Ord + Clone>(entries: &mut [(i64, &K)], count: usize) -> Option<(i64, K)> {
    let index = count.min(entries.len()).checked_sub(1)?;
    let (_, last, _) = entries.select_nth_unstable(index);
    Some((last.0, last.1.clone()))
}

/// Inserts a new entry into a vacant place, adding its key and value to `heap`.
fn insert_vacant<'m, K, Q, V>(
    entry: hashbrown::hash_map::VacantEntryRef<'m, '_, K, Q, Slot<V>, MapHasher>,
    heap: &mut usize,
    counted: bool,
    now_ms: i64,
    value: V,
) -> &'m mut Slot<V>
where
    K: Hash + Footprint + for<'q> From<&'q Q>,
    Q: Hash + Eq + ?Sized,
    V: Footprint,
{
    let mut slot = Slot { last_active_ms: now_ms, value };
    if !counted {
        return entry.insert(slot);
    }
    slot.value.settle();
    let value_bytes = slot.value.heap_bytes();
    let occupied = entry.insert_entry(slot);
    *heap = heap.wrapping_add(occupied.key().heap_bytes()).wrapping_add(value_bytes);
    occupied.into_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value whose heap size changes as tests write to it.
    #[derive(Debug, Clone, Default)]
    struct Text(String);

    impl Footprint for Text {
        fn heap_bytes(&self) -> usize {
            self.0.capacity()
        }
    }

    /// The heap sum kept as the map changed, and the one a full count gives.
    fn kept_and_counted(map: &mut BoundedMap<Box<str>, Text>) -> (usize, usize) {
        let kept = map.heap;
        map.counted = false;
        map.ensure_counted();
        (kept, map.heap)
    }

    #[test]
    fn inserting_past_capacity_evicts_the_least_recently_active() {
        let mut map: BoundedMap<Box<str>, Text> = BoundedMap::new(8);
        for index in 0..8 {
            map.touch(format!("key-{index}").as_str(), index, Text::default).0.push('x');
        }
        map.touch("key-0", 100, Text::default);
        map.touch("key-new", 101, Text::default);
        assert_eq!(map.len(), 8);
        assert_eq!(map.evicted(), 1);
        assert!(map.get("key-1").is_none(), "the oldest untouched key goes first");
        assert!(map.get("key-0").is_some(), "a key touched recently stays");
    }

    /// First-seen memory: the value is the time first seen, so an entry seen again later
    /// has a history.
    fn see(map: &mut BoundedMap<Box<str>, i64>, key: &str, now_ms: i64) {
        map.touch(key, now_ms, || now_ms);
    }

    #[test]
    fn entries_seen_again_outlast_a_flood_of_entries_seen_once() {
        let mut map: BoundedMap<Box<str>, i64> = BoundedMap::new(1000);
        for index in 0..100 {
            see(&mut map, &format!("established-{index}"), 0);
            see(&mut map, &format!("established-{index}"), 1);
        }
        for index in 0..10_000 {
            see(&mut map, &format!("flood-{index}"), 10 + index);
        }
        assert!(map.evicted() >= 9_000);
        let established =
            (0..100).filter(|index| map.get(format!("established-{index}").as_str()).is_some());
        assert_eq!(established.count(), 100, "older, but seen twice");
        assert!(map.get("flood-9999").is_some());
    }

    #[test]
    fn entries_with_history_fill_at_most_three_quarters_of_a_full_map() {
        let mut map: BoundedMap<Box<str>, i64> = BoundedMap::new(800);
        for index in 0..2_000 {
            see(&mut map, &format!("established-{index}"), index);
            see(&mut map, &format!("established-{index}"), index + 1);
        }
        for index in 0..2_000 {
            see(&mut map, &format!("flood-{index}"), 10_000 + index);
        }
        let established = map.iter().filter(|(key, _, _)| key.starts_with("established"));
        let established = established.count();
        assert!(established <= 800 / 4 * 3 + 100, "{established} of {}", map.len());
        assert!(established >= 800 / 2, "{established} of {}", map.len());
        assert!(map.get("established-1999").is_some(), "the newest established stays");
        assert!(map.get("established-0").is_none(), "the oldest established went");
    }

    #[test]
    fn retain_active_since_drops_idle_entries() {
        let mut map: BoundedMap<Box<str>, i64> = BoundedMap::new(100);
        map.touch("old", 10, || 0);
        map.touch("new", 20, || 0);
        assert_eq!(map.retain_active_since(15), 1);
        assert!(map.get("new").is_some());
    }

    #[test]
    fn the_byte_count_follows_every_change_of_keys_and_values() {
        let mut map: BoundedMap<Box<str>, Text> = BoundedMap::new(50);
        map.enforce(usize::MAX - 1);
        for index in 0..80i64 {
            let key = format!("{}-{}", "k".repeat(1 + (index as usize % 40)), index % 60);
            let mut value = map.touch(key.as_str(), index, Text::default);
            value.0.push_str(&"v".repeat(index as usize % 7));
        }
        assert!(map.evicted() > 0);
        let (kept, counted) = kept_and_counted(&mut map);
        assert_eq!(kept, counted);
        assert!(counted > 0);

        let known = map.iter().map(|(key, _, _)| key.clone()).max().unwrap_or_default();
        if let Some(mut value) = map.get_mut(&*known, 500) {
            value.0 = String::new();
        }
        map.insert(known, 501, Text("a longer value than before".to_owned()));
        map.insert("brand-new".into(), 502, Text("x".repeat(100)));
        map.retain(|key, _| key.len() % 2 == 0);
        map.retain_active_since(40);
        let (kept, counted) = kept_and_counted(&mut map);
        assert_eq!(kept, counted);
        let keys: usize = map.iter().map(|(key, _, _)| string_bytes_of(key)).sum();
        let values: usize = map.iter().map(|(_, _, value)| value.0.capacity()).sum();
        assert_eq!(counted, keys + values);
    }

    fn string_bytes_of(key: &str) -> usize {
        crate::memory::string_bytes(key.len())
    }

    #[test]
    fn a_budget_keeps_the_bytes_under_it_and_evicts_the_oldest_first() {
        let budget = 64 * 1024;
        let mut map: BoundedMap<Box<str>, Text> = BoundedMap::new(1_000_000);
        map.enforce(budget);
        for index in 0..20_000i64 {
            let key = format!("credential-{index:08}-{}", "x".repeat(index as usize % 64));
            map.touch(key.as_str(), index, || Text("y".repeat(24)));
            // The engine holds maps to their budget every so often; values and keys added in
            // between may overshoot by a little.
            if index % 64 == 0 {
                map.enforce(budget);
                assert!(map.bytes() <= budget, "{} bytes after {index}", map.bytes());
            }
            if index % 100 == 0 {
                // One key stays active throughout, as an attacker's credential does: more
                // often than the map's capacity in entries turns over.
                map.touch("active", index, Text::default);
            }
        }
        map.enforce(budget);
        assert!(map.bytes() <= budget);
        assert!(map.entries.allocation_size() <= budget, "the table never outgrew the budget");
        assert!(map.evicted() > 15_000, "evicted {}", map.evicted());
        assert!(map.get("active").is_some(), "the key touched throughout stays");
        let newest = format!("credential-{:08}-{}", 19_999, "x".repeat(19_999 % 64));
        assert!(map.get(newest.as_str()).is_some(), "the newest key stays");
    }

    #[test]
    fn a_shrunken_budget_shrinks_the_table() {
        let mut map: BoundedMap<Box<str>, i64> = BoundedMap::new(1_000_000);
        map.enforce(usize::MAX - 1);
        for index in 0..50_000i64 {
            map.touch(format!("key-{index}").as_str(), index, || 0);
        }
        let before = map.bytes();
        map.enforce(before / 10);
        assert!(map.bytes() <= before / 10, "{} of {}", map.bytes(), before / 10);
        assert!(map.len() > 0);
        assert!(map.get("key-49999").is_some());
    }
}
