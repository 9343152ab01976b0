//! Replay from Kafka against a real broker: the event-time filter holds whatever the
//! offset-by-time lookup answers, rejects carry their position, and the reader stops at the
//! end captured at its start.
#![allow(clippy::unwrap_used, reason = "test helpers fail by panicking")]

mod common;

use std::time::Duration;

use common::*;
use mspwatch_event::time::parse_rfc3339_ms;
use mspwatch_ingest::replay::{ReplayItem, StartChoice};
use mspwatch_ingest::testing::Broker;
use mspwatch_ingest::{replay_range, ReplayError, ReplayRequest};

fn hour(index: i64) -> String {
    format!("2026-11-02T{index:02}:00:00Z")
}

fn time_ms(text: &str) -> i64 {
    parse_rfc3339_ms(text).unwrap()
}

/// Ten events an hour apart, `ev-0` to `ev-9`, on one partition, with broker timestamps from
/// `timestamp`.
async fn ten_events(brokers: &str, topic: &str, timestamp: impl Fn(i64) -> Option<i64>) {
    let producer = producer(brokers);
    for index in 0..10 {
        let record = canonical(&format!("ev-{index}"), "msp-a", "backup.run", &hour(index));
        produce(&producer, topic, 0, "msp-a", record.as_bytes(), timestamp(index)).await;
    }
}

fn request(brokers: &str, topic: &str, from: &str, to: &str) -> ReplayRequest {
    let mut request = ReplayRequest::new(&[brokers.to_owned()], topic);
    request.from_ms = Some(time_ms(from));
    request.to_ms = Some(time_ms(to));
    request.idle_timeout = Duration::from_secs(15);
    request
}

fn replay_ids(request: &ReplayRequest) -> (Vec<String>, mspwatch_ingest::ReplaySummary) {
    let mut ids = Vec::new();
    let summary = replay_range(request, |item| {
        if let ReplayItem::Event { event, .. } = item {
            ids.push(event.event_id);
        }
    })
    .unwrap();
    (ids, summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_filters_by_event_time_when_broker_timestamps_are_later_than_events() {
    let Some(broker) = Broker::start_or_skip() else { return };
    broker.create_topic("audit", 1).unwrap();
    let brokers = broker.address();
    // Broker timestamps are "now", long after every event: a lookup for 05:00 answers 0.
    ten_events(&brokers, "audit", |_| None).await;
    let request = request(&brokers, "audit", &hour(5), &hour(8));
    let (ids, summary) = tokio::task::spawn_blocking(move || replay_ids(&request)).await.unwrap();
    assert_eq!(ids, ["ev-5", "ev-6", "ev-7"]);
    assert_eq!(summary.events, 3);
    assert_eq!(summary.rejected, 0);
    assert!(summary.out_of_range >= 5, "{summary:?}");
    assert_eq!(summary.partitions.first().map(|p| p.end_offset), Some(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_falls_back_to_the_beginning_when_broker_timestamps_are_all_older() {
    let Some(broker) = Broker::start_or_skip() else { return };
    broker.create_topic("audit", 1).unwrap();
    let brokers = broker.address();
    // Broker timestamps in 1970: no message is at or after 05:00, so the lookup has nothing
    // usable; the events are still there and must be found.
    ten_events(&brokers, "audit", |index| Some(1_000_000 + index)).await;
    let request = request(&brokers, "audit", &hour(5), &hour(8));
    let (ids, summary) = tokio::task::spawn_blocking(move || replay_ids(&request)).await.unwrap();
    assert_eq!(ids, ["ev-5", "ev-6", "ev-7"]);
    // A correct broker answers "no such offset" and the reader falls back; Tansu 0.6.0
    // answers offset 0 instead. Either way the whole partition is read.
    let partition = summary.partitions.first().unwrap();
    assert!(matches!(partition.start, StartChoice::FellBack | StartChoice::Lookup));
    assert_eq!(partition.start_offset, 0);
    assert_eq!(summary.out_of_range, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_with_a_lookup_answer_that_skips_events_rereads_from_the_beginning() {
    let Some(broker) = Broker::start_or_skip() else { return };
    broker.create_topic("audit", 1).unwrap();
    let brokers = broker.address();
    // Broker timestamps decrease while event times increase: whatever offset a lookup
    // answers, events before it may be in range, so only a checked answer may be used.
    let base = time_ms(&hour(12));
    ten_events(&brokers, "audit", |index| Some(base - index * 3_600_000)).await;
    let request = request(&brokers, "audit", &hour(5), &hour(8));
    let (ids, summary) = tokio::task::spawn_blocking(move || replay_ids(&request)).await.unwrap();
    assert_eq!(ids, ["ev-5", "ev-6", "ev-7"], "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_reports_rejects_with_their_position_and_reads_the_whole_topic_without_bounds() {
    let Some(broker) = Broker::start_or_skip() else { return };
    broker.create_topic("audit", 2).unwrap();
    let brokers = broker.address();
    let producer = producer(&brokers);
    let good = canonical("ev-a", "msp-a", "backup.run", &hour(1));
    produce(&producer, "audit", 0, "msp-a", good.as_bytes(), None).await;
    let bad_offset = produce(&producer, "audit", 1, "msp-b", b"{broken", None).await;
    let good = canonical("ev-b", "msp-b", "backup.run", &hour(2));
    produce(&producer, "audit", 1, "msp-b", good.as_bytes(), None).await;

    let mut request = ReplayRequest::new(std::slice::from_ref(&brokers), "audit");
    request.idle_timeout = Duration::from_secs(15);
    let (items, summary) = tokio::task::spawn_blocking(move || {
        let mut items = Vec::new();
        let summary = replay_range(&request, |item| items.push(item)).unwrap();
        (items, summary)
    })
    .await
    .unwrap();
    assert_eq!(summary.events, 2);
    assert_eq!(summary.rejected, 1);
    let rejects: Vec<(i32, i64, &[u8])> = items
        .iter()
        .filter_map(|item| match item {
            ReplayItem::Rejected { partition, offset, record, .. } => {
                Some((*partition, *offset, record.as_slice()))
            }
            ReplayItem::Event { .. } => None,
        })
        .collect();
    assert_eq!(rejects, [(1, bad_offset, &b"{broken"[..])], "the rejected bytes come along");
    assert!(summary.partitions.iter().all(|p| p.start == StartChoice::Beginning));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_of_a_missing_topic_fails_with_its_name() {
    let Some(broker) = Broker::start_or_skip() else { return };
    let mut request = ReplayRequest::new(&[broker.address()], "no-such-topic");
    request.idle_timeout = Duration::from_secs(5);
    let result = tokio::task::spawn_blocking(move || replay_range(&request, |_| {})).await;
    let error = result.unwrap().unwrap_err();
    assert!(
        matches!(&error, ReplayError::UnknownTopic(topic) if topic == "no-such-topic"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_without_time_lookup_reads_every_partition_from_its_beginning() {
    let Some(broker) = Broker::start_or_skip() else { return };
    broker.create_topic("audit", 1).unwrap();
    let brokers = broker.address();
    // Broker timestamps far earlier than event times for the events in range: a lookup could
    // rightly skip them, so the time lookup is turned off.
    let late = time_ms(&hour(9));
    ten_events(&brokers, "audit", |index| Some(if index < 8 { 1_000 + index } else { late })).await;
    let mut request = request(&brokers, "audit", &hour(5), &hour(8));
    request.time_lookup = false;
    let (ids, summary) = tokio::task::spawn_blocking(move || replay_ids(&request)).await.unwrap();
    assert_eq!(ids, ["ev-5", "ev-6", "ev-7"]);
    let partition = summary.partitions.first().unwrap();
    assert_eq!((partition.start, partition.start_offset), (StartChoice::Beginning, 0));
}
