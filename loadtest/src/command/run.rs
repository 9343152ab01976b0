//! `run`, `report` and `directory`: a load run against a live detector, its report, and the
//! MSP directory the detector needs for the run's world.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::ProgressBar;
use mspwatch_loadtest::live::plan::{LiveAttacks, RunSettings};
use mspwatch_loadtest::live::{run, RunOptions, RunStatus};
use mspwatch_loadtest::report::{build_report, render_text, write_report};
use mspwatch_loadtest::{AttackPlan, GenerateConfig, ScenarioKind, TrafficStream};

use super::{format_choice, parse_duration, progress_bar, FormatArg, WorldArgs};

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Bootstrap brokers, comma-separated.
    #[arg(long, env = "MSPWATCH_BROKERS")]
    brokers: String,
    /// The audit topic the detector reads.
    #[arg(long, default_value = "mspwatch.audit")]
    topic: String,
    /// The detector's gRPC endpoint (`http://host:port`); without it no alerts are collected.
    #[arg(long, value_name = "URL")]
    grpc: Option<String>,
    /// Bearer token for the gRPC calls.
    #[arg(long, env = "MSPWATCH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding the bearer token (one line).
    #[arg(long, conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// The detector's metrics page (`http://host:port/metrics`), for consumer lag.
    #[arg(long, value_name = "URL")]
    metrics: Option<String>,
    /// The detector's process id, for its CPU time and resident memory.
    #[arg(long, value_name = "PID")]
    detector_pid: Option<u32>,
    /// Records per second, sent open-loop.
    #[arg(long, default_value_t = 1_000.0, value_name = "EV_PER_S")]
    rate: f64,
    /// How long to send.
    #[arg(long, default_value = "60s", value_parser = parse_duration, conflicts_with = "count")]
    duration: Duration,
    /// Records to send, instead of a duration.
    #[arg(long)]
    count: Option<u64>,
    /// How long to keep listening for alerts after the last send.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    grace: Duration,
    /// Wall-clock time per day of world time: world time runs 86400 s / DAY_LENGTH faster.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    day_length: Duration,
    /// The run directory.
    #[arg(long, default_value = "loadtest-run")]
    out: PathBuf,
    #[command(flatten)]
    world: WorldArgs,
    /// World time of the first record (RFC 3339); now when absent.
    #[arg(long)]
    start: Option<String>,
    /// Record format.
    #[arg(long, value_enum, default_value_t = FormatArg::Mixed)]
    format: FormatArg,
    /// Relative weights of canonical, CloudTrail and OCSF records for `--format mixed`.
    #[arg(long, default_value = "60,25,15", value_name = "C,T,O")]
    mix: String,
    /// A scenario to inject about OFFSET into the run, as SCENARIO@OFFSET (`fast-delete@25s`,
    /// repeatable); replaces the default plan of one of each after a world day.
    #[arg(long = "attack", value_name = "SCENARIO@OFFSET")]
    attacks: Vec<String>,
    /// Inject no scenario.
    #[arg(long, conflicts_with = "attacks")]
    no_attacks: bool,
    /// Share of records delivered twice.
    #[arg(long, default_value_t = 0.003)]
    duplicate_share: f64,
    /// Share of canonical and OCSF records written without `msp_id`.
    #[arg(long, default_value_t = 0.1)]
    omit_msp_share: f64,
}

/// Arguments of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory written by `run`.
    dir: PathBuf,
    /// Write the files without printing the table.
    #[arg(long)]
    quiet: bool,
}

/// Arguments of `directory`.
#[derive(Debug, Args)]
pub struct DirectoryArgs {
    #[command(flatten)]
    world: WorldArgs,
    /// Record format (`cloudtrail` alone makes every tenant a cloud account).
    #[arg(long, value_enum, default_value_t = FormatArg::Mixed)]
    format: FormatArg,
    /// The YAML file to write.
    #[arg(long)]
    out: PathBuf,
}

fn attack(text: &str) -> Result<(ScenarioKind, f64)> {
    let (name, offset) = text
        .split_once('@')
        .with_context(|| format!("--attack {text:?} is not SCENARIO@OFFSET"))?;
    let kind: ScenarioKind = name.trim().parse()?;
    let offset = parse_duration(offset).map_err(anyhow::Error::msg)?;
    Ok((kind, offset.as_secs_f64()))
}

fn settings(args: &RunArgs) -> Result<RunSettings> {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate must be a positive number");
    }
    if !(0.0..=1.0).contains(&args.duplicate_share) || !(0.0..=1.0).contains(&args.omit_msp_share) {
        bail!("--duplicate-share and --omit-msp-share must lie between 0 and 1");
    }
    let records = match args.count {
        Some(count) => count,
        None => (args.duration.as_secs_f64() * args.rate).round() as u64,
    };
    let start_ms = match &args.start {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .with_context(|| format!("--start {text:?} is not an RFC 3339 time"))?
            .timestamp_millis(),
        None => chrono::Utc::now().timestamp_millis() / 1_000 * 1_000,
    };
    let attacks = if args.no_attacks {
        LiveAttacks::None
    } else if args.attacks.is_empty() {
        LiveAttacks::Default
    } else {
        LiveAttacks::At(args.attacks.iter().map(|text| attack(text)).collect::<Result<_>>()?)
    };
    Ok(RunSettings {
        seed: args.world.seed,
        world: args.world.world(),
        formats: format_choice(args.format, &args.mix)?,
        start_ms,
        rate: args.rate,
        records,
        day_length_ms: u64::try_from(args.day_length.as_millis()).unwrap_or(u64::MAX),
        attacks,
        omit_msp_share: args.omit_msp_share,
        duplicate_share: args.duplicate_share,
    })
}

fn token(args: &RunArgs) -> Result<Option<String>> {
    match (&args.token, &args.token_file) {
        (Some(token), _) => Ok(Some(token.trim().to_string())),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?;
            Ok(Some(text.trim().to_string()))
        }
        (None, None) => Ok(None),
    }
}

/// Runs `run`, then the report; returns whether it was interrupted.
pub fn run_command(args: RunArgs) -> Result<bool> {
    let options = RunOptions {
        settings: settings(&args)?,
        brokers: args.brokers.clone(),
        topic: args.topic.clone(),
        grpc: args.grpc.clone(),
        token: token(&args)?,
        metrics: args.metrics.clone(),
        detector_pid: args.detector_pid,
        grace: args.grace,
        out: args.out.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let status = Arc::new(RunStatus::default());
    let bar = progress_bar(
        options.settings.records,
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} sent ({per_sec}) {msg}",
    );
    let finished = Arc::new(AtomicBool::new(false));
    let display = std::thread::spawn({
        let status = Arc::clone(&status);
        let finished = Arc::clone(&finished);
        let bar = bar.clone();
        move || show_progress(&status, &finished, &bar)
    });
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let result = runtime.block_on(run(options, Arc::clone(&status), interrupt));
    finished.store(true, Ordering::Relaxed);
    let _ = display.join();
    bar.finish_and_clear();
    let info = result.with_context(|| format!("load run into {} failed", args.out.display()))?;
    let interrupted = info.outcome.as_ref().is_some_and(|outcome| outcome.ended == "interrupted");
    report_command(ReportArgs { dir: args.out, quiet: false })?;
    Ok(interrupted)
}

/// Updates the bar until the run is over.
fn show_progress(status: &RunStatus, finished: &AtomicBool, bar: &ProgressBar) {
    while !finished.load(Ordering::Relaxed) {
        bar.set_position(status.sent.load(Ordering::Relaxed));
        let lag = match status.lag.load(Ordering::Relaxed) {
            u64::MAX => "-".to_string(),
            lag => lag.to_string(),
        };
        let phase =
            if status.draining.load(Ordering::Relaxed) { "waiting for alerts; " } else { "" };
        bar.set_message(format!(
            "{phase}alerts {}, lag {lag}, late {}",
            status.alerts.load(Ordering::Relaxed),
            status.late.load(Ordering::Relaxed),
        ));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `report`.
pub fn report_command(args: ReportArgs) -> Result<()> {
    let report = build_report(&args.dir)
        .with_context(|| format!("cannot read the run in {}", args.dir.display()))?;
    write_report(&args.dir, &report)
        .with_context(|| format!("cannot write the report into {}", args.dir.display()))?;
    if !args.quiet {
        #[allow(clippy::print_stdout, reason = "the table is the command's output")]
        {
            print!("{}", render_text(&report));
            println!("report: {}", args.dir.join("report.json").display());
        }
    }
    Ok(())
}

/// Runs `directory`.
pub fn directory_command(args: DirectoryArgs) -> Result<()> {
    let config = GenerateConfig {
        seed: args.world.seed,
        world: args.world.world(),
        formats: format_choice(args.format, "60,25,15")?,
        days: Some(1),
        attacks: AttackPlan::None,
        ..GenerateConfig::default()
    };
    let stream = TrafficStream::new(config).context("cannot build the world")?;
    let yaml = stream.world().directory_yaml().context("cannot write the directory")?;
    write_file(&args.out, yaml.as_bytes())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
