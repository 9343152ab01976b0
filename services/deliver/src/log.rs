//! The alert log: alert versions of the alerts topic, in topic order per partition, bounded in
//! memory, with the latest version of each alert for look-ups.
//!
//! The log never waits for readers: appending takes a short write lock and wakes subscribers
//! through a watch channel; each subscriber then reads at its own pace from its own cursor.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use mspwatch_alert::Alert;
use tokio::sync::watch;

use crate::cursor::Cursor;

/// A cursor that points before the oldest alert the log still holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor points before the oldest retained alert; oldest cursor: {oldest}")]
pub struct OutOfRange {
    /// The oldest position that can still be served.
    pub oldest: Cursor,
}

/// Why an alert was not appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The offset is not after the last one seen in its partition (a re-read after a restart).
    #[error("offset {offset} of partition {partition} is behind the log (next is {next})")]
    Behind {
        /// The partition.
        partition: i32,
        /// The offset given.
        offset: i64,
        /// The next offset the log expects at least.
        next: i64,
    },
    /// The log already holds this version of the alert, or a later one: the detector wrote it
    /// again after a restart. Positions move past it; subscribers never see it twice.
    #[error("alert {id} version {version} repeated at partition {partition} offset {offset}")]
    Repeated {
        /// The alert id.
        id: String,
        /// The version written again.
        version: u32,
        /// The partition.
        partition: i32,
        /// The offset of the repeat.
        offset: i64,
    },
    /// The partition or offset is negative or at the end of the number range.
    #[error("partition {partition} offset {offset} is not a valid position")]
    Invalid {
        /// The partition.
        partition: i32,
        /// The offset.
        offset: i64,
    },
}

/// What the log holds and has dropped, for metrics and `GetStats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Alert versions held.
    pub entries: u64,
    /// Most alert versions held before the oldest are evicted.
    pub capacity: u64,
    /// Distinct alerts whose latest version is held.
    pub alert_ids: u64,
    /// Alert versions evicted to stay within the capacity.
    pub evicted: u64,
    /// Records of the alerts topic that were not alerts, skipped.
    pub skipped_records: u64,
    /// Alert versions written again (after a detector restart) and skipped, so that no
    /// subscriber sees one (id, version) twice.
    pub repeated_versions: u64,
    /// Subscriptions streaming now.
    pub subscribers: u64,
    /// Subscriptions ended because their client read nothing for the stall timeout.
    pub subscribers_ended_slow: u64,
}

/// One alert version found by a read, with its position.
#[derive(Debug, Clone)]
pub struct ReadItem {
    /// Partition of the alerts topic.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// The alert version.
    pub alert: Arc<Alert>,
}

/// The result of one read from a cursor.
#[derive(Debug, Clone)]
pub struct ReadBatch {
    /// Matching alert versions in log order.
    pub items: Vec<ReadItem>,
    /// Where the next read starts: past every entry examined, matching or not.
    pub end: Cursor,
    /// True when the read stopped at a limit and more entries wait.
    pub more: bool,
}

/// Where a page of `list` ends: the sort key of its last alert.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListKey {
    /// `first_seen` in epoch milliseconds; `i64::MIN` when it does not parse.
    pub first_seen_ms: i64,
    /// The alert id.
    pub id: String,
}

/// A time range on event time: alerts whose `last_seen` is at or after `from_ms` and whose
/// `first_seen` is before `to_ms`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive lower bound, epoch milliseconds.
    pub from_ms: Option<i64>,
    /// Exclusive upper bound, epoch milliseconds.
    pub to_ms: Option<i64>,
}

#[derive(Debug)]
struct Entry {
    offset: i64,
    seq: u64,
    alert: Arc<Alert>,
}

#[derive(Debug, Default)]
struct PartitionLog {
    entries: VecDeque<Entry>,
    /// Lowest offset still served: everything below was evicted or precedes the topic's start.
    retained_from: i64,
    /// One past the last offset seen.
    next_offset: i64,
    /// The end of the partition when reading began: "now" never starts before it.
    live_from: i64,
}

#[derive(Debug)]
struct Latest {
    partition: i32,
    offset: i64,
    key: ListKey,
    last_seen_ms: Option<i64>,
    alert: Arc<Alert>,
}

#[derive(Debug)]
struct LogState {
    capacity: usize,
    partitions: BTreeMap<i32, PartitionLog>,
    /// The partition of each held entry, oldest first: the eviction order.
    order: VecDeque<i32>,
    latest: HashMap<String, Latest>,
    seq: u64,
    evicted: u64,
    skipped: u64,
    repeated: u64,
    /// True while a topic reader has not yet said where the topic's partitions start and end.
    awaiting_partitions: bool,
}

#[derive(Debug, Default)]
pub(crate) struct SubscriberCounters {
    active: AtomicU64,
    ended_slow: AtomicU64,
}

/// Counts one active subscription while alive.
#[derive(Debug)]
pub(crate) struct SubscriberGuard {
    counters: Arc<SubscriberCounters>,
}

impl SubscriberGuard {
    pub(crate) fn ended_slow(&self) {
        self.counters.ended_slow.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.counters.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Alert versions of the alerts topic, bounded, shared by every subscriber and look-up.
#[derive(Debug)]
pub struct AlertLog {
    state: RwLock<LogState>,
    appended: watch::Sender<u64>,
    /// True once the partitions are known (at once for a log fed by `push`).
    partitions_known: watch::Sender<bool>,
    subscribers: Arc<SubscriberCounters>,
}

impl AlertLog {
    /// An empty log holding at most `capacity` alert versions (at least 1).
    pub fn new(capacity: usize) -> AlertLog {
        let state = LogState {
            capacity: capacity.max(1),
            partitions: BTreeMap::new(),
            order: VecDeque::new(),
            latest: HashMap::new(),
            seq: 0,
            evicted: 0,
            skipped: 0,
            repeated: 0,
            awaiting_partitions: false,
        };
        AlertLog {
            state: RwLock::new(state),
            appended: watch::Sender::new(0),
            partitions_known: watch::Sender::new(true),
            subscribers: Arc::default(),
        }
    }

    /// Marks the log as fed by a topic whose partitions are not known yet.
    ///
    /// Until [`AlertLog::start_partitions`] says where they start and end, the log is loading
    /// history (not [`caught_up`](AlertLog::caught_up)) and has no position for "now", since
    /// every record of the topic may still come. The alerts topic reader calls this when it is
    /// created.
    pub fn await_partitions(&self) {
        self.write().awaiting_partitions = true;
        self.partitions_known.send_replace(false);
    }

    /// True unless the log still waits for a topic reader to say where the partitions are.
    pub fn partitions_known(&self) -> bool {
        !self.read_state().awaiting_partitions
    }

    /// Waits until the partitions are known, at most `limit`; says whether they are.
    pub async fn wait_partitions_known(&self, limit: Duration) -> bool {
        let mut known = self.partitions_known.subscribe();
        let waited = tokio::time::timeout(limit, known.wait_for(|known| *known)).await;
        waited.is_ok_and(|known| known.is_ok())
    }

    /// Records where a partition of the topic starts (its low watermark, older records having
    /// been deleted) and where it ended when reading began (its high watermark).
    ///
    /// Cursors before `low_watermark` are out of range; subscriptions "from now" start at
    /// `high_watermark` at the earliest, even while the log is still catching up.
    pub fn start_partition(&self, partition: i32, low_watermark: i64, high_watermark: i64) {
        self.start_partitions(&[(partition, low_watermark, high_watermark)]);
    }

    /// [`AlertLog::start_partition`] for several partitions at once, as
    /// `(partition, low_watermark, high_watermark)`: "now" covers all of them from the moment
    /// the partitions are known.
    pub fn start_partitions(&self, partitions: &[(i32, i64, i64)]) {
        {
            let mut state = self.write();
            for &(partition, low_watermark, high_watermark) in partitions {
                let log = state.partitions.entry(partition).or_default();
                if log.entries.is_empty() && log.next_offset <= low_watermark {
                    log.retained_from = low_watermark.max(0);
                    log.next_offset = low_watermark.max(0);
                }
                log.live_from = log.live_from.max(high_watermark);
            }
            state.awaiting_partitions = false;
        }
        self.partitions_known.send_replace(true);
    }

    /// Appends an alert version read at `offset` of `partition`.
    pub fn append(&self, partition: i32, offset: i64, alert: Alert) -> Result<(), AppendError> {
        let seq = {
            let mut state = self.write();
            state.append(partition, offset, alert)?
        };
        self.appended.send_replace(seq);
        Ok(())
    }

    /// Appends an alert version at the end of partition 0 and returns the cursor after it.
    ///
    /// For a single process with no alerts topic, and for tests. Do not mix with `append` on
    /// partition 0.
    pub fn push(&self, alert: Alert) -> Cursor {
        let (seq, cursor) = {
            let mut state = self.write();
            let offset = state.partitions.get(&0).map_or(0, |log| log.next_offset);
            let seq = state.append(0, offset, alert).unwrap_or(state.seq);
            (seq, state.end_cursor())
        };
        self.appended.send_replace(seq);
        cursor
    }

    /// Notes a record at `offset` that is not an alert, so positions move past it.
    pub fn skip(&self, partition: i32, offset: i64) {
        let mut state = self.write();
        state.skipped = state.skipped.saturating_add(1);
        let log = state.partitions.entry(partition).or_default();
        if offset >= log.next_offset {
            log.next_offset = offset.saturating_add(1);
        }
    }

    /// The position of "now": after everything appended, and not before where reading began.
    pub fn end_cursor(&self) -> Cursor {
        self.read_state().end_cursor()
    }

    /// True once the partitions are known and every one has been read up to where it ended when
    /// reading began: the log is no longer loading history.
    pub fn caught_up(&self) -> bool {
        let state = self.read_state();
        !state.awaiting_partitions
            && state.partitions.values().all(|log| log.next_offset >= log.live_from)
    }

    /// The oldest position that can still be served.
    pub fn oldest_cursor(&self) -> Cursor {
        self.read_state().oldest_cursor()
    }

    /// Fails when `position` points before the oldest alert held.
    pub fn check_retained(&self, position: &Cursor) -> Result<(), OutOfRange> {
        self.read_state().check_retained(position)
    }

    /// Fails when `position` points past the end of a known partition of the topic: a cursor
    /// no reader of this topic can have been given (the topic was recreated, or the cursor
    /// belongs to another deployment), from which nothing would ever be delivered. The error
    /// carries the oldest position, from which a client misses nothing.
    pub fn check_not_ahead(&self, position: &Cursor) -> Result<(), OutOfRange> {
        let state = self.read_state();
        let ahead = position.partitions().any(|(partition, next)| {
            state
                .partitions
                .get(&partition)
                .is_some_and(|log| next > log.next_offset.max(log.live_from))
        });
        if ahead {
            return Err(OutOfRange { oldest: state.oldest_cursor() });
        }
        Ok(())
    }

    /// Reads, from `position` on, up to `max_matches` alert versions for which `matches` holds,
    /// examining at most `max_scan` entries, in the order they were appended.
    pub fn read(
        &self,
        position: &Cursor,
        matches: &dyn Fn(&Alert) -> bool,
        max_matches: usize,
        max_scan: usize,
    ) -> Result<ReadBatch, OutOfRange> {
        let state = self.read_state();
        state.check_retained(position)?;

        let mut heads: Vec<(i32, &PartitionLog, usize)> = state
            .partitions
            .iter()
            .map(|(partition, log)| {
                let next = position.next_offset(*partition);
                (*partition, log, log.entries.partition_point(|entry| entry.offset < next))
            })
            .collect();
        let mut end = position.clone();
        let mut items = Vec::new();
        let mut scanned = 0usize;
        let mut more = false;
        loop {
            let oldest_head = heads
                .iter_mut()
                .filter_map(|(partition, log, index)| {
                    log.entries.get(*index).map(|entry| (entry, *partition, index))
                })
                .min_by_key(|(entry, _, _)| entry.seq);
            let Some((entry, partition, index)) = oldest_head else { break };
            if scanned >= max_scan || items.len() >= max_matches {
                more = true;
                break;
            }
            *index += 1;
            scanned += 1;
            end.set(partition, entry.offset.saturating_add(1));
            if matches(&entry.alert) {
                let alert = Arc::clone(&entry.alert);
                items.push(ReadItem { partition, offset: entry.offset, alert });
            }
        }
        if !more {
            for (partition, log) in &state.partitions {
                end.set(*partition, end.next_offset(*partition).max(log.next_offset));
            }
        }
        Ok(ReadBatch { items, end, more })
    }

    /// The latest version of an alert.
    pub fn get(&self, id: &str) -> Option<Arc<Alert>> {
        self.read_state().latest.get(id).map(|latest| Arc::clone(&latest.alert))
    }

    /// A page of latest versions for which `matches` holds, within `range`, ordered by
    /// `first_seen` then id, starting after `after`. Returns the page and, when more follow,
    /// the key to continue after.
    pub fn list(
        &self,
        matches: &dyn Fn(&Alert) -> bool,
        range: TimeRange,
        after: Option<&ListKey>,
        limit: usize,
    ) -> (Vec<Arc<Alert>>, Option<ListKey>) {
        let limit = limit.max(1);
        let mut page: Vec<(ListKey, Arc<Alert>)> = {
            let state = self.read_state();
            state
                .latest
                .values()
                .filter(|latest| after.is_none_or(|after| &latest.key > after))
                .filter(|latest| in_range(latest, range))
                .filter(|latest| matches(&latest.alert))
                .map(|latest| (latest.key.clone(), Arc::clone(&latest.alert)))
                .collect()
        };
        let by_key = |left: &(ListKey, Arc<Alert>), right: &(ListKey, Arc<Alert>)| -> CmpOrdering {
            left.0.cmp(&right.0)
        };
        if page.len() > limit {
            page.select_nth_unstable_by(limit, by_key);
            page.truncate(limit + 1);
        }
        page.sort_unstable_by(by_key);
        let next = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|(key, _)| key.clone())
        } else {
            None
        };
        (page.into_iter().map(|(_, alert)| alert).collect(), next)
    }

    /// What the log holds and has dropped.
    pub fn stats(&self) -> LogStats {
        let state = self.read_state();
        LogStats {
            entries: state.order.len() as u64,
            capacity: state.capacity as u64,
            alert_ids: state.latest.len() as u64,
            evicted: state.evicted,
            skipped_records: state.skipped,
            repeated_versions: state.repeated,
            subscribers: self.subscribers.active.load(Ordering::Relaxed),
            subscribers_ended_slow: self.subscribers.ended_slow.load(Ordering::Relaxed),
        }
    }

    /// A receiver that changes whenever an alert is appended.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Counts a subscription, unless `max` are already streaming.
    pub(crate) fn try_add_subscriber(&self, max: usize) -> Option<SubscriberGuard> {
        let counters = &self.subscribers;
        let max = max as u64;
        counters
            .active
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |active| {
                (active < max).then_some(active + 1)
            })
            .ok()?;
        Some(SubscriberGuard { counters: Arc::clone(counters) })
    }

    fn read_state(&self) -> RwLockReadGuard<'_, LogState> {
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, LogState> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn in_range(latest: &Latest, range: TimeRange) -> bool {
    let after_from = match range.from_ms {
        None => true,
        Some(from_ms) => latest.last_seen_ms.is_some_and(|last_seen| last_seen >= from_ms),
    };
    let before_to = match range.to_ms {
        None => true,
        Some(to_ms) => latest.key.first_seen_ms != i64::MIN && latest.key.first_seen_ms < to_ms,
    };
    after_from && before_to
}

fn parse_time_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|time| time.timestamp_millis())
}

impl LogState {
    fn append(&mut self, partition: i32, offset: i64, alert: Alert) -> Result<u64, AppendError> {
        if partition < 0 || !(0..i64::MAX).contains(&offset) {
            return Err(AppendError::Invalid { partition, offset });
        }
        let log = self.partitions.entry(partition).or_default();
        if offset < log.next_offset {
            return Err(AppendError::Behind { partition, offset, next: log.next_offset });
        }
        log.next_offset = offset + 1;
        let repeated =
            self.latest.get(&alert.id).is_some_and(|held| held.alert.version >= alert.version);
        if repeated {
            self.repeated = self.repeated.saturating_add(1);
            let (id, version) = (alert.id, alert.version);
            return Err(AppendError::Repeated { id, version, partition, offset });
        }
        self.seq += 1;
        let seq = self.seq;
        let alert = Arc::new(alert);
        log.entries.push_back(Entry { offset, seq, alert: Arc::clone(&alert) });
        self.order.push_back(partition);
        self.remember_latest(partition, offset, alert);
        while self.order.len() > self.capacity {
            self.evict_oldest();
        }
        Ok(seq)
    }

    fn remember_latest(&mut self, partition: i32, offset: i64, alert: Arc<Alert>) {
        let newer_held =
            self.latest.get(&alert.id).is_some_and(|held| held.alert.version > alert.version);
        if newer_held {
            return;
        }
        let key = ListKey {
            first_seen_ms: parse_time_ms(&alert.first_seen).unwrap_or(i64::MIN),
            id: alert.id.clone(),
        };
        let last_seen_ms = parse_time_ms(&alert.last_seen);
        self.latest
            .insert(alert.id.clone(), Latest { partition, offset, key, last_seen_ms, alert });
    }

    fn evict_oldest(&mut self) {
        let Some(partition) = self.order.pop_front() else { return };
        let Some(log) = self.partitions.get_mut(&partition) else { return };
        let Some(entry) = log.entries.pop_front() else { return };
        log.retained_from = entry.offset.saturating_add(1);
        self.evicted = self.evicted.saturating_add(1);
        let is_latest = self
            .latest
            .get(&entry.alert.id)
            .is_some_and(|latest| latest.partition == partition && latest.offset == entry.offset);
        if is_latest {
            self.latest.remove(&entry.alert.id);
        }
    }

    fn end_cursor(&self) -> Cursor {
        let mut cursor = Cursor::default();
        for (partition, log) in &self.partitions {
            cursor.set(*partition, log.next_offset.max(log.live_from));
        }
        cursor
    }

    fn oldest_cursor(&self) -> Cursor {
        let mut cursor = Cursor::default();
        for (partition, log) in &self.partitions {
            cursor.set(*partition, log.retained_from);
        }
        cursor
    }

    fn check_retained(&self, position: &Cursor) -> Result<(), OutOfRange> {
        let behind = self
            .partitions
            .iter()
            .any(|(partition, log)| position.next_offset(*partition) < log.retained_from);
        if behind {
            return Err(OutOfRange { oldest: self.oldest_cursor() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::tests::sample_alert;

    fn alert(id: &str, version: u32) -> Alert {
        Alert { id: id.to_owned(), version, ..sample_alert() }
    }

    fn everything(_: &Alert) -> bool {
        true
    }

    fn ids(batch: &ReadBatch) -> Vec<String> {
        batch.items.iter().map(|item| format!("{}@{}", item.alert.id, item.alert.version)).collect()
    }

    #[test]
    fn reads_follow_append_order_across_partitions() {
        let log = AlertLog::new(100);
        log.append(1, 10, alert("a", 1)).unwrap();
        log.append(0, 5, alert("b", 1)).unwrap();
        log.append(1, 11, alert("a", 2)).unwrap();
        let batch = log.read(&Cursor::default(), &everything, 10, 100).unwrap();
        assert_eq!(ids(&batch), ["a@1", "b@1", "a@2"]);
        assert!(!batch.more);
        assert_eq!((batch.end.next_offset(0), batch.end.next_offset(1)), (6, 12));
        let again = log.read(&batch.end, &everything, 10, 100).unwrap();
        assert!(again.items.is_empty());
    }

    #[test]
    fn reads_resume_exactly_where_a_cursor_points() {
        let log = AlertLog::new(100);
        for index in 0..5 {
            log.push(alert(&format!("x{index}"), 1));
        }
        let mut position = Cursor::default();
        position.set(0, 3);
        let batch = log.read(&position, &everything, 10, 100).unwrap();
        assert_eq!(ids(&batch), ["x3@1", "x4@1"]);
    }

    #[test]
    fn limits_stop_a_read_and_say_more_follows() {
        let log = AlertLog::new(100);
        for index in 0..5 {
            log.push(alert(&format!("x{index}"), 1));
        }
        let only_x4 = |alert: &Alert| alert.id == "x4";
        let first = log.read(&Cursor::default(), &only_x4, 10, 2).unwrap();
        assert!(first.items.is_empty() && first.more);
        assert_eq!(first.end.next_offset(0), 2);
        let second = log.read(&first.end, &only_x4, 10, 10).unwrap();
        assert_eq!(ids(&second), ["x4@1"]);
    }

    #[test]
    fn eviction_moves_the_oldest_cursor_and_refuses_older_ones() {
        let log = AlertLog::new(3);
        for index in 0..5 {
            log.push(alert(&format!("x{index}"), 1));
        }
        let stats = log.stats();
        assert_eq!((stats.entries, stats.evicted, stats.alert_ids), (3, 2, 3));
        assert_eq!(log.oldest_cursor().next_offset(0), 2);
        let error = log.read(&Cursor::default(), &everything, 10, 10).unwrap_err();
        assert_eq!(error.oldest.next_offset(0), 2);
        assert!(log.get("x0").is_none());
        assert!(log.get("x4").is_some());
    }

    #[test]
    fn latest_version_wins_for_look_ups() {
        let log = AlertLog::new(10);
        log.push(alert("a", 2));
        log.push(alert("a", 1));
        assert_eq!(log.get("a").map(|alert| alert.version), Some(2));
        log.push(alert("a", 3));
        assert_eq!(log.get("a").map(|alert| alert.version), Some(3));
        assert_eq!(log.stats().alert_ids, 1);
    }

    #[test]
    fn re_read_offsets_are_refused() {
        let log = AlertLog::new(10);
        log.append(0, 7, alert("a", 1)).unwrap();
        assert_eq!(
            log.append(0, 7, alert("a", 1)),
            Err(AppendError::Behind { partition: 0, offset: 7, next: 8 })
        );
        assert!(log.append(-1, 0, alert("a", 1)).is_err());
    }

    #[test]
    fn now_starts_at_the_high_watermark_while_catching_up() {
        let log = AlertLog::new(10);
        log.start_partition(0, 4, 9);
        assert!(!log.caught_up());
        assert_eq!(log.end_cursor().next_offset(0), 9);
        assert_eq!(log.oldest_cursor().next_offset(0), 4);
        log.append(0, 4, alert("old", 1)).unwrap();
        let mut position = Cursor::default();
        position.set(0, 9);
        assert!(log.read(&position, &everything, 10, 10).unwrap().items.is_empty());
        assert!(log.check_retained(&Cursor::default()).is_err());
        log.skip(0, 8);
        assert!(log.caught_up());
    }

    #[test]
    fn a_cursor_past_the_end_of_the_topic_is_out_of_range_with_the_oldest_position() {
        let log = AlertLog::new(10);
        log.start_partitions(&[(0, 4, 9), (1, 0, 0)]);
        let mut at_end = Cursor::default();
        at_end.set(0, 9);
        assert!(log.check_not_ahead(&at_end).is_ok(), "the end itself is a valid position");
        let mut unknown_partition = Cursor::default();
        unknown_partition.set(7, 1_000);
        assert!(log.check_not_ahead(&unknown_partition).is_ok(), "unknown partitions are left");
        let mut ahead = Cursor::default();
        ahead.set(1, 3);
        let error = log.check_not_ahead(&ahead).unwrap_err();
        assert_eq!(error.oldest.next_offset(0), 4);
        log.append(1, 0, alert("new", 1)).unwrap();
        log.skip(1, 2);
        assert!(log.check_not_ahead(&ahead).is_ok(), "once the topic has grown that far");
    }

    #[tokio::test]
    async fn a_log_awaiting_its_partitions_is_loading_until_they_are_known() {
        let log = AlertLog::new(10);
        assert!(log.partitions_known() && log.caught_up());
        log.await_partitions();
        assert!(!log.partitions_known());
        assert!(!log.caught_up(), "every record of the topic may still come");
        assert!(!log.wait_partitions_known(Duration::from_millis(20)).await);
        log.start_partitions(&[(0, 2, 5), (1, 0, 3)]);
        assert!(log.wait_partitions_known(Duration::from_millis(20)).await);
        assert!(!log.caught_up(), "history is still to be read");
        assert_eq!((log.end_cursor().next_offset(0), log.end_cursor().next_offset(1)), (5, 3));
        log.skip(0, 4);
        log.skip(1, 2);
        assert!(log.caught_up());
    }

    #[test]
    fn a_version_written_again_after_a_restart_is_served_once() {
        let log = AlertLog::new(10);
        log.append(0, 0, alert("a", 1)).unwrap();
        log.append(0, 1, alert("a", 2)).unwrap();
        assert!(matches!(log.append(0, 2, alert("a", 1)), Err(AppendError::Repeated { .. })));
        assert!(matches!(log.append(0, 3, alert("a", 2)), Err(AppendError::Repeated { .. })));
        log.append(0, 4, alert("a", 3)).unwrap();
        let batch = log.read(&Cursor::default(), &everything, 10, 10).unwrap();
        assert_eq!(ids(&batch), ["a@1", "a@2", "a@3"]);
        assert_eq!(batch.end.next_offset(0), 5);
        assert_eq!(log.stats().repeated_versions, 2);
        assert_eq!(log.get("a").map(|latest| latest.version), Some(3));
    }

    #[test]
    fn skipped_records_advance_positions() {
        let log = AlertLog::new(10);
        log.push(alert("a", 1));
        log.skip(0, 1);
        let batch = log.read(&Cursor::default(), &everything, 10, 10).unwrap();
        assert_eq!(batch.end.next_offset(0), 2);
        assert_eq!(log.stats().skipped_records, 1);
    }

    #[test]
    fn lists_page_by_first_seen_then_id() {
        let log = AlertLog::new(100);
        for (id, first_seen) in [
            ("c", "2024-01-03T00:00:00Z"),
            ("a", "2024-01-01T00:00:00Z"),
            ("b", "2024-01-01T00:00:00Z"),
        ] {
            let last_seen = first_seen.to_owned();
            log.push(Alert { first_seen: first_seen.to_owned(), last_seen, ..alert(id, 1) });
        }
        let (page, next) = log.list(&everything, TimeRange::default(), None, 2);
        let page_ids: Vec<&str> = page.iter().map(|alert| alert.id.as_str()).collect();
        assert_eq!(page_ids, ["a", "b"]);
        let (rest, end) = log.list(&everything, TimeRange::default(), next.as_ref(), 2);
        assert_eq!(rest.iter().map(|alert| alert.id.as_str()).collect::<Vec<_>>(), ["c"]);
        assert_eq!(end, None);
        let from_ms = parse_time_ms("2024-01-02T00:00:00Z");
        let (late, _) = log.list(&everything, TimeRange { from_ms, to_ms: None }, None, 10);
        assert_eq!(late.iter().map(|alert| alert.id.as_str()).collect::<Vec<_>>(), ["c"]);
        let (early, _) =
            log.list(&everything, TimeRange { from_ms: None, to_ms: from_ms }, None, 10);
        assert_eq!(early.len(), 2);
    }

    #[test]
    fn subscriber_slots_are_bounded_and_released() {
        let log = AlertLog::new(1);
        let first = log.try_add_subscriber(1);
        assert!(first.is_some());
        assert!(log.try_add_subscriber(1).is_none());
        drop(first);
        let second = log.try_add_subscriber(1);
        assert!(second.is_some());
        assert_eq!(log.stats().subscribers, 1);
    }
}
