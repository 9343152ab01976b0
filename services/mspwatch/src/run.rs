//! `mspwatch run`: the live service. Consumes the audit topics with one engine per partition,
//! writes every alert version to the alerts topic, serves the alerts topic over gRPC, exports
//! metrics, reloads rules on SIGHUP, and drains on SIGTERM or SIGINT.

mod admin;
mod detector;
mod telemetry;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use mspwatch_deliver::{
    AdminBackend, AlertLog, AlertReaderConfig, AlertTopicReader, GrpcConfig, GrpcServer, TokenStore,
};
use mspwatch_event::Directory;
use mspwatch_ingest::config::{ConfigDuration, GrpcSection, KafkaConfig};
use mspwatch_ingest::{
    CheckpointStore, Checkpointing, CheckpointingSettings, Config, DetectorFactory, EngineFactory,
    IngestMetrics, IngestOptions, MetricsServer,
};
use mspwatch_rules::RuleSet;
use prometheus_client::registry::Registry;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cli::RunArgs;
use crate::failure::Failure;

use self::admin::{LiveAdmin, Pipeline};
use self::detector::{LiveEngine, LiveFactory};
use self::telemetry::DeliveryMetrics;

/// How often the main loop looks at the pipeline and the server.
const WATCH_PERIOD: Duration = Duration::from_millis(200);
/// How long the alert reader and the metrics endpoint get to stop.
const AUXILIARY_STOP: Duration = Duration::from_secs(2);

/// Runs `mspwatch run --config FILE` until a signal stops it.
pub fn run(args: &RunArgs) -> Result<ExitCode, Failure> {
    let config = Config::load(&args.config).map_err(|error| Failure::Config(anyhow!(error)))?;
    telemetry::init_logging(&config.log).map_err(Failure::config)?;
    let rules = admin::load_rule_set(&config.detector.rules_dir).map_err(|errors| {
        crate::output::rule_problems(&errors);
        let dir = config.detector.rules_dir.display();
        Failure::config(format!("{} error(s) in the rules under {dir}", errors.len()))
    })?;
    let directory = match &config.detector.directory_file {
        Some(path) => crate::replay::load_directory(path)?,
        None => Directory::default(),
    };
    let grpc = grpc_config(&config.grpc);
    grpc.validate().map_err(|error| Failure::Config(anyhow!(error)))?;
    let tokens = grpc.load_tokens().map_err(|error| Failure::Config(anyhow!(error)))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mspwatch")
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Io)?;
    runtime.block_on(serve(Setup { config, rules, directory, tokens, grpc }))
}

/// Everything loaded and checked before the service starts.
struct Setup {
    config: Config,
    rules: RuleSet,
    directory: Directory,
    tokens: TokenStore,
    grpc: GrpcConfig,
}

/// Why the service stopped.
enum Stop {
    /// SIGTERM or SIGINT: a normal stop.
    Signal(&'static str),
    /// The ingestion pipeline ended by itself.
    PipelineEnded,
    /// The gRPC server ended by itself.
    ServerEnded,
}

/// The signals the service reacts to, installed before it announces itself.
struct Signals {
    hangup: Signal,
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn install() -> Result<Signals, Failure> {
        let install = |kind: SignalKind| {
            signal(kind).context("cannot install a signal handler").map_err(Failure::Io)
        };
        Ok(Signals {
            hangup: install(SignalKind::hangup())?,
            terminate: install(SignalKind::terminate())?,
            interrupt: install(SignalKind::interrupt())?,
        })
    }
}

async fn serve(setup: Setup) -> Result<ExitCode, Failure> {
    let Setup { config, rules, directory, tokens, grpc } = setup;
    let mut signals = Signals::install()?;
    let mut registry = Registry::default();
    let ingest_metrics = IngestMetrics::register(&mut registry);
    let (delivery_metrics, rule_metrics) = DeliveryMetrics::register(&mut registry);

    let metrics_server = match config.metrics.enabled {
        true => Some(
            MetricsServer::bind(config.metrics.listen)
                .await
                .map_err(|error| Failure::Config(anyhow!(error)))?,
        ),
        false => None,
    };
    let grpc_server =
        GrpcServer::bind(grpc.clone()).await.map_err(|error| Failure::Config(anyhow!(error)))?;
    let log = Arc::new(AlertLog::new(grpc.log_capacity));
    let reader = AlertTopicReader::new(alert_reader_config(&config.kafka), Arc::clone(&log))
        .map_err(|error| Failure::Config(anyhow!(error)))?;

    let rule_count = rules.rules.len();
    let msp_count = directory.msps().len();
    let factory = EngineFactory::new(config.detector.engine_config(), rules.clone(), directory);
    let partitions =
        partition_factory(&config, LiveFactory(Arc::clone(&factory)), &ingest_metrics)?;
    let options = IngestOptions { metrics: ingest_metrics, on_alert_durable: None };
    let handle = mspwatch_ingest::start(&config.kafka, partitions, options)
        .map_err(|error| Failure::Config(anyhow!(error)))?;
    let grpc_server = grpc_server.follow_health(handle.brokers_reachable());
    let pipeline = Arc::new(Pipeline::new(handle));
    let admin = Arc::new(LiveAdmin::new(
        &config.detector.rules_dir,
        rules,
        factory,
        Arc::clone(&pipeline),
        rule_metrics,
    ));

    let grpc_address = grpc_server.local_addr();
    let metrics_address = metrics_server.as_ref().and_then(MetricsServer::local_addr);
    let (stop_server, server_stopped) = watch::channel(false);
    let (stop_others, others_stopped) = watch::channel(false);
    let server_backend: Arc<dyn AdminBackend> = Arc::clone(&admin) as Arc<dyn AdminBackend>;
    let mut server = tokio::spawn(grpc_server.serve(
        Arc::clone(&log),
        server_backend,
        tokens.clone(),
        stopped(server_stopped),
    ));
    let reader = tokio::spawn(reader.run(stopped(others_stopped.clone())));
    let metrics_task = metrics_server.map(|metrics_server| {
        tokio::spawn(metrics_server.serve(Arc::new(registry), stopped(others_stopped)))
    });
    let gauges = tokio::spawn(delivery_metrics.follow(Arc::clone(&log)));

    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        grpc_address = %grpc_address,
        grpc_tls = grpc.tls_cert_file.is_some(),
        metrics_address = metrics_address.map(|address| address.to_string()).unwrap_or_default(),
        brokers = %config.kafka.brokers.join(","),
        audit_topics = %config.kafka.audit_topics.join(","),
        alerts_topic = %config.kafka.alerts_topic,
        dead_letter_topic = %config.kafka.dead_letter_topic,
        group = %config.kafka.consumer_group,
        rules = rule_count,
        msps = msp_count,
        tokens = tokens.len(),
        "mspwatch started"
    );

    let stop = watch_until_stop(&mut signals, &pipeline, &mut server, &admin, &config, &tokens);
    let stop = stop.await;
    let shutdown = shutdown(stop, &pipeline, server, stop_server, reader, stop_others);
    tokio::pin!(shutdown);
    let code = tokio::select! {
        code = &mut shutdown => code,
        () = second_signal(&mut signals) => {
            tracing::error!("second signal while stopping: exiting now, uncommitted events \
                will be read again");
            ExitCode::from(1)
        }
    };
    gauges.abort();
    if let Some(task) = metrics_task {
        let _ = tokio::time::timeout(AUXILIARY_STOP, task).await;
    }
    Ok(code)
}

/// The factory of partition engines: with checkpoints when `detector.checkpoint_dir` is set
/// (its directory must be writable, or the start is refused).
fn partition_factory(
    config: &Config,
    engines: LiveFactory,
    metrics: &IngestMetrics,
) -> Result<Box<dyn DetectorFactory<LiveEngine>>, Failure> {
    let Some(root) = &config.detector.checkpoint_dir else {
        tracing::info!("no checkpoint_dir: partitions start empty when assigned");
        return Ok(Box::new(engines));
    };
    let store = CheckpointStore::open(root, &config.kafka.consumer_group)
        .map_err(|error| Failure::config(format!("detector.checkpoint_dir: {error}")))?;
    let interval = config.detector.checkpoint_interval.get();
    tracing::info!(
        directory = %store.directory().display(),
        interval_secs = interval.as_secs_f64(),
        "partition state checkpoints on"
    );
    let settings = CheckpointingSettings { interval };
    Ok(Box::new(Checkpointing::new(engines, store, settings, metrics.clone())))
}

/// Serves until a stop signal or until the pipeline or the server ends by itself; reloads
/// rules and tokens on SIGHUP meanwhile.
async fn watch_until_stop(
    signals: &mut Signals,
    pipeline: &Pipeline,
    server: &mut JoinHandle<Result<(), mspwatch_deliver::DeliverError>>,
    admin: &Arc<LiveAdmin>,
    config: &Config,
    tokens: &TokenStore,
) -> Stop {
    let mut watch = tokio::time::interval(WATCH_PERIOD);
    loop {
        tokio::select! {
            _ = signals.hangup.recv() => {
                tracing::info!("SIGHUP: reloading rules and tokens");
                reload_on_hangup(admin, config.grpc.tokens_file.as_deref(), tokens).await;
            }
            _ = signals.terminate.recv() => return Stop::Signal("SIGTERM"),
            _ = signals.interrupt.recv() => return Stop::Signal("SIGINT"),
            _ = watch.tick() => {
                if pipeline.is_finished() {
                    return Stop::PipelineEnded;
                }
                if server.is_finished() {
                    return Stop::ServerEnded;
                }
            }
        }
    }
}

/// Reloads the rules (kept when the new set is broken) and the tokens file (kept when
/// unreadable or invalid).
async fn reload_on_hangup(admin: &Arc<LiveAdmin>, tokens_file: Option<&Path>, tokens: &TokenStore) {
    let reloading = Arc::clone(admin);
    if let Err(error) = tokio::task::spawn_blocking(move || reloading.reload()).await {
        tracing::error!(error = %error, "rule reload failed");
    }
    let Some(path) = tokens_file else { return };
    match TokenStore::load(path) {
        Ok(fresh) => {
            tokens.replace(&fresh);
            tracing::info!(tokens = fresh.len(), "tokens reloaded");
        }
        Err(error) => {
            tracing::warn!(error = %error, "tokens reload refused; the tokens in force stay");
        }
    }
}

/// Stops in order: the pipeline first (it stops reading, waits for its alert writes, commits
/// and leaves the group), then the gRPC server (streams end with UNAVAILABLE and their
/// cursor), then the alert reader. Every step is bounded.
async fn shutdown(
    stop: Stop,
    pipeline: &Pipeline,
    server: JoinHandle<Result<(), mspwatch_deliver::DeliverError>>,
    stop_server: watch::Sender<bool>,
    reader: JoinHandle<Result<(), mspwatch_deliver::DeliverError>>,
    stop_others: watch::Sender<bool>,
) -> ExitCode {
    let mut failed = false;
    match stop {
        Stop::Signal(name) => tracing::info!(signal = name, "stopping"),
        Stop::PipelineEnded => {
            tracing::error!("the ingestion pipeline ended by itself; stopping");
            failed = true;
        }
        Stop::ServerEnded => {
            tracing::error!("the grpc server ended by itself; stopping");
            failed = true;
        }
    }
    if let Some(handle) = pipeline.take() {
        if let Err(error) = handle.shutdown().await {
            tracing::error!(error = %error, "ingestion stopped with an error");
            failed = true;
        }
    }
    let _ = stop_server.send(true);
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::error!(error = %error, "grpc server failed");
            failed = true;
        }
        Err(error) => {
            tracing::error!(error = %error, "grpc server task failed");
            failed = true;
        }
    }
    let _ = stop_others.send(true);
    match tokio::time::timeout(AUXILIARY_STOP, reader).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => tracing::warn!(error = %error, "alerts topic reader failed"),
        Ok(Err(error)) => tracing::warn!(error = %error, "alerts topic reader task failed"),
        Err(_) => tracing::warn!("alerts topic reader did not stop in time"),
    }
    tracing::info!(clean = !failed, "mspwatch stopped");
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Completes on a further SIGTERM or SIGINT.
async fn second_signal(signals: &mut Signals) {
    tokio::select! {
        _ = signals.terminate.recv() => {}
        _ = signals.interrupt.recv() => {}
    }
}

/// Completes once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// The gRPC server's settings from the `[grpc]` section.
fn grpc_config(section: &GrpcSection) -> GrpcConfig {
    GrpcConfig {
        listen: section.listen,
        tls_cert_file: section.tls_cert.clone(),
        tls_key_file: section.tls_key.clone(),
        tls_client_ca_file: section.tls_client_ca.clone(),
        client_cert_optional: section.client_cert_optional,
        allow_plaintext_non_loopback: section.allow_plaintext_non_loopback,
        tokens_file: section.tokens_file.clone(),
        heartbeat_secs: whole_seconds(section.heartbeat).max(1),
        subscriber_buffer: usize::try_from(section.subscriber_buffer).unwrap_or(usize::MAX),
        stall_secs: whole_seconds(section.stall_timeout).max(1),
        max_subscribers: usize::try_from(section.max_subscribers).unwrap_or(usize::MAX),
        log_capacity: usize::try_from(section.log_capacity).unwrap_or(usize::MAX),
        shutdown_grace_secs: whole_seconds(section.shutdown_grace),
    }
}

/// A duration in seconds, rounded up.
fn whole_seconds(duration: ConfigDuration) -> u64 {
    let duration = duration.get();
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// The alerts topic reader's settings: the same brokers and security as the rest of Kafka.
fn alert_reader_config(kafka: &KafkaConfig) -> AlertReaderConfig {
    let mut reader = AlertReaderConfig::new(kafka.brokers.join(","), &kafka.alerts_topic);
    let base = mspwatch_ingest::kafka::base_client_config(kafka);
    for (key, value) in base.config_map() {
        if key != "bootstrap.servers" && key != "client.id" {
            reader.properties.insert(key.to_string(), value.to_string());
        }
    }
    reader
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_durations_round_up_to_whole_seconds() {
        let section = GrpcSection {
            heartbeat: ConfigDuration(Duration::from_millis(1500)),
            stall_timeout: ConfigDuration(Duration::from_millis(200)),
            shutdown_grace: ConfigDuration(Duration::ZERO),
            ..GrpcSection::default()
        };
        let grpc = grpc_config(&section);
        assert_eq!((grpc.heartbeat_secs, grpc.stall_secs, grpc.shutdown_grace_secs), (2, 1, 0));
        assert!(grpc.validate().is_ok());
    }

    #[test]
    fn the_alert_reader_uses_the_kafka_security_settings() {
        let kafka = KafkaConfig {
            brokers: vec!["a:1".to_owned(), "b:2".to_owned()],
            security_protocol: "sasl_plaintext".to_owned(),
            sasl_mechanism: Some("PLAIN".to_owned()),
            ..KafkaConfig::default()
        };
        let reader = alert_reader_config(&kafka);
        assert_eq!(reader.brokers, "a:1,b:2");
        assert_eq!(reader.topic, "mspwatch.alerts");
        assert_eq!(
            reader.properties.get("security.protocol").map(String::as_str),
            Some("sasl_plaintext")
        );
        assert_eq!(reader.properties.get("sasl.mechanism").map(String::as_str), Some("PLAIN"));
        assert!(!reader.properties.contains_key("bootstrap.servers"));
    }
}
