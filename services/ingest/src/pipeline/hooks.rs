//! librdkafka callbacks: partition assignment and revocation, commit results, statistics,
//! and alert or dead-letter delivery reports.

use std::sync::Arc;
use std::time::Instant;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

use super::state::{PartitionState, Shared};
use crate::detector::{Detector, DetectorFactory, PartitionId};
use crate::metrics::{PartitionLabels, WriteLabels};
use crate::writes::{Write, WriteKind, WriteTag};
use crate::DurableAlert;

/// The producer of alerts and dead letters.
pub(crate) type WriteProducer<D> = ThreadedProducer<ProducerHooks<D>>;

/// Producer callbacks: delivery reports acknowledge offsets or queue writes again.
pub(crate) struct ProducerHooks<D: Detector> {
    pub shared: Arc<Shared<D>>,
}

impl<D: Detector> ClientContext for ProducerHooks<D> {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log_client(level, facility, message, self.shared.reachability.is_down());
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if self.shared.reachability.is_down() {
            tracing::debug!(error = %error, reason, "alert producer error");
        } else {
            tracing::warn!(error = %error, reason, "alert producer error");
        }
    }
}

impl<D: Detector> ProducerContext for ProducerHooks<D> {
    type DeliveryOpaque = Box<WriteTag>;

    fn delivery(&self, result: &DeliveryResult<'_>, tag: Box<WriteTag>) {
        let shared = &self.shared;
        match result {
            Ok(message) => {
                shared.lock().acknowledge(&tag.source, tag.generation, tag.offset);
                match &tag.kind {
                    WriteKind::Alert { id, version } => {
                        shared.metrics.alerts.inc();
                        if let Some(callback) = &shared.on_alert_durable {
                            callback(&DurableAlert {
                                id: id.clone(),
                                version: *version,
                                partition: message.partition(),
                                offset: message.offset(),
                            });
                        }
                    }
                    WriteKind::DeadLetter => {
                        shared.metrics.dead_letters.inc();
                    }
                }
            }
            Err((error, message)) => {
                let kind = tag.kind.label();
                shared.metrics.write_failures.get_or_create(&WriteLabels { kind }).inc();
                tracing::error!(
                    error = %error,
                    kind,
                    source = %tag.source,
                    offset = tag.offset,
                    "write not acknowledged; it will be retried and its offset is not committed"
                );
                let headers = message.headers().map(|headers| headers.detach());
                let attempts = 1;
                shared.lock_retries().push(Write {
                    topic: message.topic().to_owned(),
                    key: message.key().map(<[u8]>::to_vec),
                    payload: message.payload().unwrap_or_default().to_vec(),
                    headers,
                    tag: *tag,
                    not_before: Some(Instant::now() + super::retry_backoff(attempts)),
                    attempts,
                });
            }
        }
    }
}

/// Consumer callbacks: assignment, revocation, commit results and statistics.
pub(crate) struct ConsumerHooks<D: Detector> {
    pub shared: Arc<Shared<D>>,
    pub producer: Arc<WriteProducer<D>>,
    pub factory: Arc<dyn DetectorFactory<D>>,
}

impl<D: Detector> ClientContext for ConsumerHooks<D> {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log_client(level, facility, message, self.shared.reachability.is_down());
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if self.shared.reachability.is_down() {
            tracing::debug!(error = %error, reason, "audit consumer error");
        } else {
            tracing::warn!(error = %error, reason, "audit consumer error");
        }
    }

    fn stats(&self, statistics: Statistics) {
        self.shared.reachability.observe(&statistics);
        let mut prefetch_bytes: u64 = 0;
        let mut state = self.shared.lock();
        for (topic_name, topic) in &statistics.topics {
            for (&partition_number, partition) in &topic.partitions {
                prefetch_bytes = prefetch_bytes.saturating_add(partition.fetchq_size);
                let id = PartitionId::new(topic_name, partition_number);
                if let Some(assigned) = state.partitions.get_mut(&id) {
                    if partition.hi_offset >= 0 {
                        assigned.high_watermark = Some(partition.hi_offset);
                    }
                    assigned.broker_lag = Some(partition.consumer_lag);
                    if partition.committed_offset >= 0 {
                        assigned.start_offset = Some(partition.committed_offset);
                    }
                }
            }
        }
        drop(state);
        self.shared.metrics.prefetch_bytes.set(i64::try_from(prefetch_bytes).unwrap_or(i64::MAX));
    }
}

impl<D: Detector> ConsumerContext for ConsumerHooks<D> {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        error: RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let result = match error {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.assign(consumer, partitions);
                if cooperative {
                    consumer.incremental_assign(partitions)
                } else {
                    consumer.assign(partitions)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.revoke(consumer, partitions);
                if cooperative {
                    consumer.incremental_unassign(partitions)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance failed; dropping the assignment");
                self.revoke(consumer, partitions);
                consumer.unassign()
            }
        };
        if let Err(error) = result {
            tracing::error!(error = %error, "applying the partition assignment failed");
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        tracing::debug!(result = ?result, offsets = ?offsets, "commit result");
        if let Err(error) = result {
            self.shared.metrics.commit_failures.inc();
            tracing::warn!(error = %error, "offset commit failed; it is retried at the next interval");
            return;
        }
        self.mark_committed(offsets);
    }
}

impl<D: Detector> ConsumerHooks<D> {
    /// Creates a detector per newly assigned partition, restored from its checkpoint when the
    /// factory has one, and makes consumption resume where that checkpoint ends.
    fn assign(&self, consumer: &BaseConsumer<Self>, partitions: &mut TopicPartitionList) {
        let fresh: Vec<PartitionId> = {
            let state = self.shared.lock();
            partitions
                .elements()
                .iter()
                .map(|element| PartitionId::new(element.topic(), element.partition()))
                .filter(|id| !state.partitions.contains_key(id))
                .collect()
        };
        // Restoring reads files and asks the broker for committed offsets: not under the lock.
        let mut made = Vec::with_capacity(fresh.len());
        for id in fresh {
            let committed = || committed_offset(consumer, &id);
            let detector = match self.factory.restore(&id, &committed) {
                Some((detector, offset)) => {
                    let resume = Offset::Offset(offset);
                    match partitions.set_partition_offset(&id.topic, id.partition, resume) {
                        Ok(()) => detector,
                        Err(error) => {
                            tracing::warn!(partition = %id, error = %error,
                                "cannot resume from the checkpoint; starting empty");
                            self.factory.create(&id)
                        }
                    }
                }
                None => self.factory.create(&id),
            };
            made.push((id, detector));
        }
        let mut state = self.shared.lock();
        for (id, detector) in made {
            let generation = state.next_generation;
            state.next_generation += 1;
            state.partitions.insert(id.clone(), PartitionState::new(generation, detector));
            tracing::info!(partition = %id, "partition assigned");
        }
        let assigned = i64::try_from(state.partitions.len()).unwrap_or(i64::MAX);
        self.shared.metrics.assigned_partitions.set(assigned);
    }

    /// Offers the factory the detector of every partition whose processed events all have
    /// their alerts durable (for checkpoints); called at each commit tick. A partition whose
    /// commit already covers them gets no further commit, so it is told at once.
    pub(crate) fn offer_settled(&self) {
        let state = self.shared.lock();
        for (id, partition) in &state.partitions {
            let Some(next) = partition.offsets.next_processed() else { continue };
            if partition.offsets.safe_offset() == Some(next) {
                self.factory.settled(id, &partition.detector, next);
                if partition.offsets.last_committed() == Some(next) {
                    self.factory.committed(id, next);
                }
            }
        }
    }

    /// Waits for the revoked partitions' pending writes, commits what is durable, and drops
    /// their detectors, before the partitions are let go.
    fn revoke(&self, consumer: &BaseConsumer<Self>, partitions: &TopicPartitionList) {
        let ids: Vec<PartitionId> = partitions
            .elements()
            .iter()
            .map(|element| PartitionId::new(element.topic(), element.partition()))
            .collect();
        if ids.is_empty() {
            return;
        }
        let released = self.shared.lock().release_held(&self.shared, &ids, None);
        for write in released {
            self.send_blocking(write);
        }
        let pending: u64 = {
            let state = self.shared.lock();
            ids.iter()
                .filter_map(|id| state.partitions.get(id))
                .map(|partition| partition.offsets.pending_writes())
                .sum()
        };
        if pending > 0 {
            if let Err(error) = self.producer.flush(self.shared.settings.drain_timeout) {
                tracing::warn!(error = %error, pending, "pending writes not all acknowledged in time");
            }
        }
        let commit = self.committable(&ids);
        if commit.count() > 0 {
            match consumer.commit(&commit, CommitMode::Sync) {
                Ok(()) => self.mark_committed(&commit),
                Err(error) => {
                    self.shared.metrics.commit_failures.inc();
                    tracing::warn!(error = %error, "commit on revocation failed");
                }
            }
        }
        self.release(&ids);
    }

    /// Hands a write to the producer from a callback, waiting (bounded) while its queue is
    /// full; a write it cannot take stays unacknowledged, so its offset is not committed.
    fn send_blocking(&self, write: Write) {
        let Write { topic, key, payload, headers, tag, .. } = write;
        let mut record = BaseRecord::with_opaque_to(&topic, Box::new(tag)).payload(&payload);
        if let Some(key) = &key {
            record = record.key(key);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        let deadline = Instant::now() + self.shared.settings.drain_timeout;
        loop {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if Instant::now() < deadline =>
                {
                    record = back;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err((error, _)) => {
                    tracing::error!(error = %error, topic, "write refused while revoking; its events stay uncommitted");
                    return;
                }
            }
        }
    }

    /// Drops the detectors of `ids`, handing them to the factory.
    pub(crate) fn release(&self, ids: &[PartitionId]) {
        let mut released = Vec::new();
        {
            let mut state = self.shared.lock();
            for id in ids {
                if let Some(partition) = state.partitions.remove(id) {
                    released.push((id.clone(), partition));
                }
            }
            let assigned = i64::try_from(state.partitions.len()).unwrap_or(i64::MAX);
            self.shared.metrics.assigned_partitions.set(assigned);
        }
        for (id, partition) in released {
            let pending = partition.offsets.pending_writes();
            if pending > 0 {
                tracing::warn!(
                    partition = %id,
                    pending,
                    "partition released with unacknowledged writes; their events are not \
                     committed and will be processed again"
                );
            }
            self.shared.metrics.forget_partition(&PartitionLabels {
                topic: id.topic.to_string(),
                partition: id.partition,
            });
            let committed = partition.offsets.last_committed();
            tracing::info!(partition = %id, committed = ?committed, "partition released");
            // The detector has seen exactly the events before the commit only when the commit
            // covers everything processed.
            let settled = partition.offsets.is_settled().then_some(committed).flatten();
            self.factory.released(&id, partition.detector, settled);
        }
    }

    /// The offsets of `ids` (all assigned partitions when empty) that can be committed now.
    pub(crate) fn committable(&self, ids: &[PartitionId]) -> TopicPartitionList {
        let state = self.shared.lock();
        let mut list = TopicPartitionList::new();
        for (id, partition) in &state.partitions {
            if !ids.is_empty() && !ids.contains(id) {
                continue;
            }
            if let Some(offset) = partition.offsets.committable() {
                let _ = list.add_partition_offset(&id.topic, id.partition, Offset::Offset(offset));
            }
        }
        list
    }

    /// Records committed offsets and lets the factory see partitions that are settled.
    pub(crate) fn mark_committed(&self, offsets: &TopicPartitionList) {
        let mut state = self.shared.lock();
        for element in offsets.elements() {
            if element.error().is_err() {
                self.shared.metrics.commit_failures.inc();
                continue;
            }
            let Offset::Offset(offset) = element.offset() else { continue };
            let id = PartitionId::new(element.topic(), element.partition());
            let Some(partition) = state.partitions.get_mut(&id) else { continue };
            if partition.offsets.last_committed().is_some_and(|last| last >= offset) {
                continue;
            }
            partition.offsets.committed(offset);
            self.shared.metrics.commits.inc();
            tracing::debug!(partition = %id, offset, "offset committed");
            self.factory.committed(&id, offset);
        }
    }
}

/// The group's committed offset of `id`, asked of the broker; `None` when there is none or
/// the broker does not answer in time.
fn committed_offset<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    id: &PartitionId,
) -> Option<i64> {
    let mut list = TopicPartitionList::new();
    list.add_partition(&id.topic, id.partition);
    match consumer.committed_offsets(list, COMMITTED_LOOKUP_TIMEOUT) {
        Ok(answer) => match answer.find_partition(&id.topic, id.partition)?.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        },
        Err(error) => {
            tracing::warn!(partition = %id, error = %error, "cannot read the committed offset");
            None
        }
    }
}

/// How long an assignment waits for the broker to say a partition's committed offset.
const COMMITTED_LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Sends librdkafka's own log lines to `tracing`; while the brokers are known to be away
/// (`quiet`), its errors and warnings about them go to debug: the outage is reported once.
fn log_client(level: RDKafkaLogLevel, facility: &str, message: &str, quiet: bool) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error
        | RDKafkaLogLevel::Warning
            if quiet =>
        {
            tracing::debug!(target: "rdkafka", facility, "{message}");
        }
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => tracing::error!(target: "rdkafka", facility, "{message}"),
        RDKafkaLogLevel::Warning => tracing::warn!(target: "rdkafka", facility, "{message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "rdkafka", facility, "{message}");
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "rdkafka", facility, "{message}"),
    }
}
