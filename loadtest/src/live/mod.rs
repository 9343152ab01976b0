//! The `run` mode: produces generated traffic to Kafka at a constant rate, open-loop, while
//! subscribing to the detector's alerts over gRPC and sampling the detector, and writes what
//! it saw to a directory for the report.
//!
//! World time runs faster than the wall clock: a world day lasts `day_length` of the run, so
//! every rule window, baseline hour and the detector's reorder hold keep their meaning in
//! world time while a run of a minute covers days of traffic (see docs/loadtest.md).

pub mod clock;
pub mod files;
pub mod plan;
mod produce;
mod sample;
mod subscribe;

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use crate::clock::rfc3339_seconds;
use crate::live::files::{
    write_run_info, FileError, RunInfo, RunOutcome, ALERTS_FILE, RUN_FILE, SAMPLES_FILE,
};
use crate::live::plan::{plan_run, PlanError, RunSettings};
use crate::output::{DIRECTORY_FILE, GROUND_TRUTH_FILE};

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// What to generate.
    pub settings: RunSettings,
    /// Bootstrap brokers.
    pub brokers: String,
    /// The audit topic.
    pub topic: String,
    /// The detector's gRPC endpoint, `http://host:port`; no alerts are collected without it.
    pub grpc: Option<String>,
    /// Bearer token for the gRPC calls.
    pub token: Option<String>,
    /// The detector's metrics page, `http://host:port/metrics`.
    pub metrics: Option<String>,
    /// The detector's process id, for CPU and memory.
    pub detector_pid: Option<u32>,
    /// How long to keep listening for alerts after the last send.
    pub grace: Duration,
    /// The run directory.
    pub out: PathBuf,
}

/// Live figures for a progress display; every field is updated as the run goes.
#[derive(Debug)]
pub struct RunStatus {
    /// Records to send.
    pub planned: AtomicU64,
    /// Records sent so far.
    pub sent: AtomicU64,
    /// Records acknowledged so far.
    pub acked: AtomicU64,
    /// Records failed so far.
    pub failed: AtomicU64,
    /// Records sent late so far.
    pub late: AtomicU64,
    /// Alert versions received so far.
    pub alerts: AtomicU64,
    /// The detector's latest consumer lag; `u64::MAX` until known.
    pub lag: AtomicU64,
    /// Set once the last record is sent: the run waits for late alerts.
    pub draining: AtomicBool,
    stop: AtomicBool,
}

impl Default for RunStatus {
    fn default() -> Self {
        RunStatus {
            planned: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            late: AtomicU64::new(0),
            alerts: AtomicU64::new(0),
            lag: AtomicU64::new(u64::MAX),
            draining: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        }
    }
}

impl RunStatus {
    /// Whether the run was told to stop early.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The run could not be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A run file failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// A file or thread could not be made.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// Kafka refused to start.
    #[error("kafka: {0}")]
    Kafka(String),
    /// The alert subscription could not start.
    #[error("cannot subscribe to alerts: {0}")]
    Subscribe(String),
    /// The directory could not be written.
    #[error("directory yaml: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// A worker ended without an answer.
    #[error("the {0} stopped unexpectedly")]
    Worker(&'static str),
}

/// Microseconds since `start`.
pub(crate) fn elapsed_us(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Runs the load test: plans, subscribes, sends, waits `grace` for the last alerts, and
/// writes the run files. `interrupt` completing ends the run early; the files are still
/// written. Must run inside a multi-threaded tokio runtime.
pub async fn run(
    options: RunOptions,
    status: Arc<RunStatus>,
    interrupt: impl Future<Output = ()> + Send + 'static,
) -> Result<RunInfo, RunError> {
    let dir = options.out.clone();
    let io_error = |path: PathBuf| move |source| RunError::Io { path, source };
    std::fs::create_dir_all(&dir).map_err(io_error(dir.clone()))?;
    let plan = plan_run(&options.settings)?;
    status.planned.store(options.settings.records, Ordering::Relaxed);
    write_plan_files(&dir, &plan)?;
    let started_at = chrono::Utc::now();
    let start = Instant::now();
    let mut info = run_info(&options, &plan, started_at);
    write_run_info(&dir.join(RUN_FILE), &info)?;

    let (stop_sender, stop) = watch::channel(false);
    let (interrupted_sender, mut interrupted) = watch::channel(false);
    let interrupt_task = tokio::spawn(async move {
        interrupt.await;
        let _ = interrupted_sender.send(true);
    });

    let subscriber = match &options.grpc {
        Some(endpoint) => {
            let subscribe_options = subscribe::SubscribeOptions {
                endpoint: endpoint.clone(),
                token: options.token.clone(),
                start,
                path: dir.join(ALERTS_FILE),
            };
            let (ready_sender, ready) = oneshot::channel();
            let task = tokio::spawn(subscribe::subscribe(
                subscribe_options,
                Arc::clone(&status),
                ready_sender,
                stop.clone(),
            ));
            match ready.await {
                Ok(Ok(())) => Some(task),
                Ok(Err(reason)) => return Err(RunError::Subscribe(reason)),
                Err(_) => return Err(RunError::Worker("alert subscriber")),
            }
        }
        None => None,
    };
    let sampler = tokio::spawn(sample::sample(
        sample::SampleOptions {
            metrics: options.metrics.as_deref().map(sample::metrics_address),
            topic: options.topic.clone(),
            pid: options.detector_pid,
            start,
            path: dir.join(SAMPLES_FILE),
        },
        Arc::clone(&status),
        stop.clone(),
    ));

    let (done_sender, mut done) = oneshot::channel();
    let producer_status = Arc::clone(&status);
    let producer_options = options.clone();
    let producer_dir = dir.clone();
    std::thread::Builder::new()
        .name("loadtest-send".into())
        .spawn(move || {
            let produce_options = produce::ProduceOptions {
                brokers: &producer_options.brokers,
                topic: &producer_options.topic,
                rate: producer_options.settings.rate,
                records: producer_options.settings.records,
                start,
                dir: &producer_dir,
            };
            let result = produce::produce(plan.stream, &produce_options, &producer_status);
            let _ = done_sender.send(result);
        })
        .map_err(io_error(PathBuf::from("sender thread")))?;

    let mut was_interrupted = false;
    let produced = tokio::select! {
        result = &mut done => result,
        _ = interrupted.wait_for(|stop| *stop) => {
            was_interrupted = true;
            status.stop.store(true, Ordering::Relaxed);
            done.await
        }
    };
    let produced = produced.map_err(|_| RunError::Worker("sender"))??;
    status.draining.store(true, Ordering::Relaxed);
    if !was_interrupted && options.grpc.is_some() {
        tokio::select! {
            () = tokio::time::sleep(options.grace) => {}
            _ = interrupted.wait_for(|stop| *stop) => was_interrupted = true,
        }
    }
    let _ = stop_sender.send(true);
    interrupt_task.abort();
    let subscribed = match subscriber {
        Some(task) => Some(task.await.map_err(|_| RunError::Worker("alert subscriber"))?),
        None => None,
    };
    let sampled = sampler.await.map_err(|_| RunError::Worker("sampler"))?;
    if let Err(error) = sampled {
        tracing::warn!(error = %error, "detector samples could not be written");
    }

    let ended = match (&produced.error, was_interrupted) {
        (Some(error), _) => format!("producer failed: {error}"),
        (None, true) => "interrupted".to_string(),
        (None, false) => "completed".to_string(),
    };
    let subscribed = subscribed.unwrap_or_default();
    info.outcome = Some(RunOutcome {
        ended,
        records_sent: produced.sent,
        records_acked: produced.acked,
        records_failed: produced.failed,
        late_sends: produced.late,
        send_lag_p99_us: produced.lag_p99_us,
        send_lag_max_us: produced.lag_max_us,
        first_send_us: produced.first_send_us,
        last_send_us: produced.last_send_us,
        last_scheduled_us: produced.last_scheduled_us,
        finished_us: elapsed_us(start),
        alert_versions: subscribed.versions,
        subscription_error: subscribed.error,
        resubscribes: subscribed.resubscribes,
        unreadable_alerts: subscribed.unreadable,
    });
    write_run_info(&dir.join(RUN_FILE), &info)?;
    Ok(info)
}

fn write_plan_files(dir: &std::path::Path, plan: &plan::RunPlan) -> Result<(), RunError> {
    let directory = dir.join(DIRECTORY_FILE);
    std::fs::write(&directory, plan.stream.world().directory_yaml()?)
        .map_err(|source| RunError::Io { path: directory, source })?;
    let mut truth = Vec::new();
    for line in plan.stream.ground_truth() {
        files::write_line(&mut truth, &line)
            .map_err(|source| RunError::Io { path: dir.join(GROUND_TRUTH_FILE), source })?;
    }
    let path = dir.join(GROUND_TRUTH_FILE);
    std::fs::write(&path, truth).map_err(|source| RunError::Io { path, source })
}

fn run_info(
    options: &RunOptions,
    plan: &plan::RunPlan,
    started_at: chrono::DateTime<chrono::Utc>,
) -> RunInfo {
    let settings = &options.settings;
    RunInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        brokers: options.brokers.clone(),
        topic: options.topic.clone(),
        grpc: options.grpc.clone(),
        metrics: options.metrics.clone(),
        detector_pid: options.detector_pid,
        seed: settings.seed,
        msps: settings.world.msps,
        rate: settings.rate,
        planned_records: settings.records,
        day_length_secs: settings.day_length_ms as f64 / 1_000.0,
        events_per_day: plan.events_per_day,
        world_start: rfc3339_seconds(settings.start_ms),
        world_end: rfc3339_seconds(plan.clock.time_at(settings.records)),
        grace_secs: options.grace.as_secs_f64(),
        scenarios: plan.scenarios.clone(),
        outcome: None,
    }
}
