//! The state shared by the consume loop, the rebalance and delivery callbacks and the
//! watchdog: one detector and offset tracker per assigned partition, plus counters.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mspwatch_engine::EngineStats;
use mspwatch_event::decode::{decode_record, for_each_record, Decoded};
use prometheus_client::metrics::gauge::Gauge;

use crate::detector::{Detector, PartitionId};
use crate::metrics::{IngestMetrics, KindLabels, PartitionLabels, ReasonLabels};
use crate::offsets::OffsetTracker;
use crate::stats::{IngestStats, PartitionStats};
use crate::writes::{alert_write, dead_letter_write, Rejection, Write};
use crate::DurableAlertCallback;

/// Most MSP ids remembered for the several-partitions check before the memory is reset.
const MAX_MSP_HOMES: usize = 100_000;

/// Dead letters written for the rejected records of one message; the rejects past it are
/// counted by reason and set aside together, as one dead letter holding the message.
pub(crate) const MAX_DEAD_LETTERS_PER_MESSAGE: usize = 100;

/// Settings the callbacks need.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub alerts_topic: String,
    pub dead_letter_topic: String,
    pub dead_letter_max_bytes: usize,
    pub drain_timeout: Duration,
    pub stall_timeout: Duration,
    pub unreachable_timeout: Duration,
}

/// Everything shared between the loop and the callbacks.
pub(crate) struct Shared<D> {
    pub state: Mutex<State<D>>,
    pub retries: Mutex<Vec<Write>>,
    pub metrics: IngestMetrics,
    pub settings: Settings,
    pub on_alert_durable: Option<DurableAlertCallback>,
    pub reachability: super::health::Reachability,
}

impl<D> Shared<D> {
    /// Locks the state; a poisoned lock (a panic elsewhere) still yields the data.
    pub fn lock(&self) -> MutexGuard<'_, State<D>> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks the queue of writes to try again.
    pub fn lock_retries(&self) -> MutexGuard<'_, Vec<Write>> {
        self.retries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Assigned partitions and counters.
pub(crate) struct State<D> {
    pub partitions: HashMap<PartitionId, PartitionState<D>>,
    pub next_generation: u64,
    msp_homes: HashMap<String, PartitionId>,
    msp_warned: HashSet<String>,
    rejects: BTreeMap<String, u64>,
    /// Since when no partition has been assigned, and whether that was reported.
    unassigned: Option<(Instant, bool)>,
}

/// How long an instance may hold no partition before it says so: normal for a spare member
/// of a group with more members than partitions, a sign of trouble otherwise.
pub(crate) const UNASSIGNED_WARNING: Duration = Duration::from_secs(60);

impl<D> Default for State<D> {
    fn default() -> Self {
        State {
            partitions: HashMap::new(),
            next_generation: 1,
            msp_homes: HashMap::new(),
            msp_warned: HashSet::new(),
            rejects: BTreeMap::new(),
            unassigned: None,
        }
    }
}

/// One assigned partition.
pub(crate) struct PartitionState<D> {
    pub generation: u64,
    pub detector: D,
    pub offsets: OffsetTracker,
    pub high_watermark: Option<i64>,
    /// The group's committed offset for the partition, where consumption resumes.
    pub start_offset: Option<i64>,
    pub broker_lag: Option<i64>,
    pub last_progress: Instant,
    pub stalled: bool,
    pub events: u64,
    /// Events were given to the detector since it last released its held events.
    pub unreleased: bool,
    reported: EngineStats,
}

impl<D> PartitionState<D> {
    pub fn new(generation: u64, detector: D) -> PartitionState<D> {
        PartitionState {
            generation,
            detector,
            offsets: OffsetTracker::new(),
            high_watermark: None,
            start_offset: None,
            broker_lag: None,
            last_progress: Instant::now(),
            stalled: false,
            events: 0,
            unreleased: false,
            reported: EngineStats::default(),
        }
    }

    /// Messages not yet processed: from our own position when we have one; before the first
    /// message, from the committed offset (so a partition that never delivers shows its
    /// backlog, and the stall watchdog sees it); else the client's own estimate.
    pub fn lag(&self) -> Option<i64> {
        match (self.high_watermark, self.offsets.next_processed(), self.start_offset) {
            (Some(high), Some(next), _) => Some(high.saturating_sub(next).max(0)),
            (Some(high), None, Some(start)) => Some(high.saturating_sub(start).max(0)),
            _ => self.broker_lag.filter(|lag| *lag >= 0),
        }
    }
}

/// What processing one message produced.
pub(crate) struct Processed {
    pub writes: Vec<Write>,
}

impl<D: Detector> State<D> {
    /// Decodes a message, feeds its events to the partition's detector and returns the writes
    /// (alerts, dead letters) its offset waits for. `None` when the partition is not assigned
    /// (a message fetched before a revocation): it is neither processed nor committed.
    pub fn process_message(
        &mut self,
        shared: &Shared<D>,
        source: &PartitionId,
        offset: i64,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
    ) -> Option<Processed> {
        let State { partitions, msp_homes, msp_warned, rejects, .. } = self;
        let partition = partitions.get_mut(source)?;
        let metrics = &shared.metrics;
        let settings = &shared.settings;
        let generation = partition.generation;
        // Only dead letters are written until the alerts are added at the end.
        let mut writes = Vec::new();
        let mut set_aside = 0_u64;
        let mut reject = |reason: &str, detail: &str, line: Option<u64>, bytes: Option<&[u8]>| {
            *rejects.entry(reason.to_owned()).or_insert(0) += 1;
            metrics.rejects.get_or_create(&ReasonLabels { reason: reason.to_owned() }).inc();
            tracing::debug!(%source, offset, reason, detail, "record rejected");
            let Some(bytes) = bytes else { return };
            if writes.len() >= MAX_DEAD_LETTERS_PER_MESSAGE {
                set_aside += 1;
                return;
            }
            let rejection = Rejection { source, generation, offset, line, reason, detail };
            writes.push(dead_letter_write(
                &settings.dead_letter_topic,
                &rejection,
                key,
                bytes,
                settings.dead_letter_max_bytes,
            ));
        };

        let payload = payload.unwrap_or_default();
        let mut alerts = Vec::new();
        if payload.iter().all(u8::is_ascii_whitespace) {
            reject("empty_payload", "the message has no payload", None, Some(payload));
        } else {
            let mut records = 0_u64;
            // A record that cannot even be split off leaves only the message's bytes to keep:
            // the dead letter holds them once, however many such records the message has.
            let mut message_kept = false;
            // One record at a time: a message of many tiny records costs no more than its bytes.
            for_each_record(payload, &mut |record| {
                records += 1;
                match record {
                    Ok(record) => match decode_record(record.bytes) {
                        Ok(Decoded::Event(event)) => {
                            let msp_id = event.msp_id.as_deref().or(key_text(key));
                            if let Some(msp_id) = msp_id {
                                note_msp(msp_homes, msp_warned, metrics, msp_id, source);
                            }
                            partition.detector.ingest(*event, &mut alerts);
                            partition.events += 1;
                            partition.unreleased = true;
                            metrics.events.inc();
                        }
                        Ok(Decoded::Skipped(_)) => {
                            metrics.records_skipped.inc();
                        }
                        Err(error) => {
                            let bytes = Some(record.bytes);
                            reject(error.reason, &error.detail, Some(record.line), bytes);
                        }
                    },
                    Err((line, error)) => {
                        let bytes = if message_kept { None } else { Some(payload) };
                        reject(error.reason, &error.detail, Some(line), bytes);
                        message_kept = true;
                    }
                }
            });
            if records == 0 {
                reject("no_records", "the message holds no record", None, Some(payload));
            }
        }
        if set_aside > 0 {
            // Counted above under their own reasons; kept here once, with the message.
            let detail = format!(
                "{set_aside} more rejected records of this message beyond the first \
                 {MAX_DEAD_LETTERS_PER_MESSAGE}; the message is kept whole (cut to the dead \
                 letter size)"
            );
            let rejection = Rejection {
                source,
                generation,
                offset,
                line: None,
                reason: "rejects_set_aside",
                detail: &detail,
            };
            writes.push(dead_letter_write(
                &settings.dead_letter_topic,
                &rejection,
                key,
                payload,
                settings.dead_letter_max_bytes,
            ));
        }
        for alert in &alerts {
            let base = (source.clone(), generation, offset);
            if let Some(write) = alert_write(&settings.alerts_topic, alert, base) {
                writes.push(write);
            }
        }

        let pending = u32::try_from(writes.len()).unwrap_or(u32::MAX);
        partition.offsets.processed(offset, pending);
        partition.last_progress = Instant::now();
        Some(Processed { writes })
    }

    /// Makes the detectors of `partitions` (all when empty) evaluate the events they hold back,
    /// when they were given events since they last did and, with `quiet_for`, have had no
    /// message for that long. Returns the alert writes, each held against the partition's
    /// last processed offset so no commit passes them before they are durable.
    pub fn release_held(
        &mut self,
        shared: &Shared<D>,
        partitions: &[PartitionId],
        quiet_for: Option<Duration>,
    ) -> Vec<Write> {
        let now = Instant::now();
        let mut writes = Vec::new();
        for (id, partition) in &mut self.partitions {
            if !partition.unreleased || (!partitions.is_empty() && !partitions.contains(id)) {
                continue;
            }
            let quiet = now.saturating_duration_since(partition.last_progress);
            if quiet_for.is_some_and(|wanted| quiet < wanted) {
                continue;
            }
            partition.unreleased = false;
            let mut alerts = Vec::new();
            partition.detector.release_held(&mut alerts);
            let Some(offset) =
                partition.offsets.next_processed().map(|next| next.saturating_sub(1))
            else {
                continue;
            };
            let before = writes.len();
            for alert in &alerts {
                let base = (id.clone(), partition.generation, offset);
                if let Some(write) = alert_write(&shared.settings.alerts_topic, alert, base) {
                    writes.push(write);
                }
            }
            let added = u32::try_from(writes.len() - before).unwrap_or(u32::MAX);
            if added > 0 && !partition.offsets.add_writes(offset, added) {
                tracing::error!(partition = %id, offset, "released alerts came after their commit");
            }
        }
        writes
    }

    /// A write caused by `source` at `offset` was acknowledged; false when the partition has
    /// since been revoked (or reassigned under a new generation).
    pub fn acknowledge(&mut self, source: &PartitionId, generation: u64, offset: i64) -> bool {
        match self.partitions.get_mut(source) {
            Some(partition) if partition.generation == generation => {
                partition.offsets.acknowledged(offset)
            }
            _ => false,
        }
    }

    /// Whether a write for `source` under `generation` still matters.
    pub fn is_current(&self, source: &PartitionId, generation: u64) -> bool {
        self.partitions.get(source).is_some_and(|partition| partition.generation == generation)
    }

    /// Folds detector counters into the metrics, updates lag gauges and the stall watchdog.
    pub fn watch(&mut self, metrics: &IngestMetrics, stall_timeout: Duration) {
        let now = Instant::now();
        if self.partitions.is_empty() {
            let (since, reported) = self.unassigned.get_or_insert((now, false));
            let for_how_long = now.saturating_duration_since(*since);
            if !*reported && for_how_long >= UNASSIGNED_WARNING {
                *reported = true;
                tracing::warn!(
                    seconds = for_how_long.as_secs(),
                    "no audit partition assigned to this instance; other members of the group \
                     may hold them all, or the group is not forming"
                );
            }
        } else {
            self.unassigned = None;
        }
        let mut state_keys = None::<u64>;
        let mut state_bytes = 0_u64;
        for (id, partition) in &mut self.partitions {
            let counters = partition.detector.counters();
            let reported = &partition.reported;
            metrics.evictions.inc_by(counters.evicted.saturating_sub(reported.evicted));
            let before = reported.evictions.by_kind();
            for ((kind, now), (_, then)) in counters.evictions.by_kind().into_iter().zip(before) {
                if now > then {
                    metrics
                        .evictions_by_kind
                        .get_or_create(&KindLabels { kind })
                        .inc_by(now - then);
                }
            }
            state_bytes = state_bytes.saturating_add(counters.state_bytes);
            metrics.late_events.inc_by(counters.too_late.saturating_sub(reported.too_late));
            metrics
                .duplicate_events
                .inc_by(counters.duplicates.saturating_sub(reported.duplicates));
            partition.reported = counters;
            if let Some(keys) = partition.detector.tracked_keys() {
                state_keys = Some(state_keys.unwrap_or(0).saturating_add(keys));
            }

            let labels = PartitionLabels { topic: id.topic.to_string(), partition: id.partition };
            let lag = partition.lag();
            metrics.partition_lag.get_or_create(&labels).set(lag.unwrap_or(0));
            if lag.is_none_or(|lag| lag == 0) {
                partition.last_progress = now;
            }
            let stuck = now.saturating_duration_since(partition.last_progress) >= stall_timeout;
            if stuck && !partition.stalled {
                partition.stalled = true;
                metrics.partition_stalls.inc();
                tracing::warn!(
                    partition = %id,
                    lag = lag.unwrap_or(0),
                    stalled_for_secs = stall_timeout.as_secs(),
                    "partition has lag but made no progress"
                );
            } else if !stuck && partition.stalled {
                partition.stalled = false;
                tracing::info!(partition = %id, "stalled partition is progressing again");
            }
            set_gauge(&metrics.partition_stalled.get_or_create(&labels), partition.stalled);
        }
        if let Some(keys) = state_keys {
            metrics.state_keys.set(i64::try_from(keys).unwrap_or(i64::MAX));
        }
        metrics.state_bytes.set(i64::try_from(state_bytes).unwrap_or(i64::MAX));
    }

    /// A snapshot for the admin API.
    pub fn snapshot(&self, metrics: &IngestMetrics) -> IngestStats {
        let mut partitions: Vec<PartitionStats> = self
            .partitions
            .iter()
            .map(|(id, partition)| PartitionStats {
                partition: id.clone(),
                next_offset: partition.offsets.next_processed(),
                committed: partition.offsets.last_committed(),
                high_watermark: partition.high_watermark,
                lag: partition.lag(),
                stalled: partition.stalled,
                pending_writes: partition.offsets.pending_writes(),
                events: partition.events,
                detector: partition.detector.counters(),
                tracked_keys: partition.detector.tracked_keys(),
            })
            .collect();
        partitions.sort_by(|a, b| a.partition.cmp(&b.partition));
        IngestStats {
            events: metrics.events.get(),
            records_skipped: metrics.records_skipped.get(),
            rejects: self.rejects.clone(),
            dead_letters: metrics.dead_letters.get(),
            alerts: metrics.alerts.get(),
            commits: metrics.commits.get(),
            msp_partition_splits: metrics.msp_partition_splits.get(),
            partitions,
        }
    }
}

fn set_gauge(gauge: &Gauge, on: bool) {
    gauge.set(i64::from(on));
}

fn key_text(key: Option<&[u8]>) -> Option<&str> {
    key.and_then(|key| std::str::from_utf8(key).ok()).filter(|key| !key.is_empty())
}

/// Remembers which partition an MSP's events arrive on; warns (once per MSP) and counts when
/// one MSP shows up on a second partition, since its state is then split.
fn note_msp(
    homes: &mut HashMap<String, PartitionId>,
    warned: &mut HashSet<String>,
    metrics: &IngestMetrics,
    msp_id: &str,
    source: &PartitionId,
) {
    match homes.get(msp_id) {
        Some(home) if home == source => {}
        Some(home) => {
            metrics.msp_partition_splits.inc();
            if warned.len() >= MAX_MSP_HOMES {
                warned.clear();
            }
            if warned.insert(msp_id.to_owned()) {
                tracing::warn!(
                    msp_id,
                    first_partition = %home,
                    other_partition = %source,
                    "one MSP's events arrive on several partitions; its state is split \
                     (producers must key audit events by MSP id)"
                );
            }
        }
        None => {
            if homes.len() >= MAX_MSP_HOMES {
                homes.clear();
            }
            homes.insert(msp_id.to_owned(), source.clone());
        }
    }
}

#[cfg(test)]
mod tests;
