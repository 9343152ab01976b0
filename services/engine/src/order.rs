//! Event-time order: de-duplication, the watermark, and the reorder buffer.
//!
//! Events arrive late and out of order. The engine holds each event until the watermark (the
//! latest event time seen, minus the allowed lateness) passes it, then releases events in
//! `(time, event_id)` order. Any arrival order within the lateness therefore releases the same
//! sequence, which is what makes alerts and their ids independent of arrival order.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::hash::BuildHasher;

use mspwatch_event::Event;
use serde::{Deserialize, Serialize};

use crate::bounded::{FastHasher, FastMap};

/// An event waiting for the watermark, with its time kept inline so that ordering the heap
/// rarely needs to look at the event itself.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    time_ms: i64,
    event: Box<Event>,
}

impl Pending {
    fn new(event: Box<Event>) -> Self {
        Pending { time_ms: event.time_ms, event }
    }
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
    heap: BinaryHeap<Reverse<Pending>>,
    seen_ids: FastMap<u64, i64>,
    #[serde(skip)]
    id_hasher: FastHasher,
    prune_at: usize,
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
            heap: BinaryHeap::new(),
            seen_ids: FastMap::default(),
            id_hasher,
            prune_at: 1024,
        }
    }

    /// The watermark: events older than this are too late.
    pub(crate) fn watermark_ms(&self) -> Option<i64> {
        self.latest_ms.map(|latest| latest.saturating_sub(self.lateness_ms))
    }

    /// Events waiting for the watermark.
    pub(crate) fn pending(&self) -> usize {
        self.heap.len()
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
        self.heap.push(Reverse(Pending::new(event)));
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
        let ready = self.heap.peek().is_some_and(|Reverse(pending)| {
            pending.time_ms < release_before
                || (self.hold_ms == 0 && pending.time_ms <= release_before)
        });
        if ready {
            return self.heap.pop().map(|Reverse(pending)| pending.event);
        }
        None
    }

    /// The next held event regardless of the hold (end of input, or quiet input).
    pub(crate) fn drain(&mut self) -> Option<Box<Event>> {
        self.heap.pop().map(|Reverse(pending)| pending.event)
    }

    fn prune_ids(&mut self) {
        if let Some(watermark) = self.watermark_ms() {
            let cutoff = watermark.saturating_sub(self.dedupe_horizon_ms);
            self.seen_ids.retain(|_, time_ms| *time_ms >= cutoff);
        }
        if self.seen_ids.len() > self.max_remembered_ids {
            let mut times: Vec<i64> = self.seen_ids.values().copied().collect();
            let keep = self.max_remembered_ids / 2;
            let split = times.len() - keep;
            let (_, cutoff, _) = times.select_nth_unstable(split);
            let cutoff = *cutoff;
            self.seen_ids.retain(|_, time_ms| *time_ms >= cutoff);
        }
        self.prune_at = (self.seen_ids.len() * 2).max(1024);
    }
}
