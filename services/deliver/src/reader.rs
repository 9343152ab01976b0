//! The alerts topic reader: feeds the alert log from every partition of the alerts topic, from
//! the beginning, without a consumer group, so every instance holds every alert.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mspwatch_alert::Alert;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::AlertReaderConfig;
use crate::error::DeliverError;
use crate::log::{AlertLog, AppendError};

/// How long a metadata or watermark request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// How soon to look for the topic again while none of its partitions is assigned.
const UNASSIGNED_RETRY: Duration = Duration::from_secs(1);
/// Pause after a failed receive, so a broken connection does not spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(500);
/// Most records, in KiB, read ahead of the log (`queued.max.messages.kbytes`): about 15,000
/// alerts, a second and a half of a storm of 10,000 per second, instead of librdkafka's 64 MiB.
const PREFETCH_KIB: &str = "16384";
/// Longest a fetch waits at the broker for records (`fetch.wait.max.ms`). A broker may hold a
/// fetch this long even when records are there, so this bounds the delay it adds to every alert:
/// 100 ms made the p50 latency of a storm 170 ms, 10 ms makes it 26 ms. Idle, it costs a small
/// fetch request per partition leader every 10 ms.
const FETCH_WAIT_MS: &str = "10";

/// Reads the alerts topic into an [`AlertLog`].
pub struct AlertTopicReader {
    config: AlertReaderConfig,
    log: Arc<AlertLog>,
    consumer: Arc<StreamConsumer>,
    assigned: BTreeSet<i32>,
}

impl AlertTopicReader {
    /// A reader of `config.topic` into `log`; nothing is read until [`AlertTopicReader::run`].
    pub fn new(config: AlertReaderConfig, log: Arc<AlertLog>) -> Result<Self, DeliverError> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", "mspwatch-alert-reader")
            .set("client.id", "mspwatch-alert-reader")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", FETCH_WAIT_MS)
            .set("queued.max.messages.kbytes", PREFETCH_KIB);
        for (key, value) in &config.properties {
            client.set(key, value);
        }
        let consumer: StreamConsumer = client.create()?;
        log.await_partitions();
        Ok(AlertTopicReader {
            config,
            log,
            consumer: Arc::new(consumer),
            assigned: BTreeSet::new(),
        })
    }

    /// Reads until `shutdown` completes: assigns every partition from its start, appends each
    /// alert to the log, skips records that are not alerts, and picks up added partitions.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), DeliverError> {
        tokio::pin!(shutdown);
        let refresh = Duration::from_secs(self.config.metadata_refresh_secs.max(1));
        let mut refresh_timer = tokio::time::interval(refresh);
        refresh_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut unusable_records = 0u64;
        let consumer = Arc::clone(&self.consumer);
        loop {
            tokio::select! {
                () = &mut shutdown => {
                    tracing::info!(topic = %self.config.topic, "alerts topic reader stopped");
                    return Ok(());
                }
                _ = refresh_timer.tick() => {
                    self.assign_new_partitions().await;
                    if self.assigned.is_empty() {
                        // Until the topic shows up, look again soon rather than after a refresh.
                        refresh_timer.reset_at(tokio::time::Instant::now() + UNASSIGNED_RETRY);
                    }
                }
                received = consumer.recv() => match received {
                    Ok(message) => {
                        let parsed = message.payload().map(serde_json::from_slice::<Alert>);
                        let (partition, offset) = (message.partition(), message.offset());
                        drop(message);
                        self.take(partition, offset, parsed, &mut unusable_records);
                    }
                    Err(error) => {
                        let topic = &self.config.topic;
                        tracing::warn!(error = %error, topic = %topic, "alerts topic read failed");
                        tokio::time::sleep(ERROR_BACKOFF).await;
                    }
                },
            }
        }
    }

    fn take(
        &self,
        partition: i32,
        offset: i64,
        parsed: Option<Result<Alert, serde_json::Error>>,
        unusable_records: &mut u64,
    ) {
        match parsed {
            Some(Ok(alert)) => match self.log.append(partition, offset, alert) {
                Ok(()) => tracing::trace!(partition, offset, "alert read"),
                Err(AppendError::Behind { .. }) => {
                    tracing::debug!(partition, offset, "alert re-read")
                }
                Err(AppendError::Repeated { .. }) => {
                    tracing::debug!(partition, offset, "alert version written again; skipped")
                }
                Err(error) => tracing::warn!(error = %error, "alert not appended"),
            },
            Some(Err(_)) => self.skip(partition, offset, "not an alert", unusable_records),
            None => self.skip(partition, offset, "empty record", unusable_records),
        }
    }

    fn skip(&self, partition: i32, offset: i64, reason: &str, unusable_records: &mut u64) {
        self.log.skip(partition, offset);
        *unusable_records += 1;
        // The first and then every thousandth, so a bad producer cannot flood the log.
        if *unusable_records % 1000 == 1 {
            tracing::warn!(
                topic = %self.config.topic, partition, offset, reason,
                skipped_so_far = *unusable_records,
                "skipped a record of the alerts topic"
            );
        }
    }

    /// Assigns partitions not assigned yet, each from its low watermark.
    async fn assign_new_partitions(&mut self) {
        let consumer = Arc::clone(&self.consumer);
        let topic = self.config.topic.clone();
        let known = self.assigned.clone();
        let found =
            tokio::task::spawn_blocking(move || new_partitions(&consumer, &topic, &known)).await;
        let new = match found {
            Ok(Ok(new)) => new,
            Ok(Err(error)) => {
                let topic = &self.config.topic;
                tracing::warn!(error = %error, topic = %topic, "alerts topic metadata unavailable");
                return;
            }
            Err(error) => {
                tracing::warn!(error = %error, "alerts topic metadata task failed");
                return;
            }
        };
        if new.is_empty() {
            return;
        }
        self.log.start_partitions(&new);
        let mut assignment = TopicPartitionList::new();
        for (partition, low, _) in &new {
            let start = self.log.oldest_cursor().next_offset(*partition).max(*low);
            if let Err(error) = assignment.add_partition_offset(
                &self.config.topic,
                *partition,
                Offset::Offset(start),
            ) {
                tracing::warn!(error = %error, partition, "cannot assign alerts partition");
                return;
            }
        }
        match self.consumer.incremental_assign(&assignment) {
            Ok(()) => {
                let partitions: Vec<i32> = new.iter().map(|(partition, ..)| *partition).collect();
                let topic = &self.config.topic;
                tracing::info!(topic = %topic, ?partitions, "reading alerts partitions");
                self.assigned.extend(partitions);
            }
            Err(error) => tracing::warn!(error = %error, "cannot assign alerts partitions"),
        }
    }
}

/// Partitions of `topic` not in `known`, with their low and high watermarks.
fn new_partitions(
    consumer: &StreamConsumer,
    topic: &str,
    known: &BTreeSet<i32>,
) -> Result<Vec<(i32, i64, i64)>, DeliverError> {
    let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let topic_metadata = metadata
        .topics()
        .iter()
        .find(|candidate| candidate.name() == topic && candidate.error().is_none())
        .filter(|found| !found.partitions().is_empty())
        .ok_or_else(|| DeliverError::TopicNotFound(topic.to_owned()))?;
    let mut new = Vec::new();
    for partition in topic_metadata.partitions() {
        if known.contains(&partition.id()) {
            continue;
        }
        let (low, high) = consumer.fetch_watermarks(topic, partition.id(), METADATA_TIMEOUT)?;
        new.push((partition.id(), low.max(0), high.max(0)));
    }
    Ok(new)
}
