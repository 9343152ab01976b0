//! Per-partition offset bookkeeping: which offsets are processed, which still wait for their
//! alerts or dead letters to be acknowledged, and how far it is safe to commit.
//!
//! The committable offset is the first offset whose writes are not all acknowledged, or, when
//! everything is acknowledged, the offset after the last processed message. Committing it
//! never skips an event whose alerts are not yet durable.

use std::collections::VecDeque;

/// Offsets of one partition, in the order they were processed.
#[derive(Debug, Clone, Default)]
pub struct OffsetTracker {
    /// The offset after the last processed message; `None` before the first.
    next_processed: Option<i64>,
    /// Processed offsets whose writes are not all acknowledged, ascending, with the count.
    pending: VecDeque<(i64, u32)>,
    /// The last offset committed (the next offset to read), if any.
    committed: Option<i64>,
}

impl OffsetTracker {
    /// A tracker that has seen nothing.
    pub fn new() -> OffsetTracker {
        OffsetTracker::default()
    }

    /// Records that the message at `offset` is processed and caused `writes` writes (alerts
    /// and dead letters) that are not yet acknowledged.
    ///
    /// Offsets must be recorded in increasing order; an offset at or below one already
    /// recorded (a redelivery after a seek) is ignored and returns `false`.
    pub fn processed(&mut self, offset: i64, writes: u32) -> bool {
        if self.next_processed.is_some_and(|next| offset < next) {
            return false;
        }
        self.next_processed = Some(offset.saturating_add(1));
        if writes > 0 {
            self.pending.push_back((offset, writes));
        }
        true
    }

    /// Records `writes` more unacknowledged writes caused by the already processed message at
    /// `offset` (alerts of events a detector held back and evaluated later).
    ///
    /// Returns `false`, recording nothing, when `offset` was not processed yet or is already
    /// committed.
    pub fn add_writes(&mut self, offset: i64, writes: u32) -> bool {
        let processed = self.next_processed.is_some_and(|next| offset < next);
        let committed = self.committed.is_some_and(|committed| offset < committed);
        if !processed || committed || writes == 0 {
            return false;
        }
        match self.pending.binary_search_by_key(&offset, |&(o, _)| o) {
            Ok(index) => {
                if let Some(entry) = self.pending.get_mut(index) {
                    entry.1 = entry.1.saturating_add(writes);
                }
            }
            Err(index) => self.pending.insert(index, (offset, writes)),
        }
        true
    }

    /// Records that one write caused by the message at `offset` is acknowledged.
    ///
    /// Returns `false` when no write was pending for that offset.
    pub fn acknowledged(&mut self, offset: i64) -> bool {
        let Ok(index) = self.pending.binary_search_by_key(&offset, |&(o, _)| o) else {
            return false;
        };
        let Some(entry) = self.pending.get_mut(index) else {
            return false;
        };
        entry.1 = entry.1.saturating_sub(1);
        while self.pending.front().is_some_and(|&(_, writes)| writes == 0) {
            self.pending.pop_front();
        }
        true
    }

    /// The offset to commit now (the next offset to read on restart), when it is ahead of
    /// the last commit.
    pub fn committable(&self) -> Option<i64> {
        let safe = self.safe_offset()?;
        match self.committed {
            Some(committed) if committed >= safe => None,
            _ => Some(safe),
        }
    }

    /// How far it is safe to commit, whether or not it was already committed.
    pub fn safe_offset(&self) -> Option<i64> {
        match self.pending.front() {
            Some(&(offset, _)) => Some(offset),
            None => self.next_processed,
        }
    }

    /// Records a successful commit of `offset`.
    pub fn committed(&mut self, offset: i64) {
        if self.committed.is_none_or(|committed| offset > committed) {
            self.committed = Some(offset);
        }
    }

    /// The last committed offset, if any.
    pub fn last_committed(&self) -> Option<i64> {
        self.committed
    }

    /// The offset after the last processed message, if any.
    pub fn next_processed(&self) -> Option<i64> {
        self.next_processed
    }

    /// Writes not yet acknowledged.
    pub fn pending_writes(&self) -> u64 {
        self.pending.iter().map(|&(_, writes)| u64::from(writes)).sum()
    }

    /// Whether every processed message's writes are acknowledged and committed.
    pub fn is_settled(&self) -> bool {
        self.pending.is_empty() && self.committed == self.next_processed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_committable_before_the_first_message() {
        assert_eq!(OffsetTracker::new().committable(), None);
    }

    #[test]
    fn messages_without_writes_are_committable_at_once() {
        let mut tracker = OffsetTracker::new();
        for offset in 10..15 {
            assert!(tracker.processed(offset, 0));
        }
        assert_eq!(tracker.committable(), Some(15));
        tracker.committed(15);
        assert_eq!(tracker.committable(), None);
        assert!(tracker.is_settled());
    }

    #[test]
    fn commit_stops_at_the_first_message_with_an_unacknowledged_alert() {
        let mut tracker = OffsetTracker::new();
        tracker.processed(0, 0);
        tracker.processed(1, 2);
        tracker.processed(2, 0);
        tracker.processed(3, 1);
        tracker.processed(4, 0);
        assert_eq!(tracker.committable(), Some(1));
        tracker.acknowledged(3);
        assert_eq!(tracker.committable(), Some(1), "a later ack does not unblock an earlier one");
        tracker.acknowledged(1);
        assert_eq!(tracker.committable(), Some(1), "one of two writes is still pending");
        tracker.acknowledged(1);
        assert_eq!(tracker.committable(), Some(5));
        assert_eq!(tracker.pending_writes(), 0);
    }

    #[test]
    fn gaps_in_offsets_do_not_block_commits() {
        let mut tracker = OffsetTracker::new();
        tracker.processed(3, 0);
        tracker.processed(7, 1);
        tracker.processed(12, 0);
        assert_eq!(tracker.committable(), Some(7));
        tracker.acknowledged(7);
        assert_eq!(tracker.committable(), Some(13));
    }

    #[test]
    fn redelivered_offsets_and_unknown_acknowledgements_are_ignored() {
        let mut tracker = OffsetTracker::new();
        tracker.processed(5, 1);
        assert!(!tracker.processed(4, 0));
        assert!(!tracker.acknowledged(9));
        assert_eq!(tracker.committable(), Some(5));
        assert!(tracker.acknowledged(5));
        assert!(!tracker.acknowledged(5));
        assert_eq!(tracker.committable(), Some(6));
    }

    #[test]
    fn writes_added_to_a_processed_offset_hold_the_commit_back() {
        let mut tracker = OffsetTracker::new();
        tracker.processed(0, 0);
        tracker.processed(1, 0);
        tracker.processed(2, 1);
        assert!(tracker.add_writes(1, 2));
        assert!(tracker.add_writes(2, 1));
        assert_eq!(tracker.committable(), Some(1));
        tracker.acknowledged(1);
        tracker.acknowledged(1);
        assert_eq!(tracker.committable(), Some(2));
        tracker.acknowledged(2);
        assert_eq!(tracker.committable(), Some(2), "two writes were pending at offset 2");
        tracker.acknowledged(2);
        assert_eq!(tracker.committable(), Some(3));
    }

    #[test]
    fn writes_cannot_be_added_to_unprocessed_or_committed_offsets() {
        let mut tracker = OffsetTracker::new();
        tracker.processed(0, 0);
        tracker.processed(1, 0);
        tracker.committed(1);
        assert!(!tracker.add_writes(0, 1));
        assert!(!tracker.add_writes(5, 1));
        assert!(tracker.add_writes(1, 1));
        assert_eq!(tracker.committable(), None);
    }

    #[test]
    fn an_older_commit_never_moves_the_committed_offset_back() {
        let mut tracker = OffsetTracker::new();
        tracker.processed(0, 0);
        tracker.committed(1);
        tracker.committed(0);
        assert_eq!(tracker.last_committed(), Some(1));
    }
}
