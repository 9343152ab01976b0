//! `generate`: writes a data set of events, ground truth and the MSP directory.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use mspwatch_loadtest::output::{write_data_set, OutputOptions};
use mspwatch_loadtest::TrafficStream;
use mspwatch_loadtest::{AttackPlan, Format, FormatChoice, GenerateConfig, ScenarioRequest};

use super::{format_choice, progress_bar, FormatArg, WorldArgs};

/// Arguments of `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    world: WorldArgs,
    /// Number of 24-hour days to generate.
    #[arg(long, default_value_t = 7)]
    days: u64,
    /// Start of the period (RFC 3339).
    #[arg(long, default_value = "2026-11-02T00:00:00Z")]
    start: String,
    /// Approximate number of events per day across all MSPs.
    #[arg(long, default_value_t = 20_000)]
    events_per_day: u64,
    /// Record format.
    #[arg(long, value_enum, default_value_t = FormatArg::Canonical)]
    format: FormatArg,
    /// Relative weights of canonical, CloudTrail and OCSF records for `--format mixed`.
    #[arg(long, default_value = "60,25,15", value_name = "C,T,O")]
    mix: String,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// A scenario to inject, as SCENARIO@TIME (repeatable); replaces the default plan.
    #[arg(long = "attack", value_name = "SCENARIO@TIME")]
    attacks: Vec<String>,
    /// Inject no scenario.
    #[arg(long, conflicts_with = "attacks")]
    no_attacks: bool,
    /// Write one file per UTC day (`events-YYYY-MM-DD.jsonl`).
    #[arg(long)]
    split_by_day: bool,
    /// Compress event files with gzip (`.jsonl.gz`).
    #[arg(long)]
    gzip: bool,
    /// Write exactly this many canonical records, as fast as possible, over as many days as
    /// it takes (scenarios only with --attack).
    #[arg(long, conflicts_with_all = ["days", "format", "split_by_day"])]
    count: Option<u64>,
    /// Share of records delivered twice.
    #[arg(long, default_value_t = 0.003)]
    duplicate_share: f64,
    /// Share of canonical and OCSF records written without `msp_id`.
    #[arg(long, default_value_t = 0.1)]
    omit_msp_share: f64,
}

fn config_from(args: &GenerateArgs) -> Result<GenerateConfig> {
    let start = chrono::DateTime::parse_from_rfc3339(&args.start)
        .with_context(|| format!("--start {:?} is not an RFC 3339 time", args.start))?;
    let formats = match args.count {
        Some(_) => FormatChoice::Single(Format::Canonical),
        None => format_choice(args.format, &args.mix)?,
    };
    let attacks = if args.no_attacks {
        AttackPlan::None
    } else if !args.attacks.is_empty() {
        let requests: Vec<ScenarioRequest> =
            args.attacks.iter().map(|text| text.parse()).collect::<Result<_, _>>()?;
        AttackPlan::Explicit(requests)
    } else if args.count.is_some() {
        AttackPlan::None
    } else {
        AttackPlan::Default
    };
    if !(0.0..=1.0).contains(&args.duplicate_share) || !(0.0..=1.0).contains(&args.omit_msp_share) {
        bail!("--duplicate-share and --omit-msp-share must lie between 0 and 1");
    }
    if args.events_per_day == 0 {
        bail!("--events-per-day must be positive");
    }
    Ok(GenerateConfig {
        seed: args.world.seed,
        world: args.world.world(),
        start_ms: start.timestamp_millis(),
        days: if args.count.is_some() { None } else { Some(args.days) },
        events_per_day: args.events_per_day,
        formats,
        attacks,
        omit_msp_share: args.omit_msp_share,
        duplicate_share: args.duplicate_share,
    })
}

/// Runs `generate`.
pub fn generate(args: GenerateArgs) -> Result<()> {
    let config = config_from(&args)?;
    let expected = args.count.unwrap_or(args.days.saturating_mul(args.events_per_day));
    let stream = TrafficStream::new(config).context("cannot plan the traffic")?;
    let options =
        OutputOptions { split_by_day: args.split_by_day, gzip: args.gzip, limit: args.count };
    let bar = progress_bar(
        expected,
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/~{len} records ({per_sec})",
    );
    let started = Instant::now();
    let summary =
        write_data_set(stream, &args.out, options, &mut |written| bar.set_position(written))
            .with_context(|| format!("cannot write the data set to {}", args.out.display()))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "wrote {} records ({} canonical, {} cloudtrail, {} ocsf, {} duplicates) in {} file(s) \
             and {} scenario(s) to {} in {seconds:.2}s",
            summary.records,
            summary.per_format[0],
            summary.per_format[1],
            summary.per_format[2],
            summary.duplicates,
            summary.files.len(),
            summary.scenarios,
            args.out.display()
        );
    }
    Ok(())
}
