//! Logs and the service's own metrics: the `tracing` subscriber of `mspwatch run`, and the
//! delivery and rule metrics served next to the ingestion ones.

use std::io::{self, IsTerminal};
use std::sync::Arc;
use std::time::Duration;

use mspwatch_deliver::AlertLog;
use mspwatch_ingest::config::{LogConfig, LogFormat};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

use super::admin::RuleMetrics;

/// How often the delivery gauges are refreshed from the alert log.
const REFRESH: Duration = Duration::from_secs(1);

/// Labels naming how something ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `ok` or `refused`.
    pub outcome: &'static str,
}

/// Starts logging to standard error in the configured format, at the configured level.
pub fn init_logging(config: &LogConfig) -> Result<(), String> {
    let filter = EnvFilter::try_new(&config.level)
        .map_err(|error| format!("log.level: invalid filter {:?}: {error}", config.level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal());
    let installed = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
    installed.map_err(|error| format!("cannot start logging: {error}"))
}

/// The delivery metrics: subscribers and the alert log, copied from the log's own counts.
#[derive(Clone, Default)]
pub struct DeliveryMetrics {
    subscribers: Gauge,
    subscribers_ended_slow: Counter,
    log_entries: Gauge,
    log_evicted: Counter,
    log_skipped: Counter,
    log_repeated: Counter,
}

impl DeliveryMetrics {
    /// Registers the delivery and rule metrics in `registry`.
    pub fn register(registry: &mut Registry) -> (DeliveryMetrics, RuleMetrics) {
        let delivery = DeliveryMetrics::default();
        registry.register(
            "mspwatch_grpc_subscribers",
            "Alert subscriptions streaming now",
            delivery.subscribers.clone(),
        );
        registry.register(
            "mspwatch_grpc_subscribers_ended_slow",
            "Subscriptions ended with their cursor because their client stopped reading",
            delivery.subscribers_ended_slow.clone(),
        );
        registry.register(
            "mspwatch_alert_log_entries",
            "Alert versions held in memory for subscribers and look-ups",
            delivery.log_entries.clone(),
        );
        registry.register(
            "mspwatch_alert_log_evicted",
            "Alert versions evicted from memory to stay within log_capacity",
            delivery.log_evicted.clone(),
        );
        registry.register(
            "mspwatch_alert_log_skipped_records",
            "Records of the alerts topic that were not alerts",
            delivery.log_skipped.clone(),
        );
        registry.register(
            "mspwatch_alert_log_repeated_versions",
            "Alert versions written again after a detector restart, served once",
            delivery.log_repeated.clone(),
        );
        let rules = RuleMetrics::default();
        registry.register("mspwatch_rules_loaded", "Rules in force", rules.rules_loaded.clone());
        registry.register(
            "mspwatch_rule_reloads",
            "Rule reloads by outcome",
            rules.reloads.clone(),
        );
        (delivery, rules)
    }

    /// Copies the log's counts into the metrics every second, until the task is dropped.
    pub async fn follow(self, log: Arc<AlertLog>) {
        let mut tick = tokio::time::interval(REFRESH);
        loop {
            tick.tick().await;
            let stats = log.stats();
            self.subscribers.set(i64::try_from(stats.subscribers).unwrap_or(i64::MAX));
            self.log_entries.set(i64::try_from(stats.entries).unwrap_or(i64::MAX));
            catch_up(&self.subscribers_ended_slow, stats.subscribers_ended_slow);
            catch_up(&self.log_evicted, stats.evicted);
            catch_up(&self.log_skipped, stats.skipped_records);
            catch_up(&self.log_repeated, stats.repeated_versions);
        }
    }
}

/// Raises `counter` to `total` (counters only go up).
fn catch_up(counter: &Counter, total: u64) {
    let behind = total.saturating_sub(counter.get());
    if behind > 0 {
        counter.inc_by(behind);
    }
}
