//! The live pipeline against a real Kafka-protocol broker on 127.0.0.1: events reach the
//! detectors, alerts and dead letters are written, offsets are committed only behind durable
//! writes, and a restart resumes from the committed offset.

#![allow(clippy::unwrap_used, reason = "test helpers fail by panicking")]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use mspwatch_alert::Alert;
use mspwatch_ingest::testing::Broker;
use mspwatch_ingest::writes::{
    HEADER_DETAIL, HEADER_REASON, HEADER_SOURCE_OFFSET, HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
};
use mspwatch_ingest::{start, DurableAlert, IngestHandle, IngestOptions};
use rdkafka::message::Message;

const WAIT: Duration = Duration::from_secs(20);

fn topics(broker: &Broker, audit_partitions: u32) {
    broker.create_topic("audit", audit_partitions).unwrap();
    broker.create_topic("alerts", 2).unwrap();
    broker.create_topic("dead-letters", 1).unwrap();
}

fn committed_total(handle: &IngestHandle<DeleteAlerter>) -> i64 {
    handle.stats().partitions.iter().filter_map(|partition| partition.committed).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_detectors_and_alerts_are_durable_before_offsets_commit() {
    let Some(broker) = Broker::start_or_skip() else { return };
    topics(&broker, 2);
    let brokers = broker.address();
    let producer = producer(&brokers);
    let mut expected_alerts = Vec::new();
    for index in 0..20 {
        let (msp, partition) = if index % 2 == 0 { ("msp-a", 0) } else { ("msp-b", 1) };
        let action = if index % 5 == 0 { "backup.delete" } else { "backup.run" };
        let id = format!("ev-{index}");
        if action == "backup.delete" {
            expected_alerts.push(format!("alert-{id}"));
        }
        let record = canonical(&id, msp, action, "2026-11-02T09:00:00Z");
        produce(&producer, "audit", partition, msp, record.as_bytes(), None).await;
    }

    let seen = Seen::default();
    let durable = Arc::new(Mutex::new(Vec::<DurableAlert>::new()));
    let durable_sink = Arc::clone(&durable);
    let options = IngestOptions {
        on_alert_durable: Some(Arc::new(move |alert: &DurableAlert| {
            durable_sink.lock().unwrap().push(alert.clone());
        })),
        ..IngestOptions::default()
    };
    let config = kafka_config(&brokers, "detector-basic");
    let handle = start(&config, DeleteAlerter::factory(&seen), options).unwrap();

    eventually(WAIT, "20 events and 4 alerts", || {
        let stats = handle.stats();
        stats.events == 20 && stats.alerts == 4
    })
    .await;
    eventually(WAIT, "offsets committed up to every event", || committed_total(&handle) == 20)
        .await;
    eventually(WAIT, "lag reported as zero at the high watermark", || {
        handle.stats().partitions.iter().all(|p| p.high_watermark == Some(10) && p.lag == Some(0))
    })
    .await;
    let stats = handle.stats();
    assert_eq!(stats.rejects_total(), 0);
    assert_eq!(stats.partitions.len(), 2);
    assert!(stats.partitions.iter().all(|partition| partition.pending_writes == 0));
    assert_eq!(stats.tracked_keys(), Some(20));
    assert_eq!(seen.lock().unwrap().len(), 20);

    let mut durable_ids: Vec<String> =
        durable.lock().unwrap().iter().map(|alert| alert.id.clone()).collect();
    durable_ids.sort();
    expected_alerts.sort();
    assert_eq!(durable_ids, expected_alerts);

    let written = read_all(&brokers, "alerts", 2, 4, WAIT);
    let mut written_ids = Vec::new();
    for message in &written {
        let alert: Alert = serde_json::from_slice(message.payload().unwrap()).unwrap();
        assert_eq!(message.key(), Some(alert.id.as_bytes()), "alerts are keyed by alert id");
        written_ids.push(alert.id);
    }
    written_ids.sort();
    assert_eq!(written_ids, expected_alerts);

    handle.shutdown().await.unwrap();
    assert_eq!(committed(&brokers, "detector-basic", "audit", 2), vec![10, 10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_are_dead_lettered_with_their_source_and_consumption_continues() {
    let Some(broker) = Broker::start_or_skip() else { return };
    topics(&broker, 1);
    let brokers = broker.address();
    let producer = producer(&brokers);
    let good = |id: &str| canonical(id, "msp-a", "backup.run", "2026-11-02T09:00:00Z");
    produce(&producer, "audit", 0, "msp-a", good("ev-1").as_bytes(), None).await;
    let bad_offset = produce(&producer, "audit", 0, "msp-a", b"{\"event_id\": oops", None).await;
    produce(&producer, "audit", 0, "msp-a", good("ev-2").as_bytes(), None).await;
    let empty_offset = produce(&producer, "audit", 0, "msp-a", b"", None).await;
    let mixed = format!("{}\nnot json at all\n", good("ev-3"));
    let mixed_offset = produce(&producer, "audit", 0, "msp-a", mixed.as_bytes(), None).await;
    produce(&producer, "audit", 0, "msp-a", good("ev-4").as_bytes(), None).await;

    let seen = Seen::default();
    let config = kafka_config(&brokers, "detector-dlq");
    let handle = start(&config, DeleteAlerter::factory(&seen), IngestOptions::default()).unwrap();
    eventually(WAIT, "4 events and 3 dead letters", || {
        let stats = handle.stats();
        stats.events == 4 && stats.dead_letters == 3
    })
    .await;
    eventually(WAIT, "commit past the rejected records", || committed_total(&handle) == 6).await;
    assert_eq!(handle.stats().rejects_total(), 3);
    assert_eq!(*seen.lock().unwrap(), ["ev-1", "ev-2", "ev-3", "ev-4"]);

    let letters = read_all(&brokers, "dead-letters", 1, 3, WAIT);
    assert_eq!(letters.len(), 3);
    let offsets: Vec<String> =
        letters.iter().map(|letter| header(letter, HEADER_SOURCE_OFFSET).unwrap()).collect();
    let expected: Vec<String> =
        [bad_offset, empty_offset, mixed_offset].iter().map(ToString::to_string).collect();
    assert_eq!(offsets, expected);
    for letter in &letters {
        assert_eq!(header(letter, HEADER_SOURCE_TOPIC).as_deref(), Some("audit"));
        assert_eq!(header(letter, HEADER_SOURCE_PARTITION).as_deref(), Some("0"));
        assert!(header(letter, HEADER_REASON).is_some_and(|reason| !reason.is_empty()));
        assert!(header(letter, HEADER_DETAIL).is_some());
        assert_eq!(letter.key(), Some(&b"msp-a"[..]));
    }
    let first = letters.first().unwrap();
    assert_eq!(first.payload(), Some(&b"{\"event_id\": oops"[..]));
    let third = letters.get(2).unwrap();
    assert_eq!(third.payload(), Some(&b"not json at all"[..]), "only the bad record is kept");
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_are_not_committed_past_a_write_the_broker_has_not_acknowledged() {
    let Some(broker) = Broker::start_or_skip() else { return };
    // No dead-letter topic yet: the dead letter cannot be acknowledged.
    broker.create_topic("audit", 1).unwrap();
    broker.create_topic("alerts", 1).unwrap();
    let brokers = broker.address();
    let producer = producer(&brokers);
    let good = |id: &str| canonical(id, "msp-a", "backup.run", "2026-11-02T09:00:00Z");
    for id in ["ev-0", "ev-1"] {
        produce(&producer, "audit", 0, "msp-a", good(id).as_bytes(), None).await;
    }
    let bad_offset = produce(&producer, "audit", 0, "msp-a", b"[[[", None).await;
    for id in ["ev-3", "ev-4"] {
        produce(&producer, "audit", 0, "msp-a", good(id).as_bytes(), None).await;
    }

    let seen = Seen::default();
    let config = kafka_config(&brokers, "detector-unacked");
    let handle = start(&config, DeleteAlerter::factory(&seen), IngestOptions::default()).unwrap();
    eventually(WAIT, "every event processed", || handle.stats().events == 4).await;
    eventually(WAIT, "the commit of the prefix before the reject", || {
        committed_total(&handle) == bad_offset
    })
    .await;
    // Several commit intervals and a failed delivery later, it must not have moved on.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats = handle.stats();
    assert_eq!(stats.partitions.first().and_then(|p| p.committed), Some(bad_offset));
    assert_eq!(stats.dead_letters, 0);
    assert_eq!(committed(&brokers, "detector-unacked", "audit", 1), vec![bad_offset]);

    broker.create_topic("dead-letters", 1).unwrap();
    eventually(WAIT, "the retried dead letter is acknowledged", || {
        handle.stats().dead_letters == 1
    })
    .await;
    eventually(WAIT, "the commit of every offset", || committed_total(&handle) == 5).await;
    handle.shutdown().await.unwrap();
    assert_eq!(committed(&brokers, "detector-unacked", "audit", 1), vec![5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_from_the_committed_offset_without_reprocessing() {
    let Some(broker) = Broker::start_or_skip() else { return };
    topics(&broker, 1);
    let brokers = broker.address();
    let producer = producer(&brokers);
    let record = |id: &str| canonical(id, "msp-a", "backup.delete", "2026-11-02T09:00:00Z");
    for index in 0..5 {
        let id = format!("first-{index}");
        produce(&producer, "audit", 0, "msp-a", record(&id).as_bytes(), None).await;
    }
    let config = kafka_config(&brokers, "detector-restart");

    let first_seen = Seen::default();
    let first =
        start(&config, DeleteAlerter::factory(&first_seen), IngestOptions::default()).unwrap();
    eventually(WAIT, "the first run's events", || first.stats().events == 5).await;
    let stopping = Instant::now();
    first.shutdown().await.unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(10), "shutdown took {:?}", stopping.elapsed());
    assert_eq!(committed(&brokers, "detector-restart", "audit", 1), vec![5]);

    for index in 0..3 {
        let id = format!("second-{index}");
        produce(&producer, "audit", 0, "msp-a", record(&id).as_bytes(), None).await;
    }
    let second_seen = Seen::default();
    let alerts_after_restart = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&alerts_after_restart);
    let options = IngestOptions {
        on_alert_durable: Some(Arc::new(move |_: &DurableAlert| {
            counter.fetch_add(1, Ordering::Relaxed);
        })),
        ..IngestOptions::default()
    };
    let second = start(&config, DeleteAlerter::factory(&second_seen), options).unwrap();
    eventually(WAIT, "the second run's events", || second.stats().events == 3).await;
    eventually(WAIT, "the second run's commit", || committed_total(&second) == 8).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(*second_seen.lock().unwrap(), ["second-0", "second-1", "second-2"]);
    assert_eq!(alerts_after_restart.load(Ordering::Relaxed), 3);
    second.shutdown().await.unwrap();

    let alerts = read_all(&brokers, "alerts", 2, 8, WAIT);
    assert_eq!(alerts.len(), 8, "each deletion's alert written exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_msp_on_two_partitions_is_counted() {
    let Some(broker) = Broker::start_or_skip() else { return };
    topics(&broker, 2);
    let brokers = broker.address();
    let producer = producer(&brokers);
    let record = |id: &str| canonical(id, "msp-split", "backup.run", "2026-11-02T09:00:00Z");
    produce(&producer, "audit", 0, "msp-split", record("a").as_bytes(), None).await;
    produce(&producer, "audit", 1, "msp-split", record("b").as_bytes(), None).await;
    let seen = Seen::default();
    let config = kafka_config(&brokers, "detector-split");
    let handle = start(&config, DeleteAlerter::factory(&seen), IngestOptions::default()).unwrap();
    eventually(WAIT, "both events", || handle.stats().events == 2).await;
    assert_eq!(handle.stats().msp_partition_splits, 1);
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_events_are_evaluated_and_durable_before_their_offsets_commit() {
    let Some(broker) = Broker::start_or_skip() else { return };
    topics(&broker, 1);
    let brokers = broker.address();
    let producer = producer(&brokers);
    for index in 0..6 {
        let action = if index % 2 == 0 { "backup.delete" } else { "backup.run" };
        let record = canonical(&format!("ev-{index}"), "msp-a", action, "2026-11-02T09:00:00Z");
        produce(&producer, "audit", 0, "msp-a", record.as_bytes(), None).await;
    }
    let seen = Seen::default();
    let config = kafka_config(&brokers, "detector-held");
    let handle =
        start(&config, DeleteAlerter::holding_factory(&seen), IngestOptions::default()).unwrap();
    eventually(WAIT, "held alerts written", || handle.stats().alerts == 3).await;
    eventually(WAIT, "every offset committed", || committed_total(&handle) == 6).await;
    handle.shutdown().await.unwrap();
    assert_eq!(read_all(&brokers, "alerts", 2, 3, WAIT).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_tenant_deletion_through_the_engine_is_alerted_within_two_seconds() {
    let Some(broker) = Broker::start_or_skip() else { return };
    topics(&broker, 1);
    let brokers = broker.address();
    let rules_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let rules = mspwatch_rules::load(&rules_dir).unwrap();
    let detector_config = mspwatch_ingest::config::DetectorConfig::default();
    let factory = mspwatch_ingest::EngineFactory::new(
        detector_config.engine_config(),
        rules,
        mspwatch_event::Directory::default(),
    );
    let config = kafka_config(&brokers, "detector-engine");
    let handle = start(&config, factory, IngestOptions::default()).unwrap();
    // Let the group form before the attack, so the clock below measures detection only.
    eventually(WAIT, "the partition assignment", || handle.stats().partitions.len() == 1).await;

    let producer = producer(&brokers);
    let produced = Instant::now();
    for (index, tenant) in ["tn-a", "tn-b", "tn-c", "tn-d"].iter().enumerate() {
        let time = format!("2026-11-02T09:0{index}:00Z");
        let record = canonical_in(&format!("del-{index}"), "msp-a", tenant, "backup.delete", &time);
        produce(&producer, "audit", 0, "msp-a", record.as_bytes(), None).await;
    }
    eventually(Duration::from_secs(10), "an alert", || handle.stats().alerts >= 1).await;
    let latency = produced.elapsed();
    assert!(latency < Duration::from_secs(2), "alert took {latency:?}");
    let written = read_all(&brokers, "alerts", 2, 1, WAIT);
    let alert: Alert = serde_json::from_slice(written.first().unwrap().payload().unwrap()).unwrap();
    assert_eq!(alert.rule_id, "cross-tenant-backup-deletion");
    assert_eq!(alert.msp_id.as_deref(), Some("msp-a"));
    assert!(alert.tenants.len() >= 3, "{:?}", alert.tenants);
    assert!(handle.stats().tracked_keys().is_some_and(|keys| keys > 0));
    eventually(WAIT, "every offset committed", || {
        handle.stats().partitions.iter().filter_map(|p| p.committed).sum::<i64>() == 4
    })
    .await;
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_partitions_are_committed_before_a_second_instance_takes_them() {
    let Some(broker) = Broker::start_or_skip() else { return };
    topics(&broker, 2);
    let brokers = broker.address();
    let producer = producer(&brokers);
    let record = |id: &str, msp: &str| canonical(id, msp, "backup.run", "2026-11-02T09:00:00Z");
    let send_batch = |prefix: &'static str| {
        let producer = producer.clone();
        async move {
            for index in 0..4 {
                let (msp, partition) = if index % 2 == 0 { ("msp-a", 0) } else { ("msp-b", 1) };
                let id = format!("{prefix}-{index}");
                produce(&producer, "audit", partition, msp, record(&id, msp).as_bytes(), None)
                    .await;
            }
        }
    };
    // Commits happen only on revocation: the periodic commit is far away.
    let mut config = kafka_config(&brokers, "detector-rebalance");
    config.commit_interval = mspwatch_ingest::config::ConfigDuration::from_secs(600);

    send_batch("before").await;
    let first_seen = Seen::default();
    let first =
        start(&config, DeleteAlerter::factory(&first_seen), IngestOptions::default()).unwrap();
    eventually(WAIT, "the first instance's events", || first.stats().events == 4).await;

    let second_seen = Seen::default();
    let second =
        start(&config, DeleteAlerter::factory(&second_seen), IngestOptions::default()).unwrap();
    eventually(Duration::from_secs(30), "one partition each", || {
        first.stats().partitions.len() == 1 && second.stats().partitions.len() == 1
    })
    .await;
    send_batch("after").await;
    eventually(WAIT, "the second batch", || {
        first_seen.lock().unwrap().len() + second_seen.lock().unwrap().len() == 8
    })
    .await;

    let second_ids = second_seen.lock().unwrap().clone();
    assert_eq!(second_ids.len(), 2, "{second_ids:?}");
    assert!(second_ids.iter().all(|id| id.starts_with("after-")), "{second_ids:?}");
    first.shutdown().await.unwrap();
    second.shutdown().await.unwrap();
    assert_eq!(committed(&brokers, "detector-rebalance", "audit", 2), vec![4, 4]);
}
