//! Replay from Kafka: reads an event-time range of one topic with its own consumer.
//!
//! The reader assigns partitions itself and never commits, so the detector group's offsets
//! are untouched. Start offsets are looked up by time (`from` minus the lateness), and each
//! answer is checked: the message just before the answered offset must be older than the
//! time asked for. An answer that is missing, out of range, or fails the check makes that
//! partition start from its beginning. Whatever the start, every event is still filtered by
//! its own event time, because the lookup works on broker timestamps, not event times, and
//! brokers can answer it wrongly. Each partition stops at the end offset captured when the
//! replay started, or once its events are past `to` by more than the lateness.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mspwatch_event::decode::{decode_record, split_records, Decoded};
use mspwatch_event::Event;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::config::KafkaConfig;
use crate::kafka::reader_config;

/// Timeout of each metadata, watermark or offset request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    /// Brokers and client settings (brokers, security, prefetch limits).
    pub kafka: KafkaConfig,
    /// The topic to read.
    pub topic: String,
    /// Only events at or after this event time (ms since the epoch).
    pub from_ms: Option<i64>,
    /// Only events before this event time (ms since the epoch).
    pub to_ms: Option<i64>,
    /// How far events may be out of order: the start lookup goes back this far before
    /// `from`, and a partition stops once its events are this far past `to`.
    pub lateness_ms: i64,
    /// Fail when no message arrives for this long before every partition is done.
    pub idle_timeout: Duration,
    /// Look start offsets up by time. Turn it off when message timestamps are not at or after
    /// event times minus the lateness (producers that set them from another clock): every
    /// partition is then read from its beginning.
    pub time_lookup: bool,
}

impl ReplayRequest {
    /// A replay of the whole of `topic` on `brokers`.
    pub fn new(brokers: &[String], topic: &str) -> ReplayRequest {
        ReplayRequest {
            kafka: KafkaConfig { brokers: brokers.to_vec(), ..KafkaConfig::default() },
            topic: topic.to_owned(),
            from_ms: None,
            to_ms: None,
            lateness_ms: 5 * 60 * 1000,
            idle_timeout: Duration::from_secs(30),
            time_lookup: true,
        }
    }

    fn in_range(&self, time_ms: i64) -> bool {
        self.from_ms.is_none_or(|from| time_ms >= from) && self.to_ms.is_none_or(|to| time_ms < to)
    }
}

/// One thing the replay found.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplayItem {
    /// An event within the time range.
    Event {
        /// The event.
        event: Box<Event>,
        /// Its partition.
        partition: i32,
        /// Its message's offset.
        offset: i64,
    },
    /// A record that could not be decoded.
    Rejected {
        /// Its partition.
        partition: i32,
        /// Its message's offset.
        offset: i64,
        /// The record's line within the message.
        line: Option<u64>,
        /// Reason code.
        reason: String,
        /// Detail.
        detail: String,
        /// The start of the rejected record (of the whole message when no record could be
        /// framed), at most [`REJECTED_RECORD_EXCERPT`] bytes.
        record: Vec<u8>,
    },
}

/// How many bytes of a rejected record a [`ReplayItem::Rejected`] carries.
pub const REJECTED_RECORD_EXCERPT: usize = 4096;

fn excerpt(bytes: &[u8]) -> Vec<u8> {
    bytes.get(..REJECTED_RECORD_EXCERPT).unwrap_or(bytes).to_vec()
}

/// How a partition's start offset was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartChoice {
    /// No `from`: the beginning.
    Beginning,
    /// The time lookup's answer, checked against the message before it.
    Lookup,
    /// The lookup gave nothing usable, or its answer failed the check: the beginning.
    FellBack,
}

/// One partition's part of a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayPartition {
    /// The partition.
    pub partition: i32,
    /// The first offset read for events.
    pub start_offset: i64,
    /// The end offset captured at the start (exclusive).
    pub end_offset: i64,
    /// How the start was chosen.
    pub start: StartChoice,
}

/// What a replay read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Messages read.
    pub messages: u64,
    /// Events within the range, handed to the callback.
    pub events: u64,
    /// Events outside the range.
    pub out_of_range: u64,
    /// Records understood but carrying no event.
    pub skipped: u64,
    /// Records rejected.
    pub rejected: u64,
    /// Each partition's start and end.
    pub partitions: Vec<ReplayPartition>,
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The client could not be created or a request failed.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// The topic does not exist or has no partitions.
    #[error("topic {0} not found")]
    UnknownTopic(String),
    /// Nothing arrived for the idle timeout before the captured end.
    #[error("no message for {idle_secs}s; partition {partition} is at {position} of {end_offset}")]
    Stalled {
        /// A partition not yet done.
        partition: i32,
        /// Its next offset.
        position: i64,
        /// Its end offset.
        end_offset: i64,
        /// The idle timeout.
        idle_secs: u64,
    },
}

/// Whether a lookup answer can be used as a partition's start (`Lookup`, pending the check of
/// the message before it) or the partition must be read from its beginning (`FellBack`).
fn choose_start(answer: Option<Offset>, low: i64, end: i64) -> StartChoice {
    match answer {
        Some(Offset::Offset(offset)) if (low..=end).contains(&offset) => StartChoice::Lookup,
        _ => StartChoice::FellBack,
    }
}

/// Whether the message before a lookup answer, with broker timestamp `previous_timestamp_ms`,
/// agrees with the answer: it must be older than the time looked up.
fn answer_holds(previous_timestamp_ms: Option<i64>, lookup_ms: i64) -> bool {
    previous_timestamp_ms.is_some_and(|timestamp| timestamp < lookup_ms)
}

/// Per-partition progress.
struct PartitionRead {
    partition: i32,
    low: i64,
    end: i64,
    position: i64,
    /// The first offset read for events.
    first: i64,
    /// The answered offset whose predecessor must be checked, and the time looked up.
    check: Option<(i64, i64)>,
    start: StartChoice,
    done: bool,
}

/// Reads `request.topic` between `from_ms` and `to_ms` in event time and hands every event
/// in range and every reject to `on_item`. Blocks; call it from a blocking thread in async
/// code.
pub fn replay_range(
    request: &ReplayRequest,
    mut on_item: impl FnMut(ReplayItem),
) -> Result<ReplaySummary, ReplayError> {
    let group_id = replay_group_id();
    let consumer: BaseConsumer<ReplayContext> =
        reader_config(&request.kafka, &group_id).create_with_context(ReplayContext)?;
    let mut reads = plan_partitions(&consumer, request)?;

    let mut assignment = TopicPartitionList::new();
    for read in &reads {
        if !read.done {
            let first = read.check.map_or(read.position, |(answer, _)| answer.saturating_sub(1));
            assignment.add_partition_offset(
                &request.topic,
                read.partition,
                Offset::Offset(first),
            )?;
        }
    }
    let mut summary = ReplaySummary::default();
    if assignment.count() > 0 {
        consumer.assign(&assignment)?;
        read_until_done(&consumer, request, &mut reads, &mut summary, &mut on_item)?;
    }
    summary.partitions = reads
        .iter()
        .map(|read| ReplayPartition {
            partition: read.partition,
            start_offset: read.first,
            end_offset: read.end,
            start: read.start,
        })
        .collect();
    Ok(summary)
}

/// Captures each partition's range and chooses its start offset.
fn plan_partitions(
    consumer: &BaseConsumer<ReplayContext>,
    request: &ReplayRequest,
) -> Result<Vec<PartitionRead>, ReplayError> {
    let topic = request.topic.as_str();
    let metadata = consumer.fetch_metadata(Some(topic), REQUEST_TIMEOUT)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|entry| entry.name() == topic && entry.error().is_none())
        .flat_map(|entry| entry.partitions().iter().map(|partition| partition.id()))
        .collect();
    if partitions.is_empty() {
        return Err(ReplayError::UnknownTopic(topic.to_owned()));
    }
    let mut reads = Vec::new();
    for partition in partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, REQUEST_TIMEOUT)?;
        reads.push(PartitionRead {
            partition,
            low,
            end: high,
            position: low,
            first: low,
            check: None,
            start: StartChoice::Beginning,
            done: low >= high,
        });
    }
    let Some(from_ms) = request.from_ms.filter(|_| request.time_lookup) else {
        return Ok(reads);
    };
    let lookup_ms = from_ms.saturating_sub(request.lateness_ms.max(0));
    let mut query = TopicPartitionList::new();
    for read in reads.iter().filter(|read| !read.done) {
        query.add_partition_offset(topic, read.partition, Offset::Offset(lookup_ms))?;
    }
    let answers = match consumer.offsets_for_times(query, REQUEST_TIMEOUT) {
        Ok(answers) => answers,
        Err(error) => {
            tracing::warn!(error = %error, topic, "offset lookup by time failed; reading from the beginning");
            TopicPartitionList::new()
        }
    };
    for read in reads.iter_mut().filter(|read| !read.done) {
        let answer = answers
            .find_partition(topic, read.partition)
            .filter(|element| element.error().is_ok())
            .map(|element| element.offset());
        match choose_start(answer, read.low, read.end) {
            StartChoice::Lookup => {
                if let Some(Offset::Offset(offset)) = answer {
                    read.position = offset;
                    read.first = offset;
                    if offset > read.low {
                        read.check = Some((offset, lookup_ms));
                    }
                }
                read.start = StartChoice::Lookup;
            }
            choice => {
                tracing::info!(topic, partition = read.partition, answer = ?answer, "offset lookup gave nothing usable; reading the partition from its beginning");
                read.start = choice;
            }
        }
        if read.position >= read.end {
            read.done = true;
        }
    }
    Ok(reads)
}

fn read_until_done(
    consumer: &BaseConsumer<ReplayContext>,
    request: &ReplayRequest,
    reads: &mut [PartitionRead],
    summary: &mut ReplaySummary,
    on_item: &mut impl FnMut(ReplayItem),
) -> Result<(), ReplayError> {
    let mut last_message = Instant::now();
    while reads.iter().any(|read| !read.done) {
        let Some(polled) = consumer.poll(Duration::from_millis(100)) else {
            if last_message.elapsed() >= request.idle_timeout {
                return Err(stalled(reads, request.idle_timeout));
            }
            continue;
        };
        let message = match polled {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(error = %error, "replay read failed; retrying");
                continue;
            }
        };
        last_message = Instant::now();
        let Some(read) = reads.iter_mut().find(|read| read.partition == message.partition()) else {
            continue;
        };
        if read.done || message.offset() < read.position.saturating_sub(1) {
            continue;
        }
        if let Some((answer, lookup_ms)) = read.check.take() {
            if message.offset() == answer.saturating_sub(1) {
                if !answer_holds(message.timestamp().to_millis(), lookup_ms) {
                    fall_back(consumer, request, read)?;
                }
                continue;
            }
            // The predecessor is gone (compaction or retention): the answer cannot be checked.
            if message.offset() > answer.saturating_sub(1) {
                fall_back(consumer, request, read)?;
                continue;
            }
        }
        if message.offset() < read.position {
            continue;
        }
        read.position = message.offset().saturating_add(1);
        summary.messages += 1;
        let newest = handle_message(&message, request, summary, on_item);
        let past_to = match (request.to_ms, newest) {
            (Some(to), Some(time)) => time > to.saturating_add(request.lateness_ms.max(0)),
            _ => false,
        };
        if read.position >= read.end || past_to {
            read.done = true;
            pause(consumer, &request.topic, read.partition);
        }
    }
    Ok(())
}

/// Restarts `read` from the beginning of its partition after a lookup answer failed its check.
fn fall_back(
    consumer: &BaseConsumer<ReplayContext>,
    request: &ReplayRequest,
    read: &mut PartitionRead,
) -> Result<(), ReplayError> {
    tracing::info!(
        topic = %request.topic,
        partition = read.partition,
        "offset lookup answer failed its check; reading the partition from its beginning"
    );
    read.position = read.low;
    read.first = read.low;
    read.start = StartChoice::FellBack;
    consumer.seek(&request.topic, read.partition, Offset::Offset(read.low), REQUEST_TIMEOUT)?;
    Ok(())
}

fn pause(consumer: &BaseConsumer<ReplayContext>, topic: &str, partition: i32) {
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, partition);
    if let Err(error) = consumer.pause(&list) {
        tracing::debug!(error = %error, partition, "pausing a finished partition failed");
    }
}

/// Decodes one message; returns the newest event time in it.
fn handle_message(
    message: &BorrowedMessage<'_>,
    request: &ReplayRequest,
    summary: &mut ReplaySummary,
    on_item: &mut impl FnMut(ReplayItem),
) -> Option<i64> {
    let (partition, offset) = (message.partition(), message.offset());
    let payload = message.payload().unwrap_or_default();
    let mut newest = None::<i64>;
    let mut reject = |line: Option<u64>, reason: &str, detail: &str, record: &[u8]| {
        summary.rejected += 1;
        on_item(ReplayItem::Rejected {
            partition,
            offset,
            line,
            reason: reason.to_owned(),
            detail: detail.to_owned(),
            record: excerpt(record),
        });
    };
    let records = split_records(payload);
    if records.is_empty() {
        reject(None, "empty_payload", "the message holds no record", payload);
        return None;
    }
    let mut events = Vec::new();
    for record in records {
        match record {
            Ok(record) => match decode_record(record.bytes) {
                Ok(Decoded::Event(event)) => events.push(event),
                Ok(Decoded::Skipped(_)) => summary.skipped += 1,
                Err(error) => reject(Some(record.line), error.reason, &error.detail, record.bytes),
            },
            Err((line, error)) => reject(Some(line), error.reason, &error.detail, payload),
        }
    }
    for event in events {
        newest = Some(newest.map_or(event.time_ms, |newest| newest.max(event.time_ms)));
        if request.in_range(event.time_ms) {
            summary.events += 1;
            on_item(ReplayItem::Event { event, partition, offset });
        } else {
            summary.out_of_range += 1;
        }
    }
    newest
}

fn stalled(reads: &[PartitionRead], idle_timeout: Duration) -> ReplayError {
    let pending = reads.iter().find(|read| !read.done);
    ReplayError::Stalled {
        partition: pending.map_or(-1, |read| read.partition),
        position: pending.map_or(-1, |read| read.position),
        end_offset: pending.map_or(-1, |read| read.end),
        idle_secs: idle_timeout.as_secs(),
    }
}

/// A group id no live group uses; the reader never joins or commits with it.
fn replay_group_id() -> String {
    let nanos =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos());
    format!("mspwatch-replay-{}-{nanos}", std::process::id())
}

/// Routes the replay reader's client logs to `tracing`.
struct ReplayContext;

impl ClientContext for ReplayContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Debug => tracing::debug!(target: "rdkafka", facility, "{message}"),
            RDKafkaLogLevel::Info | RDKafkaLogLevel::Notice => {
                tracing::info!(target: "rdkafka", facility, "{message}");
            }
            _ => tracing::warn!(target: "rdkafka", facility, "{message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(error = %error, reason, "replay reader error");
    }
}

impl ConsumerContext for ReplayContext {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_inside_the_partition_is_used_and_anything_else_falls_back() {
        assert_eq!(choose_start(Some(Offset::Offset(5)), 0, 10), StartChoice::Lookup);
        assert_eq!(choose_start(Some(Offset::Offset(0)), 0, 10), StartChoice::Lookup);
        assert_eq!(choose_start(Some(Offset::Offset(10)), 0, 10), StartChoice::Lookup);
        assert_eq!(choose_start(Some(Offset::Offset(11)), 0, 10), StartChoice::FellBack);
        assert_eq!(choose_start(Some(Offset::Offset(2)), 3, 10), StartChoice::FellBack);
        assert_eq!(choose_start(Some(Offset::End), 0, 10), StartChoice::FellBack);
        assert_eq!(choose_start(Some(Offset::Invalid), 0, 10), StartChoice::FellBack);
        assert_eq!(choose_start(None, 0, 10), StartChoice::FellBack);
    }

    #[test]
    fn answer_holds_only_when_the_message_before_it_is_older_than_the_lookup() {
        assert!(answer_holds(Some(999), 1000));
        assert!(!answer_holds(Some(1000), 1000), "an equal timestamp belongs at or after");
        assert!(!answer_holds(Some(5000), 1000), "the answer skipped a later message");
        assert!(!answer_holds(None, 1000), "no timestamp cannot confirm anything");
    }

    #[test]
    fn time_range_is_inclusive_of_from_and_exclusive_of_to() {
        let mut request = ReplayRequest::new(&["127.0.0.1:9".to_owned()], "audit");
        request.from_ms = Some(100);
        request.to_ms = Some(200);
        assert!(!request.in_range(99));
        assert!(request.in_range(100));
        assert!(request.in_range(199));
        assert!(!request.in_range(200));
    }
}
