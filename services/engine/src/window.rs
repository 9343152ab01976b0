//! Per-group state of threshold and sequence rules, on event time.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Arc;

use mspwatch_rules::{Aggregate, Value, Values};

use crate::bounded::{FastHasher, FastMap};
use crate::incident::EvidenceItem;
use crate::memory::{buffer_bytes, table_bytes, Footprint};
use serde::{Deserialize, Serialize};

/// One event's contribution to a sliding window.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    item: Arc<EvidenceItem>,
    /// Count: 1; sum: the field's value; distinct: unused.
    amount: f64,
    /// Distinct: hashes of the field's values.
    distinct: Vec<u64>,
}

impl Entry {
    /// Heap bytes the entry holds: its hashes and its evidence (counted in full by every
    /// window and incident that shares it, so shared evidence is over-counted, never under).
    fn heap_bytes(&self) -> usize {
        buffer_bytes::<u64>(self.distinct.capacity()) + self.item.heap_bytes()
    }
}

/// A sliding event-time window with its running aggregate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Window {
    entries: VecDeque<Entry>,
    total: f64,
    distinct: FastMap<u64, u32>,
    /// Heap bytes the entries hold, for the memory budget (not saved).
    #[serde(skip)]
    entry_bytes: usize,
}

impl Footprint for Window {
    fn heap_bytes(&self) -> usize {
        buffer_bytes::<Entry>(self.entries.capacity())
            + table_bytes(self.distinct.allocation_size())
            + self.entry_bytes
    }

    fn recount(&mut self) {
        self.entry_bytes = self.entries.iter().map(Entry::heap_bytes).sum();
    }

    fn has_history(&self, _last_active_ms: i64) -> bool {
        self.entries.len() >= 2
    }
}

impl Window {
    /// Adds an event (`values` are the aggregated field's values), then drops what slid out
    /// of the window ending at the latest event time; returns the aggregate.
    pub(crate) fn push(
        &mut self,
        item: Arc<EvidenceItem>,
        aggregate: Aggregate,
        values: Values<'_>,
        window_ms: i64,
        hasher: &FastHasher,
    ) -> f64 {
        let mut entry = Entry { item, amount: 0.0, distinct: Vec::new() };
        match aggregate {
            Aggregate::Count => entry.amount = 1.0,
            Aggregate::Sum(_) => values.for_each(|value| entry.amount += numeric(value)),
            Aggregate::Distinct(_) => values.for_each(|value| {
                let hash = match value {
                    Value::Str(text) => hasher.hash_one(text),
                    Value::Num(number) => hasher.hash_one(number.to_bits()),
                    Value::Bool(flag) => hasher.hash_one(flag),
                };
                if !entry.distinct.contains(&hash) {
                    entry.distinct.push(hash);
                }
            }),
        }
        self.total += entry.amount;
        for hash in &entry.distinct {
            *self.distinct.entry(*hash).or_insert(0) += 1;
        }
        self.entry_bytes = self.entry_bytes.saturating_add(entry.heap_bytes());
        let time_ms = entry.item.time_ms;
        let position = self.entries.partition_point(|known| known.item.time_ms <= time_ms);
        self.entries.insert(position, entry);
        self.slide(window_ms);
        self.value(aggregate)
    }

    fn slide(&mut self, window_ms: i64) {
        let Some(latest) = self.entries.back().map(|entry| entry.item.time_ms) else {
            return;
        };
        let start = latest.saturating_sub(window_ms);
        while self.entries.front().is_some_and(|entry| entry.item.time_ms <= start) {
            let Some(gone) = self.entries.pop_front() else { break };
            self.entry_bytes = self.entry_bytes.saturating_sub(gone.heap_bytes());
            self.total -= gone.amount;
            for hash in gone.distinct {
                if let Some(count) = self.distinct.get_mut(&hash) {
                    *count -= 1;
                    if *count == 0 {
                        self.distinct.remove(&hash);
                    }
                }
            }
        }
        if self.entries.is_empty() {
            self.total = 0.0;
        }
    }

    /// The aggregate over the window.
    pub(crate) fn value(&self, aggregate: Aggregate) -> f64 {
        match aggregate {
            Aggregate::Count | Aggregate::Sum(_) => self.total,
            Aggregate::Distinct(_) => self.distinct.len() as f64,
        }
    }

    /// The evidence of every event in the window, oldest first.
    pub(crate) fn evidence(&self) -> Vec<Arc<EvidenceItem>> {
        self.entries.iter().map(|entry| Arc::clone(&entry.item)).collect()
    }

    /// Event time of the latest entry.
    pub(crate) fn latest_ms(&self) -> Option<i64> {
        self.entries.back().map(|entry| entry.item.time_ms)
    }
}

fn numeric(value: Value<'_>) -> f64 {
    match value {
        Value::Num(number) => number,
        Value::Str(text) => text.parse().unwrap_or(0.0),
        Value::Bool(_) => 0.0,
    }
}

/// Progress of one group through an ordered sequence of steps.
///
/// `partial[i]` holds the latest-starting chain that has completed steps `0..=i`, so a chain
/// always has the most time left to complete.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Progress {
    partial: Vec<Option<Chain>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Chain {
    start_ms: i64,
    evidence: Vec<Arc<EvidenceItem>>,
}

impl Footprint for Progress {
    /// Walks the chains: there are as many as the sequence has steps, each with at most as
    /// many events.
    fn heap_bytes(&self) -> usize {
        let chains = self.partial.iter().flatten().map(|chain| {
            let items: usize = chain.evidence.iter().map(|item| item.heap_bytes()).sum();
            buffer_bytes::<Arc<EvidenceItem>>(chain.evidence.capacity()) + items
        });
        buffer_bytes::<Option<Chain>>(self.partial.capacity()) + chains.sum::<usize>()
    }
}

impl Progress {
    /// Advances with an event that completes the steps flagged in `matched`; returns the
    /// evidence of a completed sequence.
    pub(crate) fn advance(
        &mut self,
        item: &Arc<EvidenceItem>,
        matched: &[bool],
        within_ms: i64,
    ) -> Option<Vec<Arc<EvidenceItem>>> {
        let steps = matched.len();
        if self.partial.len() != steps {
            self.partial = vec![None; steps];
        }
        let now = item.time_ms;
        for chain in self.partial.iter_mut() {
            if chain.as_ref().is_some_and(|chain| now.saturating_sub(chain.start_ms) > within_ms) {
                *chain = None;
            }
        }
        let mut completed = None;
        // Later steps first, so one event never completes two steps of the same chain.
        for step in (0..steps).rev() {
            if !matched[step] {
                continue;
            }
            let candidate = if step == 0 {
                Some(Chain { start_ms: now, evidence: vec![Arc::clone(item)] })
            } else {
                self.partial[step - 1].as_ref().map(|previous| {
                    let mut evidence = previous.evidence.clone();
                    evidence.push(Arc::clone(item));
                    Chain { start_ms: previous.start_ms, evidence }
                })
            };
            let Some(candidate) = candidate else { continue };
            if step + 1 == steps {
                completed = Some(candidate.evidence);
                continue;
            }
            let slot = &mut self.partial[step];
            if slot.as_ref().is_none_or(|known| known.start_ms <= candidate.start_ms) {
                *slot = Some(candidate);
            }
        }
        completed
    }

    /// Event time of the oldest chain still open.
    pub(crate) fn oldest_start_ms(&self) -> Option<i64> {
        self.partial.iter().flatten().map(|chain| chain.start_ms).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mspwatch_event::Outcome;

    fn item(time_ms: i64, id: &str) -> Arc<EvidenceItem> {
        Arc::new(EvidenceItem {
            time_ms,
            event_id: id.into(),
            action: "backup.delete".into(),
            outcome: Outcome::Success,
            tenants: Box::new([]),
        })
    }

    #[test]
    fn distinct_values_leave_the_window_as_it_slides() {
        let hasher = FastHasher::default();
        let mut window = Window::default();
        let tenants = ["t1".to_owned(), "t2".to_owned(), "t1".to_owned()];
        let aggregate = Aggregate::Distinct(mspwatch_rules::Field::TenantId);
        let mut value = 0.0;
        for (index, tenant) in tenants.iter().enumerate() {
            let values = Values::Many(std::slice::from_ref(tenant));
            value = window.push(item(index as i64 * 10, "e"), aggregate, values, 100, &hasher);
        }
        assert_eq!(value, 2.0);
        let late = ["t3".to_owned()];
        let value = window.push(item(115, "e4"), aggregate, Values::Many(&late), 100, &hasher);
        assert_eq!(value, 2.0, "t1 at 0 and 20 and t2 at 10 leave; t1 at 20 stays, t3 joins");
    }

    #[test]
    fn a_sequence_completes_only_in_order_and_in_time() {
        let mut progress = Progress::default();
        assert!(progress.advance(&item(0, "delete"), &[false, true], 100).is_none());
        assert!(progress.advance(&item(10, "weaken"), &[true, false], 100).is_none());
        let done = progress.advance(&item(50, "delete2"), &[false, true], 100);
        assert_eq!(done.map(|evidence| evidence.len()), Some(2));
        assert!(progress.advance(&item(10, "weaken"), &[true, false], 100).is_none());
        assert!(progress.advance(&item(500, "late"), &[false, true], 100).is_none());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use mspwatch_event::Outcome;
    use mspwatch_rules::Field;
    use proptest::prelude::*;

    fn item(time_ms: i64, index: usize) -> Arc<EvidenceItem> {
        Arc::new(EvidenceItem {
            time_ms,
            event_id: format!("e{index}").into(),
            action: "backup.delete".into(),
            outcome: Outcome::Success,
            tenants: Box::new([]),
        })
    }

    proptest! {
        /// The window's aggregates equal a brute-force count over the events in
        /// `(latest - window, latest]`, whatever the order the events arrive in.
        #[test]
        fn window_aggregates_match_brute_force(
            events in proptest::collection::vec((0i64..10_000, 0u8..6, 0u32..1000), 1..60),
            window_ms in 1i64..3_000,
        ) {
            let hasher = FastHasher::default();
            let (mut count, mut sum, mut distinct) =
                (Window::default(), Window::default(), Window::default());
            let mut seen: Vec<(i64, u8, u32)> = Vec::new();
            for (index, &(time_ms, tenant, amount)) in events.iter().enumerate() {
                seen.push((time_ms, tenant, amount));
                let tenant_name = [format!("t{tenant}")];
                let amount_value = Values::One(Value::Num(f64::from(amount)));
                let got_count = count.push(item(time_ms, index), Aggregate::Count, Values::None, window_ms, &hasher);
                let got_sum = sum.push(item(time_ms, index), Aggregate::Sum(Field::Bytes), amount_value, window_ms, &hasher);
                let got_distinct = distinct.push(
                    item(time_ms, index),
                    Aggregate::Distinct(Field::TenantId),
                    Values::Many(&tenant_name),
                    window_ms,
                    &hasher,
                );
                // Brute force over every event kept so far: a window only ever drops events
                // older than its latest event minus its length.
                let latest = seen.iter().map(|event| event.0).max().unwrap_or(0);
                let inside: Vec<&(i64, u8, u32)> =
                    seen.iter().filter(|event| event.0 > latest - window_ms).collect();
                let mut tenants: Vec<u8> = inside.iter().map(|event| event.1).collect();
                tenants.sort_unstable();
                tenants.dedup();
                let expected_sum: f64 = inside.iter().map(|event| f64::from(event.2)).sum();
                prop_assert_eq!(got_count, inside.len() as f64);
                prop_assert!((got_sum - expected_sum).abs() < 1e-6);
                prop_assert_eq!(got_distinct, tenants.len() as f64);
            }
        }
    }
}
