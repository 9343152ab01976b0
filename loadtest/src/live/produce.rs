//! The paced producer: sends the records to Kafka open-loop, each at its scheduled time,
//! whatever the detector does, and notes how far behind schedule it fell itself.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mspwatch_event::decode::{decode_record, Decoded};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use crate::live::files::{
    write_line, SendSecond, WatchedRecord, LATE_SEND_US, RECORDS_FILE, SENDS_FILE,
};
use crate::live::{elapsed_us, RunError, RunStatus};
use crate::stream::{Delivery, TrafficStream};

/// Records handed from the generating thread to the sending thread at once.
const BATCH: usize = 512;
/// Fewest batches the generating thread may run ahead.
const MIN_BATCHES_AHEAD: usize = 16;
/// Seconds of records the generating thread may run ahead: it plans a world day at a time,
/// and the sender must not starve meanwhile.
const SECONDS_AHEAD: f64 = 2.0;
/// Longest single sleep, so a stop is noticed quickly.
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// How long the final flush waits for acknowledgements.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how fast to send.
pub(crate) struct ProduceOptions<'a> {
    /// Bootstrap brokers.
    pub brokers: &'a str,
    /// The audit topic.
    pub topic: &'a str,
    /// Records per second.
    pub rate: f64,
    /// Records to send.
    pub records: u64,
    /// The run's time zero.
    pub start: Instant,
    /// The run directory.
    pub dir: &'a Path,
}

/// What the producer did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Produced {
    /// Records handed to the Kafka client.
    pub sent: u64,
    /// Records acknowledged.
    pub acked: u64,
    /// Records that failed.
    pub failed: u64,
    /// Records sent more than [`LATE_SEND_US`] behind schedule.
    pub late: u64,
    /// 99th percentile of the send lag, µs.
    pub lag_p99_us: u64,
    /// Largest send lag, µs.
    pub lag_max_us: u64,
    /// First send, µs.
    pub first_send_us: Option<u64>,
    /// Last send, µs.
    pub last_send_us: Option<u64>,
    /// Schedule of the last record sent, µs.
    pub last_scheduled_us: Option<u64>,
    /// Why sending stopped early, if it did.
    pub error: Option<String>,
}

/// Counts acknowledgements and failures as the brokers answer.
struct Counting {
    status: Arc<RunStatus>,
}

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let counter = if result.is_ok() { &self.status.acked } else { &self.status.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One record ready to send.
struct Outgoing {
    msp: usize,
    event_time_ms: i64,
    line: Vec<u8>,
    watched: Option<WatchedRecord>,
}

/// Sends `stream` at `options.rate` until `options.records` are sent or `status.stop` is set.
/// Runs on its own thread; blocks.
pub(crate) fn produce(
    stream: TrafficStream,
    options: &ProduceOptions<'_>,
    status: &Arc<RunStatus>,
) -> Result<Produced, RunError> {
    let keys: Vec<String> = stream.world().msps.iter().map(|msp| msp.id.clone()).collect();
    let producer: ThreadedProducer<Counting> = ClientConfig::new()
        .set("bootstrap.servers", options.brokers)
        .set("client.id", "mspwatch-loadtest")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("message.timeout.ms", "30000")
        .create_with_context(Counting { status: Arc::clone(status) })
        .map_err(|error| RunError::Kafka(format!("cannot create the producer: {error}")))?;

    let ahead =
        ((options.rate * SECONDS_AHEAD / BATCH as f64).ceil() as usize).max(MIN_BATCHES_AHEAD);
    let (sender, receiver) = sync_channel(ahead);
    let records = options.records;
    let generator = std::thread::Builder::new()
        .name("loadtest-generate".into())
        .spawn(move || generate(stream, records, &sender))
        .map_err(|error| RunError::Io { path: "generator thread".into(), source: error })?;

    // The schedule starts once the generator is well ahead, so the first world day's planning
    // does not make the first records late.
    let mut prefetched = Vec::with_capacity(ahead);
    while prefetched.len() < ahead {
        match receiver.recv() {
            Ok(batch) => prefetched.push(batch),
            Err(_) => break,
        }
    }
    let mut sender = Sender::new(options, status, &producer, &keys)?;
    let result = sender.send_all(prefetched.into_iter().chain(receiver.iter()));
    drop(receiver);
    let _ = generator.join();
    let flushed = producer.flush(FLUSH_TIMEOUT);
    let mut produced = sender.finish()?;
    produced.acked = status.acked.load(Ordering::Relaxed);
    produced.failed = status.failed.load(Ordering::Relaxed);
    if let Err(error) = flushed {
        tracing::warn!(error = %error, "not every record was acknowledged in time");
    }
    if let Err(error) = result {
        produced.error = Some(error);
    }
    Ok(produced)
}

/// Generates the records in batches, ahead of the sender.
fn generate(
    stream: TrafficStream,
    records: u64,
    sender: &SyncSender<Result<Vec<Outgoing>, String>>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let limit = usize::try_from(records).unwrap_or(usize::MAX);
    for delivery in stream.take(limit) {
        match delivery {
            Ok(delivery) => batch.push(outgoing(delivery)),
            Err(error) => {
                let _ = sender.send(Err(error.to_string()));
                return;
            }
        }
        if batch.len() == BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if sender.send(Ok(full)).is_err() {
                return;
            }
        }
    }
    if !batch.is_empty() {
        let _ = sender.send(Ok(batch));
    }
}

/// A delivery ready to send; the records alerts are made of are watched.
fn outgoing(delivery: Delivery) -> Outgoing {
    let watch =
        delivery.scenario.is_some() || delivery.failed || delivery.action.class().is_harmful();
    let watched =
        if watch { event_id(&delivery.line) } else { None }.map(|event_id| WatchedRecord {
            event_id,
            scenario: delivery.scenario,
            action: delivery.action.canonical().to_string(),
            event_time_ms: delivery.event_time_ms,
            scheduled_us: 0,
            sent_us: 0,
            duplicate: delivery.duplicate,
        });
    Outgoing {
        msp: delivery.msp,
        event_time_ms: delivery.event_time_ms,
        line: delivery.line,
        watched,
    }
}

/// The event id the detector will read from the record.
fn event_id(line: &[u8]) -> Option<String> {
    match decode_record(line) {
        Ok(Decoded::Event(event)) => Some(event.event_id),
        _ => None,
    }
}

/// The sending side: pacing, the Kafka client and the per-second book.
struct Sender<'a> {
    options: &'a ProduceOptions<'a>,
    status: &'a Arc<RunStatus>,
    producer: &'a ThreadedProducer<Counting>,
    keys: &'a [String],
    /// Schedule of record 0, µs: the moment sending starts.
    base_us: u64,
    index: u64,
    produced: Produced,
    lags: Histogram<u64>,
    second: SendSecond,
    sends: BufWriter<File>,
    watched: BufWriter<File>,
}

impl<'a> Sender<'a> {
    fn new(
        options: &'a ProduceOptions<'a>,
        status: &'a Arc<RunStatus>,
        producer: &'a ThreadedProducer<Counting>,
        keys: &'a [String],
    ) -> Result<Sender<'a>, RunError> {
        let create = |name: &str| {
            let path = options.dir.join(name);
            File::create(&path).map(BufWriter::new).map_err(|source| RunError::Io { path, source })
        };
        let lags = Histogram::new_with_bounds(1, 3_600_000_000, 2)
            .map_err(|error| RunError::Kafka(format!("histogram: {error}")))?;
        let base_us = elapsed_us(options.start);
        Ok(Sender {
            options,
            status,
            producer,
            keys,
            base_us,
            index: 0,
            produced: Produced::default(),
            lags,
            second: empty_second(base_us / 1_000_000),
            sends: create(SENDS_FILE)?,
            watched: create(RECORDS_FILE)?,
        })
    }

    fn scheduled_us(&self, index: u64) -> u64 {
        self.base_us + (index as f64 * 1_000_000.0 / self.options.rate).round() as u64
    }

    /// Sends every batch; an error ends sending early and is reported, not raised, so the
    /// run still writes what it saw.
    fn send_all(
        &mut self,
        batches: impl IntoIterator<Item = Result<Vec<Outgoing>, String>>,
    ) -> Result<(), String> {
        for batch in batches {
            for outgoing in batch? {
                if self.index >= self.options.records || self.status.stopping() {
                    return Ok(());
                }
                if !self.wait_for_turn() {
                    return Ok(());
                }
                self.send(outgoing)?;
            }
        }
        Ok(())
    }

    /// Sleeps until the next record is due; false when told to stop meanwhile.
    fn wait_for_turn(&self) -> bool {
        let due = self.scheduled_us(self.index);
        loop {
            let now = elapsed_us(self.options.start);
            if now >= due {
                return true;
            }
            if self.status.stopping() {
                return false;
            }
            std::thread::sleep(Duration::from_micros(due - now).min(MAX_SLEEP));
        }
    }

    fn send(&mut self, mut outgoing: Outgoing) -> Result<(), String> {
        let key = self.keys.get(outgoing.msp).map_or("", String::as_str);
        let mut record = BaseRecord::to(self.options.topic).key(key).payload(&outgoing.line);
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if self.status.stopping() {
                        return Ok(());
                    }
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((error, _)) => return Err(format!("cannot send a record: {error}")),
            }
        }
        let scheduled = self.scheduled_us(self.index);
        let sent = elapsed_us(self.options.start);
        let lag = sent.saturating_sub(scheduled);
        self.account(sent, scheduled, lag, outgoing.event_time_ms)
            .map_err(|error| error.to_string())?;
        if let Some(watched) = outgoing.watched.as_mut() {
            watched.scheduled_us = scheduled;
            watched.sent_us = sent;
            write_line(&mut self.watched, watched).map_err(|error| error.to_string())?;
        }
        self.index += 1;
        self.status.sent.store(self.index, Ordering::Relaxed);
        Ok(())
    }

    fn account(&mut self, sent: u64, scheduled: u64, lag: u64, world: i64) -> std::io::Result<()> {
        let second = sent / 1_000_000;
        while self.second.second < second {
            self.close_second()?;
        }
        let _ = self.lags.record(lag.max(1));
        self.second.sent += 1;
        self.second.max_lag_us = self.second.max_lag_us.max(lag);
        self.second.world_time_ms = Some(world);
        if lag > LATE_SEND_US {
            self.second.late += 1;
            self.produced.late += 1;
            self.status.late.store(self.produced.late, Ordering::Relaxed);
        }
        self.produced.sent += 1;
        self.produced.first_send_us.get_or_insert(sent);
        self.produced.last_send_us = Some(sent);
        self.produced.last_scheduled_us = Some(scheduled);
        Ok(())
    }

    /// Writes the current second and opens the next.
    fn close_second(&mut self) -> std::io::Result<()> {
        let second = self.second.second;
        let first = |second: u64| {
            let due = (second * 1_000_000).saturating_sub(self.base_us) as f64;
            ((due * self.options.rate / 1_000_000.0).ceil() as u64).min(self.options.records)
        };
        self.second.scheduled = first(second + 1).saturating_sub(first(second));
        self.second.acked_total = self.status.acked.load(Ordering::Relaxed);
        self.second.failed_total = self.status.failed.load(Ordering::Relaxed);
        write_line(&mut self.sends, &self.second)?;
        self.second = empty_second(second + 1);
        Ok(())
    }

    fn finish(mut self) -> Result<Produced, RunError> {
        let dir: &Path = self.options.dir;
        let io = |path: &str, source| RunError::Io { path: dir.join(path), source };
        self.close_second().map_err(|source| io(SENDS_FILE, source))?;
        self.sends.flush().map_err(|source| io(SENDS_FILE, source))?;
        self.watched.flush().map_err(|source| io(RECORDS_FILE, source))?;
        let mut produced = self.produced;
        if !self.lags.is_empty() {
            produced.lag_p99_us = self.lags.value_at_quantile(0.99);
            produced.lag_max_us = self.lags.max();
        }
        Ok(produced)
    }
}

fn empty_second(second: u64) -> SendSecond {
    SendSecond {
        second,
        scheduled: 0,
        sent: 0,
        late: 0,
        max_lag_us: 0,
        acked_total: 0,
        failed_total: 0,
        world_time_ms: None,
    }
}
