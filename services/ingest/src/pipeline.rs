//! The live pipeline: a consumer group over the audit topics feeding one detector per
//! partition, writing alert versions and dead letters, and committing offsets only once the
//! writes they caused are acknowledged.

pub(crate) mod health;
mod hooks;
pub(crate) mod state;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::topic_partition_list::TopicPartitionList;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::hooks::{ConsumerHooks, ProducerHooks, WriteProducer};
use self::state::{Settings, Shared, State};
use crate::config::KafkaConfig;
use crate::detector::{Detector, DetectorFactory, PartitionId};
use crate::kafka::{group_consumer_config, producer_config};
use crate::metrics::IngestMetrics;
use crate::stats::{IngestStats, StatsReader};
use crate::writes::Write;
use crate::DurableAlertCallback;

type AuditConsumer<D> = StreamConsumer<ConsumerHooks<D>>;

/// How often failed writes and quiet partitions are looked at.
const RETRY_TICK: Duration = Duration::from_millis(50);

/// A partition with no message for this long has its held events evaluated, so the last
/// events of an attack do not wait for later traffic.
const QUIET_RELEASE: Duration = Duration::from_millis(100);

/// Why ingestion could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A Kafka client could not be created or subscribed.
    #[error("kafka client: {0}")]
    Client(#[from] KafkaError),
    /// The alerts producer hit a fatal error (idempotence can no longer be guaranteed);
    /// nothing after the last commit is lost, a restart resumes from there.
    #[error("alerts producer failed fatally: {0}")]
    ProducerFatal(String),
    /// The ingestion task panicked or was cancelled.
    #[error("ingestion task ended abnormally: {0}")]
    Task(String),
}

/// Optional parts of a pipeline.
#[derive(Clone, Default)]
pub struct IngestOptions {
    /// Metric handles (register them with [`IngestMetrics::register`] to export them).
    pub metrics: IngestMetrics,
    /// Called from the producer's thread when an alert version is acknowledged by the broker;
    /// keep it short.
    pub on_alert_durable: Option<DurableAlertCallback>,
}

impl std::fmt::Debug for IngestOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestOptions").finish_non_exhaustive()
    }
}

/// A running pipeline: stats, access to the detectors, and a graceful stop.
pub struct IngestHandle<D> {
    shared: Arc<Shared<D>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), IngestError>>,
    watchdog: JoinHandle<()>,
    shutdown_timeout: Duration,
}

impl<D: Detector> IngestHandle<D> {
    /// Counters and per-partition state now.
    pub fn stats(&self) -> IngestStats {
        self.shared.lock().snapshot(&self.shared.metrics)
    }

    /// Follows whether the Kafka brokers answer: `false` once none has answered for
    /// `unreachable_timeout`, `true` again when one does.
    pub fn brokers_reachable(&self) -> watch::Receiver<bool> {
        self.shared.reachability.subscribe()
    }

    /// A cloneable stats reader for other services.
    pub fn stats_reader(&self) -> StatsReader {
        let shared = Arc::clone(&self.shared);
        StatsReader::new(move || shared.lock().snapshot(&shared.metrics))
    }

    /// Runs `visit` on every assigned partition's detector (rule reload, baseline lookup),
    /// holding the pipeline's lock meanwhile: keep it short.
    pub fn for_each_detector(&self, mut visit: impl FnMut(&PartitionId, &mut D)) {
        let mut state = self.shared.lock();
        for (id, partition) in &mut state.partitions {
            visit(id, &mut partition.detector);
        }
    }

    /// Asks the pipeline to stop: it stops reading, waits for pending writes, commits, and
    /// releases its partitions.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Whether the pipeline task has ended (stopped or failed).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the pipeline and waits for it, at most about `drain_timeout` times three.
    pub async fn shutdown(self) -> Result<(), IngestError> {
        self.stop();
        self.join().await
    }

    /// Waits for the pipeline to end (after [`IngestHandle::stop`] or an error).
    pub async fn join(self) -> Result<(), IngestError> {
        let IngestHandle { task, watchdog, shutdown_timeout, .. } = self;
        let result = match tokio::time::timeout(shutdown_timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(error)) => Err(IngestError::Task(error.to_string())),
            Err(_) => Err(IngestError::Task("shutdown took too long".to_owned())),
        };
        watchdog.abort();
        result
    }

    /// Runs until `signal` completes or the pipeline fails, then shuts down.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> Result<(), IngestError> {
        tokio::pin!(signal);
        tokio::select! {
            () = &mut signal => {}
            () = wait_finished(&self.task) => {}
        }
        self.shutdown().await
    }
}

async fn wait_finished<T>(task: &JoinHandle<T>) {
    while !task.is_finished() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts consuming `config.audit_topics` in `config.consumer_group`, with a detector per
/// assigned partition from `factory`. Must be called inside a Tokio runtime.
pub fn start<D, F>(
    config: &KafkaConfig,
    factory: F,
    options: IngestOptions,
) -> Result<IngestHandle<D>, IngestError>
where
    D: Detector,
    F: DetectorFactory<D>,
{
    let settings = Settings {
        alerts_topic: config.alerts_topic.clone(),
        dead_letter_topic: config.dead_letter_topic.clone(),
        dead_letter_max_bytes: usize::try_from(config.dead_letter_max_bytes).unwrap_or(usize::MAX),
        drain_timeout: config.drain_timeout.get(),
        stall_timeout: config.stall_timeout.get(),
        unreachable_timeout: config.unreachable_timeout.get(),
    };
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        retries: Mutex::new(Vec::new()),
        metrics: options.metrics,
        reachability: health::Reachability::new(settings.unreachable_timeout),
        settings,
        on_alert_durable: options.on_alert_durable,
    });
    let producer: WriteProducer<D> = producer_config(config)
        .create_with_context(ProducerHooks { shared: Arc::clone(&shared) })?;
    let producer = Arc::new(producer);
    let hooks = ConsumerHooks {
        shared: Arc::clone(&shared),
        producer: Arc::clone(&producer),
        factory: Arc::new(factory),
    };
    let consumer: AuditConsumer<D> = group_consumer_config(config).create_with_context(hooks)?;
    let topics: Vec<&str> = config.audit_topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    tracing::info!(
        topics = ?config.audit_topics,
        group = %config.consumer_group,
        alerts_topic = %config.alerts_topic,
        dead_letter_topic = %config.dead_letter_topic,
        "consuming audit events"
    );

    warn_about_missing_topics(Arc::clone(&producer), config);
    let (stop, stopped) = watch::channel(false);
    let watchdog = tokio::spawn(watch_partitions(Arc::clone(&shared)));
    let commit_interval = config.commit_interval.get();
    let task = tokio::spawn(consume(
        Arc::new(consumer),
        producer,
        Arc::clone(&shared),
        commit_interval,
        stopped,
    ));
    let drain = config.drain_timeout.get();
    let shutdown_timeout = drain.saturating_mul(3).saturating_add(Duration::from_secs(5));
    Ok(IngestHandle { shared, stop, task, watchdog, shutdown_timeout })
}

/// Logs a warning for each configured topic the cluster does not have (topics are never
/// created implicitly); runs in the background and never fails the start.
fn warn_about_missing_topics<D: Detector>(producer: Arc<WriteProducer<D>>, config: &KafkaConfig) {
    let mut wanted = config.audit_topics.clone();
    wanted.push(config.alerts_topic.clone());
    wanted.push(config.dead_letter_topic.clone());
    tokio::task::spawn_blocking(move || {
        let metadata = match producer.client().fetch_metadata(None, Duration::from_secs(10)) {
            Ok(metadata) => metadata,
            Err(error) => {
                tracing::warn!(error = %error, "cannot read the cluster's topics");
                return;
            }
        };
        for topic in wanted {
            let exists = metadata
                .topics()
                .iter()
                .any(|entry| entry.name() == topic && entry.error().is_none());
            if !exists {
                tracing::warn!(topic, "topic does not exist; create it (mspwatch never does)");
            }
        }
    });
}

/// The consume loop: messages, periodic commits, write retries; then the drain on stop.
async fn consume<D: Detector>(
    consumer: Arc<AuditConsumer<D>>,
    producer: Arc<WriteProducer<D>>,
    shared: Arc<Shared<D>>,
    commit_interval: Duration,
    mut stopped: watch::Receiver<bool>,
) -> Result<(), IngestError> {
    let mut commit_tick = tokio::time::interval(commit_interval);
    commit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut retry_tick = tokio::time::interval(RETRY_TICK);
    let mut committing: Option<JoinHandle<()>> = None;
    let result = loop {
        tokio::select! {
            biased;
            _ = stopped.changed() => {
                if *stopped.borrow() {
                    break Ok(());
                }
            }
            _ = commit_tick.tick() => {
                // Partitions whose alerts are all durable may be checkpointed, before the held
                // events are released (a checkpoint keeps them held).
                consumer.context().offer_settled();
                // Every event before a commit must have been evaluated, held or not.
                let released = shared.lock().release_held(&shared, &[], None);
                for write in released {
                    send(&producer, &shared, write).await;
                }
                commit_in_background(&consumer, &mut committing);
            }
            _ = retry_tick.tick() => {
                let released = shared.lock().release_held(&shared, &[], Some(QUIET_RELEASE));
                for write in released {
                    send(&producer, &shared, write).await;
                }
                if let Err(error) = resend_failed(&producer, &shared, false).await {
                    break Err(error);
                }
            }
            received = consumer.recv() => match process_received(&shared, received) {
                Received::Writes(writes) => {
                    for write in writes {
                        send(&producer, &shared, write).await;
                    }
                }
                Received::Nothing => {}
                Received::Failed => tokio::time::sleep(Duration::from_millis(200)).await,
            },
        }
    };
    if let Some(commit) = committing {
        let _ = commit.await;
    }
    drain(consumer, producer, shared).await;
    result
}

/// What one receive produced.
enum Received {
    /// The writes the message caused (possibly none).
    Writes(Vec<Write>),
    /// A message for a partition no longer assigned: neither processed nor committed.
    Nothing,
    /// The consumer reported an error.
    Failed,
}

fn process_received<D: Detector>(
    shared: &Shared<D>,
    received: Result<BorrowedMessage<'_>, KafkaError>,
) -> Received {
    let message = match received {
        Ok(message) => message,
        Err(error) if shared.reachability.is_down() => {
            tracing::debug!(error = %error, "consuming audit events failed; retrying");
            return Received::Failed;
        }
        Err(error) => {
            tracing::warn!(error = %error, "consuming audit events failed; retrying");
            return Received::Failed;
        }
    };
    let source = PartitionId::new(message.topic(), message.partition());
    let processed = shared.lock().process_message(
        shared,
        &source,
        message.offset(),
        message.key(),
        message.payload(),
    );
    match processed {
        Some(processed) => Received::Writes(processed.writes),
        None => {
            tracing::debug!(partition = %source, "message for an unassigned partition skipped");
            Received::Nothing
        }
    }
}

/// Commits every partition's durable processed prefix on a blocking thread, so a slow
/// coordinator never holds up consumption; at most one commit is in flight.
fn commit_in_background<D: Detector>(
    consumer: &Arc<AuditConsumer<D>>,
    committing: &mut Option<JoinHandle<()>>,
) {
    if committing.as_ref().is_some_and(|commit| !commit.is_finished()) {
        return;
    }
    let offsets = consumer.context().committable(&[]);
    if offsets.count() == 0 {
        return;
    }
    let consumer = Arc::clone(consumer);
    *committing = Some(tokio::task::spawn_blocking(move || commit_now(&consumer, &offsets)));
}

/// Commits `offsets` and waits for the answer.
fn commit_now<D: Detector>(consumer: &AuditConsumer<D>, offsets: &TopicPartitionList) {
    match consumer.commit(offsets, CommitMode::Sync) {
        Ok(()) => consumer.context().mark_committed(offsets),
        Err(error) => {
            consumer.context().shared.metrics.commit_failures.inc();
            tracing::warn!(error = %error, "offset commit failed; retrying at the next interval");
        }
    }
}

/// Hands a write to the producer, waiting while its queue is full. A write the producer
/// refuses outright is queued for another try.
async fn send<D: Detector>(producer: &WriteProducer<D>, shared: &Shared<D>, write: Write) {
    let Write { topic, key, payload, headers, tag, attempts, .. } = write;
    let mut record = BaseRecord::with_opaque_to(&topic, Box::new(tag)).payload(&payload);
    if let Some(key) = &key {
        record = record.key(key);
    }
    if let Some(headers) = headers {
        record = record.headers(headers);
    }
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((error, back)) => {
                let attempts = attempts.saturating_add(1);
                tracing::error!(error = %error, topic, "write refused by the producer; retrying");
                shared.lock_retries().push(Write {
                    topic: topic.clone(),
                    key: key.clone(),
                    payload: payload.clone(),
                    headers: back.headers,
                    tag: *back.delivery_opaque,
                    not_before: Some(Instant::now() + retry_backoff(attempts)),
                    attempts,
                });
                return;
            }
        }
    }
}

/// Sends again the writes that failed, once their backoff passed (all of them when `now`),
/// dropping those whose partition was revoked (its uncommitted events are reprocessed by the
/// next owner). Fails when the producer can no longer work.
async fn resend_failed<D: Detector>(
    producer: &WriteProducer<D>,
    shared: &Shared<D>,
    now: bool,
) -> Result<(), IngestError> {
    if let Some((code, reason)) = producer.client().fatal_error() {
        return Err(IngestError::ProducerFatal(format!("{code}: {reason}")));
    }
    let due: Vec<Write> = {
        let mut retries = shared.lock_retries();
        if retries.is_empty() {
            return Ok(());
        }
        let moment = Instant::now();
        let (due, later): (Vec<Write>, Vec<Write>) = retries.drain(..).partition(|write| {
            now || write.not_before.is_none_or(|not_before| not_before <= moment)
        });
        *retries = later;
        due
    };
    for write in due {
        if !shared.lock().is_current(&write.tag.source, write.tag.generation) {
            tracing::debug!(source = %write.tag.source, "dropping a write for a revoked partition");
            continue;
        }
        send(producer, shared, write).await;
    }
    Ok(())
}

/// Backoff before another try of a failed write: 200 ms doubling up to 30 s.
pub(crate) fn retry_backoff(attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(8);
    Duration::from_millis(200u64.saturating_mul(1 << exponent)).min(Duration::from_secs(30))
}

/// On stop: send queued retries, wait for pending writes, commit, release the partitions and
/// leave the group, each step bounded by the drain timeout.
async fn drain<D: Detector>(
    consumer: Arc<AuditConsumer<D>>,
    producer: Arc<WriteProducer<D>>,
    shared: Arc<Shared<D>>,
) {
    let drain_timeout = shared.settings.drain_timeout;
    let released = shared.lock().release_held(&shared, &[], None);
    for write in released {
        send(&producer, &shared, write).await;
    }
    if let Err(error) = resend_failed(&producer, &shared, true).await {
        tracing::error!(error = %error, "cannot resend failed writes while stopping");
    }
    let flushing = Arc::clone(&producer);
    let flushed = tokio::task::spawn_blocking(move || flushing.flush(drain_timeout));
    match tokio::time::timeout(drain_timeout + Duration::from_secs(1), flushed).await {
        Ok(Ok(Ok(()))) => {}
        _ => tracing::warn!(
            "not every alert was acknowledged before stopping; their events stay uncommitted"
        ),
    }

    let committing = Arc::clone(&consumer);
    let committed = tokio::task::spawn_blocking(move || {
        let offsets = committing.context().committable(&[]);
        if offsets.count() > 0 {
            commit_now(&committing, &offsets);
        }
        let ids: Vec<PartitionId> =
            committing.context().shared.lock().partitions.keys().cloned().collect();
        committing.context().release(&ids);
        committing.unsubscribe();
    });
    if tokio::time::timeout(drain_timeout, committed).await.is_err() {
        tracing::warn!("final commit did not finish in time");
    }
    // Leaving the group can block on an unreachable broker; do it off the runtime, bounded.
    let closing = tokio::task::spawn_blocking(move || drop(consumer));
    let _ = tokio::time::timeout(drain_timeout, closing).await;
    tracing::info!("audit consumer stopped");
}

/// The stall watchdog and gauge updater, separate from the loop so it sees a wedged loop too.
async fn watch_partitions<D: Detector>(shared: Arc<Shared<D>>) {
    let stall_timeout = shared.settings.stall_timeout;
    let period = (stall_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        shared.lock().watch(&shared.metrics, stall_timeout);
        shared.reachability.check(&shared.metrics);
    }
}
