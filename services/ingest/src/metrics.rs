//! Ingestion metrics (Prometheus) and the HTTP endpoint that serves `/metrics`.
//!
//! Counters are named `mspwatch_<noun>_<unit>_total`; labels are few and bounded (reject
//! reasons are a fixed set of codes, partitions are those assigned).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// Labels naming one partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PartitionLabels {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
}

/// Labels naming what kind of detector state was evicted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabels {
    /// `credentials`, `tenants`, `msps`, `event_ids`, `rule_state` or `incidents`.
    pub kind: &'static str,
}

/// Labels naming why a record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The decoder's short reason code.
    pub reason: String,
}

/// Labels naming what kind of write failed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct WriteLabels {
    /// `alert` or `dead_letter`.
    pub kind: &'static str,
}

/// Labels naming which checkpoint file a partition was restored from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct GenerationLabels {
    /// `newest` or `previous`.
    pub generation: &'static str,
}

/// Every ingestion metric; cheap to clone (the values are shared).
#[derive(Debug, Clone, Default)]
pub struct IngestMetrics {
    /// Events decoded and handed to a partition's detector.
    pub events: Counter,
    /// Records understood but carrying no event (CloudTrail digests).
    pub records_skipped: Counter,
    /// Records rejected, by reason.
    pub rejects: Family<ReasonLabels, Counter>,
    /// Dead letters acknowledged by the broker.
    pub dead_letters: Counter,
    /// Alert versions acknowledged by the broker.
    pub alerts: Counter,
    /// Alert or dead-letter writes that failed and were queued again.
    pub write_failures: Family<WriteLabels, Counter>,
    /// Successful offset commits (one per partition committed).
    pub commits: Counter,
    /// Failed offset commits.
    pub commit_failures: Counter,
    /// Detector keys evicted to stay within the configured bound.
    pub evictions: Counter,
    /// Detector entries evicted, by kind of state.
    pub evictions_by_kind: Family<KindLabels, Counter>,
    /// Bytes of detection state accounted by all detectors (0 without a memory limit).
    pub state_bytes: Gauge,
    /// Events behind the watermark by more than the allowed lateness.
    pub late_events: Counter,
    /// Events dropped as repeats of an id already seen.
    pub duplicate_events: Counter,
    /// Events whose MSP was already seen on another partition.
    pub msp_partition_splits: Counter,
    /// Times a partition was found stalled.
    pub partition_stalls: Counter,
    /// Messages between a partition's high watermark and the next offset to process.
    pub partition_lag: Family<PartitionLabels, Gauge>,
    /// 1 while a partition is stalled, else 0.
    pub partition_stalled: Family<PartitionLabels, Gauge>,
    /// Keys (credentials, groups) tracked by all detectors, where they report it.
    pub state_keys: Gauge,
    /// Partitions currently assigned to this instance.
    pub assigned_partitions: Gauge,
    /// Bytes of prefetched messages waiting in the consumer.
    pub prefetch_bytes: Gauge,
    /// Partition checkpoints written.
    pub checkpoints_written: Counter,
    /// Partition checkpoints that could not be written.
    pub checkpoint_failures: Counter,
    /// Partitions restored from a checkpoint, by file (`newest`, `previous`).
    pub checkpoint_restores: Family<GenerationLabels, Counter>,
    /// Checkpoints found but not used, by reason (`torn`, `corrupt`, `version`, `foreign`,
    /// `incompatible`, `ahead`, `io`).
    pub checkpoint_rejects: Family<ReasonLabels, Counter>,
    /// Messages read again after a restore: from the checkpoint's offset to the committed one.
    pub checkpoint_reread_messages: Counter,
    /// Time spent serializing detector state for checkpoints, in seconds.
    pub checkpoint_serialize_seconds: Counter<f64, AtomicU64>,
    /// Time spent writing checkpoint files (write, fsync, rename), in seconds.
    pub checkpoint_write_seconds: Counter<f64, AtomicU64>,
    /// Size of the last checkpoint file written, in bytes.
    pub checkpoint_bytes: Gauge,
    /// 1 while a broker answers (or for `unreachable_timeout` after the last answer), else 0.
    pub kafka_reachable: Gauge,
    /// Times no broker answered for `unreachable_timeout`.
    pub kafka_outages: Counter,
}

impl IngestMetrics {
    /// Registers every metric in `registry` and returns the handles.
    pub fn register(registry: &mut Registry) -> IngestMetrics {
        let metrics = IngestMetrics::default();
        let m = &metrics;
        registry.register("mspwatch_events", "Events decoded and evaluated", m.events.clone());
        registry.register(
            "mspwatch_records_skipped",
            "Records understood but carrying no event",
            m.records_skipped.clone(),
        );
        registry.register("mspwatch_rejects", "Records rejected, by reason", m.rejects.clone());
        registry.register(
            "mspwatch_dead_letters",
            "Rejected records written to the dead-letter topic",
            m.dead_letters.clone(),
        );
        registry.register(
            "mspwatch_alerts",
            "Alert versions durably written to the alerts topic",
            m.alerts.clone(),
        );
        registry.register(
            "mspwatch_write_failures",
            "Alert or dead-letter writes that failed and are retried",
            m.write_failures.clone(),
        );
        registry.register("mspwatch_commits", "Partition offsets committed", m.commits.clone());
        registry.register(
            "mspwatch_commit_failures",
            "Offset commits that failed",
            m.commit_failures.clone(),
        );
        registry.register(
            "mspwatch_evictions",
            "Detector entries evicted to stay within max_tracked_keys or memory_limit",
            m.evictions.clone(),
        );
        registry.register(
            "mspwatch_evictions_by_kind",
            "Detector entries evicted, by kind of state",
            m.evictions_by_kind.clone(),
        );
        registry.register(
            "mspwatch_state_bytes",
            "Bytes of detection state accounted under memory_limit by all assigned partitions",
            m.state_bytes.clone(),
        );
        registry.register(
            "mspwatch_late_events",
            "Events later than the allowed lateness",
            m.late_events.clone(),
        );
        registry.register(
            "mspwatch_duplicate_events",
            "Events dropped as repeats of an event id",
            m.duplicate_events.clone(),
        );
        registry.register(
            "mspwatch_msp_partition_splits",
            "Events whose MSP id was already seen on another partition",
            m.msp_partition_splits.clone(),
        );
        registry.register(
            "mspwatch_partition_stalls",
            "Times a partition with lag made no progress for stall_timeout",
            m.partition_stalls.clone(),
        );
        registry.register(
            "mspwatch_partition_lag_messages",
            "Messages between the high watermark and the next offset to process",
            m.partition_lag.clone(),
        );
        registry.register(
            "mspwatch_partition_stalled",
            "1 while a partition is stalled",
            m.partition_stalled.clone(),
        );
        registry.register(
            "mspwatch_state_keys",
            "Keys tracked by the detectors of all assigned partitions",
            m.state_keys.clone(),
        );
        registry.register(
            "mspwatch_assigned_partitions",
            "Partitions assigned to this instance",
            m.assigned_partitions.clone(),
        );
        registry.register(
            "mspwatch_prefetch_bytes",
            "Bytes of prefetched messages held by the consumer",
            m.prefetch_bytes.clone(),
        );
        m.register_checkpoints_and_health(registry);
        metrics
    }

    fn register_checkpoints_and_health(&self, registry: &mut Registry) {
        registry.register(
            "mspwatch_checkpoints_written",
            "Partition checkpoints written",
            self.checkpoints_written.clone(),
        );
        registry.register(
            "mspwatch_checkpoint_failures",
            "Partition checkpoints that could not be written",
            self.checkpoint_failures.clone(),
        );
        registry.register(
            "mspwatch_checkpoint_restores",
            "Partitions restored from a checkpoint, by file",
            self.checkpoint_restores.clone(),
        );
        registry.register(
            "mspwatch_checkpoint_rejects",
            "Checkpoints found but not used, by reason",
            self.checkpoint_rejects.clone(),
        );
        registry.register(
            "mspwatch_checkpoint_reread_messages",
            "Messages read again after a restore, from the checkpoint to the committed offset",
            self.checkpoint_reread_messages.clone(),
        );
        registry.register(
            "mspwatch_checkpoint_serialize_seconds",
            "Time spent serializing detector state for checkpoints",
            self.checkpoint_serialize_seconds.clone(),
        );
        registry.register(
            "mspwatch_checkpoint_write_seconds",
            "Time spent writing checkpoint files",
            self.checkpoint_write_seconds.clone(),
        );
        registry.register(
            "mspwatch_checkpoint_bytes",
            "Size of the last checkpoint file written",
            self.checkpoint_bytes.clone(),
        );
        registry.register(
            "mspwatch_kafka_reachable",
            "1 while the Kafka brokers answer, 0 after unreachable_timeout without an answer",
            self.kafka_reachable.clone(),
        );
        registry.register(
            "mspwatch_kafka_outages",
            "Times no Kafka broker answered for unreachable_timeout",
            self.kafka_outages.clone(),
        );
    }

    /// Removes a revoked partition's series.
    pub fn forget_partition(&self, labels: &PartitionLabels) {
        self.partition_lag.remove(labels);
        self.partition_stalled.remove(labels);
    }
}

/// Why the metrics endpoint could not run.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The listen address could not be bound.
    #[error("cannot listen for metrics on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A bound `/metrics` endpoint, not yet serving.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
}

impl MetricsServer {
    /// Binds the listen address (port 0 picks a free port).
    pub async fn bind(address: SocketAddr) -> Result<MetricsServer, MetricsError> {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| MetricsError::Bind { address, source })?;
        Ok(MetricsServer { listener })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves `GET /metrics` from `registry` until `shutdown` completes.
    pub async fn serve(self, registry: Arc<Registry>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => return,
                accepted = self.listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::debug!(error = %error, "metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let registry = Arc::clone(&registry);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let registry = Arc::clone(&registry);
                    async move { Ok::<_, Infallible>(respond(&request, &registry)) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(5))
                    .keep_alive(false)
                    .serve_connection(TokioIo::new(stream), service);
                let bounded = tokio::time::timeout(Duration::from_secs(30), connection);
                if let Ok(Err(error)) = bounded.await {
                    tracing::debug!(error = %error, "metrics connection failed");
                }
            });
        }
    }
}

fn respond(request: &Request<Incoming>, registry: &Registry) -> Response<Full<Bytes>> {
    if request.method() != Method::GET || request.uri().path() != "/metrics" {
        return plain(StatusCode::NOT_FOUND, "not found; try GET /metrics\n".to_owned());
    }
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, registry) {
        tracing::warn!(error = %error, "encoding metrics failed");
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "metrics unavailable\n".to_owned());
    }
    let mut response = Response::new(Full::new(Bytes::from(text)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    );
    response
}

fn plain(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(address: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn metrics_endpoint_serves_counters_with_total_suffix_and_partition_gauges() {
        let mut registry = Registry::default();
        let metrics = IngestMetrics::register(&mut registry);
        metrics.events.inc_by(7);
        metrics.rejects.get_or_create(&ReasonLabels { reason: "invalid_json".into() }).inc();
        let labels = PartitionLabels { topic: "audit".into(), partition: 2 };
        metrics.partition_lag.get_or_create(&labels).set(11);
        let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let address = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(Arc::new(registry), async {
            let _ = stopped.await;
        }));

        let body =
            tokio::time::timeout(Duration::from_secs(5), get(address, "/metrics")).await.unwrap();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(body.contains("mspwatch_events_total 7"), "{body}");
        assert!(body.contains("mspwatch_rejects_total{reason=\"invalid_json\"} 1"), "{body}");
        assert!(
            body.contains("mspwatch_partition_lag_messages{topic=\"audit\",partition=\"2\"} 11"),
            "{body}"
        );
        let missing = get(address, "/other").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    }

    #[test]
    fn forgetting_a_partition_removes_its_series() {
        let mut registry = Registry::default();
        let metrics = IngestMetrics::register(&mut registry);
        let labels = PartitionLabels { topic: "audit".into(), partition: 0 };
        metrics.partition_lag.get_or_create(&labels).set(3);
        metrics.forget_partition(&labels);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(!text.contains("partition=\"0\""), "{text}");
    }
}
