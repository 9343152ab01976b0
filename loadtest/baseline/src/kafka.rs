//! Bare Kafka clients: a batched loader of a topic, a consumer that only counts, and the
//! settings they share with mspwatch's own clients so the comparison is like for like.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message, ToBytes};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientConfig;
use serde::Deserialize;

use crate::cpu::process_cpu;
use crate::parse::per_second;

/// How long mspwatch's audit consumer lets a fetch wait at the broker by default
/// (`kafka.fetch_wait`, `fetch.wait.max.ms`).
pub const AUDIT_FETCH_WAIT_MS: u32 = 100;

/// How long mspwatch's audit consumer pauses a partition's fetching once its prefetch queue
/// is over its bounds.
pub const AUDIT_FETCH_QUEUE_BACKOFF_MS: u32 = 10;

/// How long mspwatch's alerts topic reader lets a fetch wait at the broker.
pub const ALERTS_FETCH_WAIT_MS: u32 = 10;

/// Delivery outcomes of a producer, counted from its callbacks.
#[derive(Debug, Default)]
pub struct DeliveryCounts {
    /// Messages the broker acknowledged.
    pub acknowledged: AtomicU64,
    /// Messages that failed for good.
    pub failed: AtomicU64,
}

/// A producer context that counts deliveries.
#[derive(Clone, Default)]
pub struct Counting(pub Arc<DeliveryCounts>);

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let counter = if result.is_ok() { &self.0.acknowledged } else { &self.0.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A producer that polls itself on a thread of its own and counts deliveries.
pub type CountingProducer = ThreadedProducer<Counting>;

/// How a producer trades latency for throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProducerStyle {
    /// Large batches, for loading a topic fast.
    Bulk,
    /// Every message sent at once (`linger.ms=0`), as a low-latency audit producer would.
    Immediate,
    /// The settings of mspwatch's alerts producer: idempotent, `acks=all`, `linger.ms=5`.
    AlertsProducer,
}

/// A producer to `brokers` in `style`.
pub fn producer(brokers: &str, style: ProducerStyle) -> Result<(CountingProducer, Counting)> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers).set("message.timeout.ms", "60000");
    match style {
        ProducerStyle::Bulk => config
            .set("linger.ms", "20")
            .set("batch.num.messages", "10000")
            .set("batch.size", "1000000")
            .set("queue.buffering.max.messages", "200000")
            .set("queue.buffering.max.kbytes", "262144")
            .set("acks", "1"),
        ProducerStyle::Immediate => config.set("linger.ms", "0").set("acks", "1"),
        ProducerStyle::AlertsProducer => {
            config.set("enable.idempotence", "true").set("acks", "all").set("linger.ms", "5")
        }
    };
    let context = Counting::default();
    let producer =
        config.create_with_context(context.clone()).context("cannot create a producer")?;
    Ok((producer, context))
}

/// The settings of a consumer group member with mspwatch's audit consumer settings (its default prefetch
/// bounds unless `max_partition_fetch_bytes` says otherwise, its default fetch wait, no
/// automatic commits, starting from the earliest offset).
pub fn group_consumer_config(
    brokers: &str,
    group: &str,
    max_partition_fetch_bytes: u32,
    properties: &[String],
) -> Result<ClientConfig> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "45000")
        .set("queued.max.messages.kbytes", "65536")
        .set("queued.min.messages", "10000")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", max_partition_fetch_bytes.to_string())
        .set("fetch.wait.max.ms", AUDIT_FETCH_WAIT_MS.to_string())
        .set("fetch.queue.backoff.ms", AUDIT_FETCH_QUEUE_BACKOFF_MS.to_string());
    for property in properties {
        let Some((key, value)) = property.split_once('=') else {
            bail!("client property {property:?} is not key=value");
        };
        config.set(key.trim(), value.trim());
    }
    Ok(config)
}

/// Sends `record`, waiting while the producer's queue is full.
pub fn send_waiting<K, P>(
    producer: &CountingProducer,
    mut record: BaseRecord<'_, K, P>,
) -> Result<()>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((error, _)) => return Err(error).context("the producer refused a message"),
        }
    }
}

/// The only field of a canonical record the loader reads: the key producers use.
#[derive(Deserialize)]
struct KeyField<'a> {
    #[serde(borrow, default)]
    msp_id: Option<Cow<'a, str>>,
}

/// The message key of a record: its `msp_id`, as mspwatch's producers key audit events.
pub fn record_key(line: &[u8]) -> Option<Cow<'_, str>> {
    serde_json::from_slice::<KeyField<'_>>(line).ok()?.msp_id.filter(|id| !id.is_empty())
}

/// What a load of a topic did.
#[derive(Debug, Clone, PartialEq)]
pub struct ProduceReport {
    /// Messages acknowledged by the broker.
    pub messages: u64,
    /// Messages sent without a key (records without `msp_id`).
    pub unkeyed: u64,
    /// Time from the first send to the last acknowledgement.
    pub elapsed: Duration,
}

/// Loads every non-blank line of `path` into `topic`, keyed by MSP id, in large batches.
pub fn produce_file(brokers: &str, topic: &str, path: &Path) -> Result<ProduceReport> {
    let (producer, counting) = producer(brokers, ProducerStyle::Bulk)?;
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let started = Instant::now();
    let (mut sent, mut unkeyed) = (0u64, 0u64);
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).context("cannot read the file")? == 0 {
            break;
        }
        let content = line.trim_ascii();
        if content.is_empty() {
            continue;
        }
        let key = record_key(content);
        let mut record = BaseRecord::to(topic).payload(content);
        match &key {
            Some(key) => record = record.key(key.as_bytes()),
            None => unkeyed += 1,
        }
        send_waiting(&producer, record)?;
        sent += 1;
    }
    producer.flush(Duration::from_secs(120)).context("not every message was acknowledged")?;
    let failed = counting.0.failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} of {sent} messages were not delivered");
    }
    let messages = counting.0.acknowledged.load(Ordering::Relaxed);
    Ok(ProduceReport { messages, unkeyed, elapsed: started.elapsed() })
}

impl std::fmt::Display for ProduceReport {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "produce: {} messages ({} without a key) in {:.3} s, {:.0} msgs/s",
            self.messages,
            self.unkeyed,
            self.elapsed.as_secs_f64(),
            per_second(self.messages, self.elapsed)
        )
    }
}

/// What a bare consumer read.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumeReport {
    /// Messages read.
    pub messages: u64,
    /// Payload bytes read.
    pub bytes: u64,
    /// From the first message to the last.
    pub from_first: Duration,
    /// From creating the consumer (group join included) to the last message.
    pub from_start: Duration,
    /// CPU time this process used from the first message to the last.
    pub cpu: Option<Duration>,
}

impl std::fmt::Display for ConsumeReport {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "consume: {} messages ({:.1} MB) in {:.3} s from the first message ({:.3} s from \
             start), {:.0} msgs/s",
            self.messages,
            self.bytes as f64 / 1e6,
            self.from_first.as_secs_f64(),
            self.from_start.as_secs_f64(),
            per_second(self.messages, self.from_first)
        )?;
        crate::watch::write_cpu(formatter, self.cpu, self.messages)
    }
}

/// How a bare consumer reads.
#[derive(Debug, Clone)]
pub struct ConsumePlan {
    /// Bootstrap brokers.
    pub brokers: String,
    /// The topic.
    pub topic: String,
    /// Messages to read.
    pub count: u64,
    /// `max.partition.fetch.bytes`, as `kafka.max_partition_fetch_bytes` sets it for mspwatch.
    pub max_partition_fetch_bytes: u32,
    /// Further client properties, as `key=value`.
    pub properties: Vec<String>,
    /// Read through the async `StreamConsumer`, as mspwatch does, rather than by polling.
    pub stream: bool,
    /// Give up after this long.
    pub limit: Duration,
}

/// Joins a fresh group on the topic, reads from the earliest offsets until `count` messages
/// arrived, touching each payload once; fails after `limit`.
pub fn consume_count(plan: &ConsumePlan) -> Result<ConsumeReport> {
    let (topic, count, limit) = (plan.topic.as_str(), plan.count, plan.limit);
    let started = Instant::now();
    let group = format!("mspwatch-baseline-{}", run_id());
    let config = group_consumer_config(
        &plan.brokers,
        &group,
        plan.max_partition_fetch_bytes,
        &plan.properties,
    )?;
    let mut tally = Tally::default();
    if plan.stream {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let _context = runtime.enter();
        let consumer: StreamConsumer = config.create().context("cannot create a consumer")?;
        consumer.subscribe(&[topic]).context("cannot subscribe")?;
        runtime.block_on(async {
            while tally.messages < count {
                let next = tokio::time::timeout(Duration::from_millis(100), consumer.recv()).await;
                if started.elapsed() > limit {
                    bail!("only {} of {count} messages within {limit:?}", tally.messages);
                }
                let Ok(received) = next else { continue };
                tally.add(&received.context("consuming failed")?);
            }
            Ok(())
        })?;
    } else {
        let consumer: BaseConsumer = config.create().context("cannot create a consumer")?;
        consumer.subscribe(&[topic]).context("cannot subscribe")?;
        while tally.messages < count {
            if started.elapsed() > limit {
                bail!("only {} of {count} messages within {limit:?}", tally.messages);
            }
            let Some(received) = consumer.poll(Duration::from_millis(100)) else { continue };
            tally.add(&received.context("consuming failed")?);
        }
    }
    let Tally { messages, bytes, first, cpu_at_first } = tally;
    let from_first = first.map_or(Duration::ZERO, |first| first.elapsed());
    let cpu = process_cpu(None).zip(cpu_at_first).map(|(now, then)| now.saturating_sub(then));
    Ok(ConsumeReport { messages, bytes, from_first, from_start: started.elapsed(), cpu })
}

/// Messages counted so far, and when the first came.
#[derive(Default)]
struct Tally {
    messages: u64,
    bytes: u64,
    first: Option<Instant>,
    cpu_at_first: Option<Duration>,
}

impl Tally {
    fn add(&mut self, message: &impl Message) {
        if self.first.is_none() {
            self.first = Some(Instant::now());
            self.cpu_at_first = process_cpu(None);
        }
        self.messages += 1;
        self.bytes += message.payload().map_or(0, |payload| payload.len() as u64);
    }
}

/// A number that tells this process's messages and groups from others'.
pub fn run_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    u64::from(std::process::id()) << 32 | u64::from(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_keyed_by_their_msp_id() {
        let line = br#"{"event_id":"e1","msp_id":"msp-north\u0077ind","actor":{"id":"a"}}"#;
        assert_eq!(record_key(line).as_deref(), Some("msp-northwind"));
        assert_eq!(record_key(br#"{"event_id":"e1","msp_id":""}"#), None);
        assert_eq!(record_key(br#"{"event_id":"e1"}"#), None);
        assert_eq!(record_key(b"not json"), None);
    }
}
