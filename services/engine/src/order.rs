//! Event-time order: de-duplication, the watermark, and the reorder buffer.
//!
//! Events arrive late and out of order. The engine holds each event until the watermark (the
//! latest event time seen, minus the allowed lateness) passes it, then releases events in
//! `(time, event_id)` order. Any arrival order within the lateness therefore releases the same
//! sequence, which is what makes alerts and their ids independent of arrival order.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::hash::BuildHasher;

use mspwatch_event::Event;
use serde::{Deserialize, Serialize};

use crate::bounded::{FastHasher, FastMap};
use crate::memory::{buffer_bytes, table_bytes, ALLOCATION_BYTES};

/// Bytes one remembered event id may take in its table: 17 bytes of bucket, in a table that
/// is between 7/16 and 7/8 full.
const ID_ENTRY_BYTES: usize = 40;

/// An event waiting for the watermark, with its time kept inline so that ordering the heap
/// rarely needs to look at the event itself.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    time_ms: i64,
    event: Box<Event>,
    /// What the event takes, for the memory budget (not saved: counted again on restore).
    #[serde(skip)]
    bytes: usize,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        self.time_ms
            .cmp(&other.time_ms)
            .then_with(|| self.event.event_id.cmp(&other.event.event_id))
    }
}

/// What happened to an event given to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Held for evaluation in event-time order.
    Accepted,
    /// Its id was seen within the de-duplication horizon: counted once already.
    Duplicate,
    /// Older than the watermark: counted and reported, not evaluated.
    TooLate,
}

/// The reorder buffer with its watermark and the de-duplication memory.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct EventOrder {
    lateness_ms: i64,
    hold_ms: i64,
    dedupe_horizon_ms: i64,
    max_remembered_ids: usize,
    latest_ms: Option<i64>,
    /// Held events in order. Audit logs are mostly in order, so most events join at the back
    /// and the oldest leave from the front, at constant cost.
    sorted: VecDeque<Pending>,
    /// Held events that arrived too far out of order to be placed in `sorted` cheaply.
    stragglers: BinaryHeap<Reverse<Pending>>,
    seen_ids: FastMap<u64, i64>,
    #[serde(skip)]
    id_hasher: FastHasher,
    prune_at: usize,
    /// Heap bytes of the held events, kept only under a memory budget (`held_counted`).
    #[serde(skip)]
    held_bytes: usize,
    #[serde(skip)]
    held_counted: bool,
    /// Most bytes the remembered ids may take; set by the engine from its memory budget.
    #[serde(skip, default = "unlimited")]
    id_budget: usize,
    /// Ids forgotten before their horizon to stay within the limits.
    #[serde(skip)]
    evicted_ids: u64,
}

fn unlimited() -> usize {
    usize::MAX
}

/// Bytes a held event takes, roughly: its box, and for each string it owns the string's length
/// and the allocator's share.
fn event_bytes(event: &Event) -> usize {
    const STRING: usize = std::mem::size_of::<String>() + ALLOCATION_BYTES;
    let text = |text: &String| text.len() + ALLOCATION_BYTES;
    let optional = |value: &Option<String>| value.as_ref().map_or(0, text);
    let list = |items: &Vec<String>| items.iter().map(|item| item.len() + STRING).sum::<usize>();
    let resource =
        event.resource.as_ref().map_or(0, |resource| text(&resource.kind) + text(&resource.id));
    std::mem::size_of::<Event>()
        + ALLOCATION_BYTES
        + text(&event.event_id)
        + optional(&event.msp_id)
        + list(&event.tenant_ids)
        + text(&event.actor.id)
        + optional(&event.actor.name)
        + text(&event.action)
        + resource
        + optional(&event.error)
        + optional(&event.source_ip)
        + optional(&event.user_agent)
        + optional(&event.product)
        + optional(&event.via_role)
        + list(&event.target_accounts)
}

impl EventOrder {
    pub(crate) fn new(
        lateness_ms: i64,
        hold_ms: i64,
        dedupe_horizon_ms: i64,
        max_remembered_ids: usize,
        id_hasher: FastHasher,
    ) -> Self {
        EventOrder {
            lateness_ms: lateness_ms.max(0),
            hold_ms: hold_ms.clamp(0, lateness_ms.max(0)),
            dedupe_horizon_ms: dedupe_horizon_ms.max(0),
            max_remembered_ids: max_remembered_ids.max(1024),
            latest_ms: None,
            sorted: VecDeque::new(),
            stragglers: BinaryHeap::new(),
            seen_ids: FastMap::default(),
            id_hasher,
            prune_at: 1024,
            held_bytes: 0,
            held_counted: false,
            id_budget: usize::MAX,
            evicted_ids: 0,
        }
    }

    /// Starts counting the bytes of held events (under a budget), or stops (without one).
    pub(crate) fn count_held(&mut self, count: bool) {
        if !count {
            self.held_counted = false;
            return;
        }
        if !self.held_counted {
            let mut held = 0;
            for pending in &mut self.sorted {
                pending.bytes = event_bytes(&pending.event);
                held += pending.bytes;
            }
            let mut stragglers = std::mem::take(&mut self.stragglers).into_vec();
            for Reverse(pending) in &mut stragglers {
                pending.bytes = event_bytes(&pending.event);
                held += pending.bytes;
            }
            self.stragglers = BinaryHeap::from(stragglers);
            self.held_bytes = held;
            self.held_counted = true;
        }
    }

    /// Bytes of the held events and their buffers, while they are counted (0 otherwise).
    pub(crate) fn held_bytes(&self) -> usize {
        if !self.held_counted {
            return 0;
        }
        buffer_bytes::<Pending>(self.sorted.capacity())
            + buffer_bytes::<Reverse<Pending>>(self.stragglers.capacity())
            + self.held_bytes
    }

    /// Bytes of the remembered event ids, under a budget (0 otherwise).
    pub(crate) fn id_bytes(&self) -> usize {
        if self.id_budget == usize::MAX {
            return 0;
        }
        table_bytes(self.seen_ids.allocation_size())
    }

    /// Remembered ids forgotten before their horizon to stay within the limits.
    pub(crate) fn evicted_ids(&self) -> u64 {
        self.evicted_ids
    }

    /// Keeps the remembered ids within `budget` bytes from now on, forgetting the oldest now
    /// if they take more.
    pub(crate) fn limit_ids(&mut self, budget: usize) {
        self.id_budget = budget;
        if self.seen_ids.allocation_size() > budget {
            self.prune_ids();
        }
    }

    /// Most ids remembered, by count and by budget.
    fn max_ids(&self) -> usize {
        self.max_remembered_ids.min(self.id_budget / ID_ENTRY_BYTES).max(2)
    }

    /// The watermark: events older than this are too late.
    pub(crate) fn watermark_ms(&self) -> Option<i64> {
        self.latest_ms.map(|latest| latest.saturating_sub(self.lateness_ms))
    }

    /// Events waiting for the watermark.
    pub(crate) fn pending(&self) -> usize {
        self.sorted.len() + self.stragglers.len()
    }

    /// Event ids remembered for de-duplication.
    pub(crate) fn remembered_ids(&self) -> usize {
        self.seen_ids.len()
    }

    /// Sets the hasher after a restore (it is not saved; the engine's seed is).
    pub(crate) fn set_hasher(&mut self, id_hasher: FastHasher) {
        self.id_hasher = id_hasher;
    }

    /// Admits an event into the buffer.
    pub(crate) fn admit(&mut self, event: Box<Event>) -> Admission {
        if self.watermark_ms().is_some_and(|watermark| event.time_ms < watermark) {
            return Admission::TooLate;
        }
        let id_hash = self.id_hasher.hash_one(event.event_id.as_str());
        if self.seen_ids.contains_key(&id_hash) {
            return Admission::Duplicate;
        }
        self.seen_ids.insert(id_hash, event.time_ms);
        if self.seen_ids.len() >= self.prune_at {
            self.prune_ids();
        }
        let latest = self.latest_ms.map_or(event.time_ms, |latest| latest.max(event.time_ms));
        self.latest_ms = Some(latest);
        let bytes = if self.held_counted { event_bytes(&event) } else { 0 };
        self.hold(Pending { time_ms: event.time_ms, event, bytes });
        Admission::Accepted
    }

    /// The next event held long enough, in `(time, event_id)` order.
    ///
    /// With the hold equal to the lateness, an event is released once it is behind the
    /// watermark, so nothing that can still arrive sorts before it. A hold of zero releases
    /// every event as soon as no held event sorts before it.
    pub(crate) fn release(&mut self) -> Option<Box<Event>> {
        let latest = self.latest_ms?;
        let release_before = latest.saturating_sub(self.hold_ms);
        let ready = self.oldest().is_some_and(|pending| {
            pending.time_ms < release_before
                || (self.hold_ms == 0 && pending.time_ms <= release_before)
        });
        if ready {
            return self.pop_oldest();
        }
        None
    }

    /// The next held event regardless of the hold (end of input, or quiet input).
    pub(crate) fn drain(&mut self) -> Option<Box<Event>> {
        self.pop_oldest()
    }

    /// Most places an event may be moved back in `sorted`; one further out of order goes to
    /// the stragglers, so that hostile disorder costs a heap operation, not a long shift.
    const MAX_SHIFT: usize = 32;

    fn hold(&mut self, pending: Pending) {
        self.held_bytes = self.held_bytes.wrapping_add(pending.bytes);
        let in_order = self.sorted.back().is_none_or(|last| *last <= pending);
        if in_order {
            self.sorted.push_back(pending);
            return;
        }
        let position = self.sorted.partition_point(|held| *held <= pending);
        if self.sorted.len() - position <= Self::MAX_SHIFT {
            self.sorted.insert(position, pending);
        } else {
            self.stragglers.push(Reverse(pending));
        }
    }

    fn oldest(&self) -> Option<&Pending> {
        match (self.sorted.front(), self.stragglers.peek()) {
            (Some(sorted), Some(Reverse(straggler))) => Some(sorted.min(straggler)),
            (Some(sorted), None) => Some(sorted),
            (None, Some(Reverse(straggler))) => Some(straggler),
            (None, None) => None,
        }
    }

    fn pop_oldest(&mut self) -> Option<Box<Event>> {
        let from_stragglers = match (self.sorted.front(), self.stragglers.peek()) {
            (Some(sorted), Some(Reverse(straggler))) => straggler < sorted,
            (None, Some(_)) => true,
            _ => false,
        };
        let pending = if from_stragglers {
            self.stragglers.pop().map(|Reverse(pending)| pending)
        } else {
            self.sorted.pop_front()
        };
        let pending = pending?;
        self.held_bytes = self.held_bytes.wrapping_sub(pending.bytes);
        Some(pending.event)
    }

    fn prune_ids(&mut self) {
        if let Some(watermark) = self.watermark_ms() {
            let cutoff = watermark.saturating_sub(self.dedupe_horizon_ms);
            self.seen_ids.retain(|_, time_ms| *time_ms >= cutoff);
        }
        let max_ids = self.max_ids();
        if self.seen_ids.len() > max_ids / 4 * 3 {
            // Forget the older half: ids are hashes, so the oldest go by time.
            let mut times: Vec<i64> = self.seen_ids.values().copied().collect();
            let keep = max_ids / 2;
            let split = times.len().saturating_sub(keep.max(1));
            let (_, cutoff, _) = times.select_nth_unstable(split);
            let cutoff = *cutoff;
            let before = self.seen_ids.len();
            self.seen_ids.retain(|_, time_ms| *time_ms >= cutoff);
            if self.seen_ids.len() > max_ids / 4 * 3 {
                // Many ids share the cutoff time: drop them all rather than keep too many.
                self.seen_ids.retain(|_, time_ms| *time_ms > cutoff);
            }
            self.evicted_ids += (before - self.seen_ids.len()) as u64;
        }
        if self.seen_ids.allocation_size() > self.id_budget {
            self.seen_ids.shrink_to_fit();
        }
        self.prune_at = (self.seen_ids.len() * 2).clamp(1024.min(max_ids), max_ids);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mspwatch_event::{ActionClass, Actor, ActorType, Outcome, SourceFormat};
    use proptest::prelude::*;

    fn event(index: usize, time_ms: i64) -> Box<Event> {
        Box::new(Event {
            event_id: format!("ev-{index:04}"),
            time_ms,
            msp_id: None,
            tenant_ids: vec!["tn".to_owned()],
            actor: Actor { id: "cred".to_owned(), kind: ActorType::User, name: None },
            action: "backup.run".to_owned(),
            class: ActionClass::Run,
            resource: None,
            outcome: Outcome::Success,
            error: None,
            object_count: None,
            bytes: None,
            source_ip: None,
            user_agent: None,
            product: None,
            via_role: None,
            target_accounts: Vec::new(),
            format: SourceFormat::Canonical,
            supplier_tier: None,
            target_external: false,
        })
    }

    proptest! {
        /// Whatever the arrival order, events leave in (time, id) order; the ones that would
        /// need a long shift go through the stragglers and still come out in place.
        #[test]
        fn held_events_leave_in_time_order(times in proptest::collection::vec(0i64..500, 1..400)) {
            let mut order = EventOrder::new(1000, 1000, 1000, 10_000, FastHasher::default());
            for (index, &time_ms) in times.iter().enumerate() {
                prop_assert_eq!(order.admit(event(index, time_ms)), Admission::Accepted);
            }
            let mut released = Vec::new();
            while let Some(event) = order.drain() {
                released.push((event.time_ms, event.event_id.clone()));
            }
            prop_assert_eq!(released.len(), times.len());
            let mut sorted = released.clone();
            sorted.sort();
            prop_assert_eq!(released, sorted);
        }
    }
}
