//! Measures live ingestion throughput: produces canonical events to a local test broker and
//! times the pipeline (with the engine and the shipped rules) until every event is processed
//! and committed.
//!
//! `cargo run --release -p mspwatch-ingest --features testing --example ingest_throughput [EVENTS]`
#![allow(clippy::print_stdout, reason = "the measurement is the output")]

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mspwatch_ingest::config::{ConfigDuration, DetectorConfig, KafkaConfig};
use mspwatch_ingest::testing::Broker;
use mspwatch_ingest::{start, EngineFactory, IngestOptions};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientConfig;

#[tokio::main]
async fn main() -> Result<()> {
    let events: u64 = std::env::args().nth(1).map_or(Ok(200_000), |arg| arg.parse())?;
    let broker = Broker::start().context("starting the test broker")?;
    broker.create_topic("audit", 1)?;
    broker.create_topic("alerts", 1)?;
    broker.create_topic("dead-letters", 1)?;
    let brokers = broker.address();

    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let producing = Instant::now();
    for index in 0..events {
        let tenant = index % 40;
        let action = if index % 1000 == 0 { "backup.delete" } else { "backup.run" };
        let minute = index / 100;
        let record = format!(
            r#"{{"event_id":"ev-{index}","time":"2026-11-02T00:00:00Z","msp_id":"msp-{m}","tenant_id":"tn-{tenant}","actor":{{"id":"cred-{c}","type":"user"}},"action":"{action}","resource":{{"type":"backup","id":"bk-{minute}"}},"outcome":"success"}}"#,
            m = index % 5,
            c = index % 50,
        );
        let mut pending = BaseRecord::to("audit").key("msp").payload(&record);
        loop {
            match producer.send(pending) {
                Ok(()) => break,
                Err((_, back)) => {
                    producer.poll(Duration::from_millis(10));
                    pending = back;
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120))?;
    println!("produced {events} events in {:.1?}", producing.elapsed());

    let reading = Instant::now();
    let read = read_raw(&brokers, events)?;
    println!(
        "a bare consumer read {read} messages in {:.1?} (the broker's own pace)",
        reading.elapsed()
    );

    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let rules = match mspwatch_rules::load(&rules_dir) {
        Ok(rules) => rules,
        Err(errors) => bail!("rules: {errors:?}"),
    };
    let factory = EngineFactory::new(
        DetectorConfig::default().engine_config(),
        rules,
        mspwatch_event::Directory::default(),
    );
    let config = KafkaConfig {
        brokers: vec![brokers.clone()],
        audit_topics: vec!["audit".into()],
        alerts_topic: "alerts".into(),
        dead_letter_topic: "dead-letters".into(),
        consumer_group: "throughput".into(),
        commit_interval: ConfigDuration(Duration::from_secs(1)),
        ..KafkaConfig::default()
    };
    let consuming = Instant::now();
    let handle = start(&config, factory, IngestOptions::default())?;
    let mut first_event = None;
    loop {
        let stats = handle.stats();
        if first_event.is_none() && stats.events > 0 {
            first_event = Some(Instant::now());
        }
        let committed: i64 = stats.partitions.iter().filter_map(|p| p.committed).sum();
        if stats.events >= events && u64::try_from(committed).unwrap_or(0) >= events {
            break;
        }
        if consuming.elapsed() > Duration::from_secs(600) {
            bail!("gave up after {} of {events} events", stats.events);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let busy = first_event.map_or(consuming.elapsed(), |first| first.elapsed());
    let stats = handle.stats();
    handle.shutdown().await?;
    let rate = events as f64 / busy.as_secs_f64();
    println!(
        "consumed, evaluated and committed {events} events in {busy:.1?} after the group formed \
         ({rate:.0} events/s); {} alert versions",
        stats.alerts
    );
    Ok(())
}

/// Reads `events` messages from the audit topic with a bare consumer, doing nothing with them.
fn read_raw(brokers: &str, events: u64) -> Result<u64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "raw-reader")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset("audit", 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut read = 0;
    while read < events && Instant::now() < deadline {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            read += 1;
        }
    }
    Ok(read)
}
