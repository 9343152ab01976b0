//! Broker reachability: whether any Kafka broker has answered lately, from the consumer's
//! statistics, as a gauge, a log line per change and a flag the service's health check follows.
//!
//! The client reconnects by itself with backoff (see `kafka::base_client_config`); this only
//! says whether it is connected, so an operator and a load balancer can tell.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::statistics::Statistics;
use tokio::sync::watch;

use crate::metrics::IngestMetrics;

/// Whether the brokers answer, as the consumer's statistics show it.
pub(crate) struct Reachability {
    /// When a broker was last seen connected (or when the pipeline started).
    last_up: Mutex<Instant>,
    /// When it is gone longer than this, the brokers count as unreachable.
    timeout: Duration,
    /// Since when the brokers are unreachable, while they are.
    down_since: Mutex<Option<Instant>>,
    reachable: watch::Sender<bool>,
}

impl Reachability {
    /// Reachable for now; unreachable after `timeout` with no broker connected.
    pub fn new(timeout: Duration) -> Reachability {
        Reachability {
            last_up: Mutex::new(Instant::now()),
            timeout,
            down_since: Mutex::new(None),
            reachable: watch::Sender::new(true),
        }
    }

    /// Follows whether the brokers are reachable.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.reachable.subscribe()
    }

    /// Whether the brokers have been reported unreachable (and not yet back).
    pub fn is_down(&self) -> bool {
        self.down_since.lock().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    /// Notes a statistics report: the brokers answer when any of them is connected.
    pub fn observe(&self, statistics: &Statistics) {
        let connected = statistics
            .brokers
            .values()
            .any(|broker| broker.source != "internal" && broker.state == "UP");
        if connected {
            *self.last_up.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        }
    }

    /// Updates the gauge and the flag; logs when reachability changes.
    pub fn check(&self, metrics: &IngestMetrics) {
        let silent = self.last_up.lock().unwrap_or_else(PoisonError::into_inner).elapsed();
        let reachable = silent < self.timeout;
        metrics.kafka_reachable.set(i64::from(reachable));
        let mut down_since = self.down_since.lock().unwrap_or_else(PoisonError::into_inner);
        match (reachable, *down_since) {
            (false, None) => {
                *down_since = Some(Instant::now() - silent);
                metrics.kafka_outages.inc();
                tracing::error!(
                    silent_secs = silent.as_secs(),
                    "no kafka broker answers; reporting unhealthy and reconnecting with backoff"
                );
                self.reachable.send_replace(false);
            }
            (true, Some(since)) => {
                *down_since = None;
                tracing::info!(
                    unreachable_secs = since.elapsed().as_secs_f64(),
                    "kafka brokers answer again; reporting healthy"
                );
                self.reachable.send_replace(true);
            }
            _ => {}
        }
    }
}
