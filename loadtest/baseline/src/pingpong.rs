//! Bare produce-to-consume latency: timestamped messages sent open-loop at a fixed rate and
//! read back by a consumer on the same broker, optionally through a relay that copies them to
//! a second topic with the settings of mspwatch's alerts producer (two hops, as an alert
//! makes: audit topic to the detector, alerts topic to the gRPC service).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientConfig;

use crate::kafka::{producer, run_id, send_waiting, ProducerStyle, AUDIT_FETCH_WAIT_MS};
use crate::latency::{LatencyBook, LatencySummary, Ping, Schedule};

/// Item numbers from here on are warm-up pings, sent until the path is known to work.
const WARMUP_BASE: u64 = 1 << 40;

/// How often warm-up pings are sent.
const WARMUP_EVERY: Duration = Duration::from_millis(100);

/// How long the path may take to carry its first ping.
const WARMUP_LIMIT: Duration = Duration::from_secs(30);

/// How long the last pings may take to arrive.
const GRACE: Duration = Duration::from_secs(10);

/// What to measure.
#[derive(Debug, Clone)]
pub struct PingpongPlan {
    /// Bootstrap brokers.
    pub brokers: String,
    /// The topic pings are produced to.
    pub topic: String,
    /// When set, a relay copies pings from `topic` to this topic, and they are read there.
    pub relay_topic: Option<String>,
    /// Measured pings.
    pub count: u64,
    /// Pings per second.
    pub rate: f64,
    /// Payload size in bytes.
    pub size: usize,
    /// `fetch.wait.max.ms` of the consumer that reads the pings back (the relay's consumer
    /// waits as long as mspwatch's audit consumer does by default).
    pub fetch_wait_ms: u32,
    /// How the relay produces: by default with the settings of mspwatch's alerts producer.
    pub relay_style: ProducerStyle,
}

/// Runs the measurement and returns its latencies.
pub fn pingpong(plan: &PingpongPlan) -> Result<LatencySummary> {
    let run = run_id();
    let clock = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let read_topic = plan.relay_topic.as_deref().unwrap_or(&plan.topic);
    let (arrivals, arrived) = mpsc::channel();
    let reader = tail_consumer(&plan.brokers, read_topic, plan.fetch_wait_ms)?;
    let mut threads = vec![spawn_reader(reader, run, clock, arrivals, &stop)];
    if let Some(relay_topic) = &plan.relay_topic {
        threads.push(spawn_relay(plan, relay_topic, &stop)?);
    }
    let result = send_and_collect(plan, run, clock, &arrived);
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    result
}

fn send_and_collect(
    plan: &PingpongPlan,
    run: u64,
    clock: Instant,
    arrived: &mpsc::Receiver<(Ping, Duration)>,
) -> Result<LatencySummary> {
    let (producer, _) = producer(&plan.brokers, ProducerStyle::Immediate)?;
    let send = |item: u64, due: Duration| {
        let due_micros = u64::try_from(due.as_micros()).unwrap_or(u64::MAX);
        let payload = Ping { run, item, due_micros }.encode(plan.size);
        send_waiting(&producer, BaseRecord::<(), [u8]>::to(&plan.topic).payload(payload.as_slice()))
    };
    warm_up(&send, clock, arrived)?;

    let mut book = LatencyBook::new();
    let schedule = Schedule { start: clock.elapsed() + Duration::from_millis(10), rate: plan.rate };
    for item in 0..plan.count {
        let due = schedule.due(item);
        std::thread::sleep(due.saturating_sub(clock.elapsed()));
        book.sent(item, due);
        send(item, due)?;
        collect(&mut book, arrived, Duration::ZERO);
    }
    let deadline = Instant::now() + GRACE;
    while book.summary().missing > 0 && Instant::now() < deadline {
        collect(&mut book, arrived, Duration::from_millis(50));
    }
    let _ = producer.flush(Duration::from_secs(5));
    Ok(book.summary())
}

/// Sends warm-up pings until one comes back, so connection set-up is not measured.
fn warm_up(
    send: &impl Fn(u64, Duration) -> Result<()>,
    clock: Instant,
    arrived: &mpsc::Receiver<(Ping, Duration)>,
) -> Result<()> {
    let started = Instant::now();
    for item in WARMUP_BASE.. {
        if started.elapsed() > WARMUP_LIMIT {
            bail!("no ping came back within {WARMUP_LIMIT:?}");
        }
        send(item, clock.elapsed())?;
        if arrived.recv_timeout(WARMUP_EVERY).is_ok() {
            // Later warm-up pings may still arrive; they are skipped as they come.
            return Ok(());
        }
    }
    Ok(())
}

/// Takes the arrivals waiting (waiting at most `wait` for the first) into `book`.
fn collect(book: &mut LatencyBook, arrived: &mpsc::Receiver<(Ping, Duration)>, wait: Duration) {
    let mut next =
        if wait.is_zero() { arrived.try_recv().ok() } else { arrived.recv_timeout(wait).ok() };
    while let Some((ping, at)) = next {
        if ping.item < WARMUP_BASE {
            book.received(ping.item, at);
        }
        next = arrived.try_recv().ok();
    }
}

/// A consumer assigned every partition of `topic` at its end, without a group.
fn tail_consumer(brokers: &str, topic: &str, fetch_wait_ms: u32) -> Result<BaseConsumer> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("mspwatch-baseline-{}", run_id()))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", fetch_wait_ms.to_string())
        .create()
        .context("cannot create a consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .with_context(|| format!("cannot read the partitions of {topic}"))?;
    let mut list = TopicPartitionList::new();
    for entry in metadata.topics().iter().filter(|entry| entry.name() == topic) {
        for partition in entry.partitions() {
            list.add_partition_offset(topic, partition.id(), Offset::End)?;
        }
    }
    if list.count() == 0 {
        bail!("topic {topic} has no partitions");
    }
    consumer.assign(&list).context("cannot assign the partitions")?;
    Ok(consumer)
}

fn spawn_reader(
    consumer: BaseConsumer,
    run: u64,
    clock: Instant,
    arrivals: mpsc::Sender<(Ping, Duration)>,
    stop: &Arc<AtomicBool>,
) -> JoinHandle<()> {
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) else { continue };
            let at = clock.elapsed();
            let Some(ping) = message.payload().and_then(Ping::decode) else { continue };
            if ping.run == run && arrivals.send((ping, at)).is_err() {
                return;
            }
        }
    })
}

fn spawn_relay(plan: &PingpongPlan, to: &str, stop: &Arc<AtomicBool>) -> Result<JoinHandle<()>> {
    let consumer = tail_consumer(&plan.brokers, &plan.topic, AUDIT_FETCH_WAIT_MS)?;
    let (producer, _) = producer(&plan.brokers, plan.relay_style)?;
    let (stop, to) = (Arc::clone(stop), to.to_owned());
    Ok(std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) else { continue };
            let payload = message.payload().unwrap_or_default();
            if send_waiting(&producer, BaseRecord::<(), [u8]>::to(&to).payload(payload)).is_err() {
                return;
            }
        }
        let _ = producer.flush(Duration::from_secs(5));
    }))
}
