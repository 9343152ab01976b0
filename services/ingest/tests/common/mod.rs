//! Helpers for the broker-backed tests: a detector that raises an alert per deletion,
//! canonical events, and a producer and readers for the test topics.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(clippy::unwrap_used, reason = "test helpers fail by panicking")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mspwatch_alert::{Alert, AlertActor};
use mspwatch_engine::EngineStats;
use mspwatch_event::{ActionClass, ActorType, Event};
use mspwatch_ingest::config::{ConfigDuration, KafkaConfig};
use mspwatch_ingest::{Detector, PartitionId};
use mspwatch_rules::Severity;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientConfig;

/// Event ids seen by every detector of a test, in order.
pub type Seen = Arc<Mutex<Vec<String>>>;

/// Raises one alert (id `alert-<event id>`) per `delete` event; records every event id.
pub struct DeleteAlerter {
    seen: Seen,
    stats: EngineStats,
    /// Hold events until `release_held`, as an engine reordering events does.
    holding: bool,
    held: Vec<Event>,
}

impl DeleteAlerter {
    pub fn factory(seen: &Seen) -> impl Fn(&PartitionId) -> DeleteAlerter + Send + Sync + 'static {
        let seen = Arc::clone(seen);
        move |_| DeleteAlerter {
            seen: Arc::clone(&seen),
            stats: EngineStats::default(),
            holding: false,
            held: Vec::new(),
        }
    }

    /// Like `factory`, but its detectors raise alerts only when asked to release held events.
    pub fn holding_factory(
        seen: &Seen,
    ) -> impl Fn(&PartitionId) -> DeleteAlerter + Send + Sync + 'static {
        let seen = Arc::clone(seen);
        move |_| DeleteAlerter {
            seen: Arc::clone(&seen),
            stats: EngineStats::default(),
            holding: true,
            held: Vec::new(),
        }
    }
}

impl Detector for DeleteAlerter {
    fn ingest(&mut self, event: Event, alerts: &mut Vec<Alert>) {
        self.stats.events_in += 1;
        self.seen.lock().unwrap().push(event.event_id.clone());
        if self.holding {
            self.held.push(event);
        } else if event.class == ActionClass::Delete {
            alerts.push(alert_for(&event));
        }
    }

    fn release_held(&mut self, alerts: &mut Vec<Alert>) {
        for event in self.held.drain(..) {
            if event.class == ActionClass::Delete {
                alerts.push(alert_for(&event));
            }
        }
    }

    fn counters(&self) -> EngineStats {
        self.stats.clone()
    }

    fn tracked_keys(&self) -> Option<u64> {
        Some(self.stats.events_in)
    }
}

fn alert_for(event: &Event) -> Alert {
    Alert {
        id: format!("alert-{}", event.event_id),
        version: 1,
        rule_id: "test-delete".into(),
        title: "deletion".into(),
        severity: Severity::High,
        score: 50.0,
        msp_id: event.msp_id.clone(),
        supplier_tier: None,
        actor: AlertActor { id: event.actor.id.clone(), name: None, kind: ActorType::User },
        tenants: event.tenant_ids.clone(),
        first_seen: "2026-11-02T09:00:00Z".into(),
        last_seen: "2026-11-02T09:00:00Z".into(),
        event_count: 1,
        evidence: vec![event.event_id.clone()],
        timeline: Vec::new(),
        mitre: vec!["T1490".into()],
        summary: "one deletion".into(),
        baseline: None,
        notify_by: "2026-11-05T09:00:00Z".into(),
    }
}

/// A canonical audit record.
pub fn canonical(event_id: &str, msp_id: &str, action: &str, time: &str) -> String {
    canonical_in(event_id, msp_id, "tn-1", action, time)
}

/// A canonical audit record in `tenant_id` by `cred-1`.
pub fn canonical_in(
    event_id: &str,
    msp_id: &str,
    tenant_id: &str,
    action: &str,
    time: &str,
) -> String {
    format!(
        r#"{{"event_id":"{event_id}","time":"{time}","msp_id":"{msp_id}","tenant_id":"{tenant_id}","actor":{{"id":"cred-1","type":"user"}},"action":"{action}","resource":{{"type":"backup","id":"bk-1"}},"outcome":"success"}}"#
    )
}

/// Sends logs to the test output when `RUST_LOG` is set.
pub fn logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let filter = tracing_subscriber::EnvFilter::from_default_env();
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
}

/// Kafka settings for a pipeline under test: fast commits, short timeouts.
pub fn kafka_config(brokers: &str, group: &str) -> KafkaConfig {
    logs();
    KafkaConfig {
        brokers: vec![brokers.to_owned()],
        audit_topics: vec!["audit".into()],
        consumer_group: group.into(),
        alerts_topic: "alerts".into(),
        dead_letter_topic: "dead-letters".into(),
        commit_interval: ConfigDuration(Duration::from_millis(200)),
        session_timeout: ConfigDuration(Duration::from_secs(10)),
        delivery_timeout: ConfigDuration(Duration::from_secs(2)),
        drain_timeout: ConfigDuration(Duration::from_secs(5)),
        stall_timeout: ConfigDuration(Duration::from_secs(30)),
        ..KafkaConfig::default()
    }
}

/// A test producer.
pub fn producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.timeout.ms", "10000")
        .create()
        .unwrap()
}

/// Produces `payload` keyed by `key` to `topic`/`partition`, with an optional timestamp.
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    key: &str,
    payload: &[u8],
    timestamp_ms: Option<i64>,
) -> i64 {
    let mut record = FutureRecord::to(topic).partition(partition).key(key).payload(payload);
    if let Some(timestamp) = timestamp_ms {
        record = record.timestamp(timestamp);
    }
    let delivery = producer.send(record, Duration::from_secs(10)).await;
    delivery.map_err(|(error, _)| error).unwrap().offset
}

/// Polls `condition` every 50 ms until it holds or `limit` passes.
pub async fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads `topic` from the beginning until `count` messages arrived or `limit` passed.
pub fn read_all(
    brokers: &str,
    topic: &str,
    partitions: i32,
    count: usize,
    limit: Duration,
) -> Vec<OwnedMessage> {
    mspwatch_ingest::testing::read_topic(brokers, topic, partitions, count, limit).unwrap()
}

/// The group's committed offset of each of `partitions` of `topic` (-1 when none).
pub fn committed(brokers: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let answer = consumer.committed_offsets(list, Duration::from_secs(5)).unwrap();
    (0..partitions)
        .map(|partition| match answer.find_partition(topic, partition).map(|e| e.offset()) {
            Some(Offset::Offset(offset)) => offset,
            _ => -1,
        })
        .collect()
}

/// The value of header `key` of `message`.
pub fn header(message: &OwnedMessage, key: &str) -> Option<String> {
    use rdkafka::message::Headers;
    let headers = message.headers()?;
    headers
        .iter()
        .find(|header| header.key == key)
        .and_then(|header| header.value)
        .map(|value| String::from_utf8_lossy(value).into_owned())
}
