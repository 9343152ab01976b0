//! `mspwatch-loadtest`: generates realistic MSP audit traffic with labelled attacks.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mspwatch_loadtest::output::{write_data_set, OutputOptions};
use mspwatch_loadtest::{
    AttackPlan, Format, FormatChoice, GenerateConfig, ScenarioRequest, TrafficStream, WorldConfig,
};

/// Generates MSP audit traffic for mspwatch and load-tests it.
#[derive(Debug, Parser)]
#[command(name = "mspwatch-loadtest", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes a data set: events, ground truth and the MSP directory.
    Generate(GenerateArgs),
}

/// Record formats on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// mspwatch's canonical schema.
    Canonical,
    /// CloudTrail records, one per line.
    Cloudtrail,
    /// OCSF API Activity records.
    Ocsf,
    /// Each record in a format drawn from `--mix`.
    Mixed,
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// Seed of every random choice: the same arguments and seed give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of MSPs.
    #[arg(long, default_value_t = 3)]
    msps: usize,
    /// Fewest tenants per MSP.
    #[arg(long, default_value_t = 12)]
    min_tenants: usize,
    /// Most tenants per MSP.
    #[arg(long, default_value_t = 30)]
    max_tenants: usize,
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

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Generate(args) => generate(args),
    }
}

fn parse_mix(text: &str) -> Result<FormatChoice> {
    let weights: Vec<f64> = text
        .split(',')
        .map(|part| part.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--mix {text:?} is not three numbers"))?;
    let [canonical, cloudtrail, ocsf] = weights[..] else {
        bail!("--mix {text:?} needs three weights: canonical, cloudtrail, ocsf");
    };
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || canonical + cloudtrail + ocsf <= 0.0 {
        bail!("--mix weights must be non-negative and not all zero");
    }
    Ok(FormatChoice::Mixed { canonical, cloudtrail, ocsf })
}

fn config_from(args: &GenerateArgs) -> Result<GenerateConfig> {
    let start = chrono::DateTime::parse_from_rfc3339(&args.start)
        .with_context(|| format!("--start {:?} is not an RFC 3339 time", args.start))?;
    let formats = match (args.count, args.format) {
        (Some(_), _) => FormatChoice::Single(Format::Canonical),
        (None, FormatArg::Canonical) => FormatChoice::Single(Format::Canonical),
        (None, FormatArg::Cloudtrail) => FormatChoice::Single(Format::Cloudtrail),
        (None, FormatArg::Ocsf) => FormatChoice::Single(Format::Ocsf),
        (None, FormatArg::Mixed) => parse_mix(&args.mix)?,
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
        seed: args.seed,
        world: WorldConfig {
            msps: args.msps,
            tenants: (args.min_tenants, args.max_tenants),
            ..WorldConfig::default()
        },
        start_ms: start.timestamp_millis(),
        days: if args.count.is_some() { None } else { Some(args.days) },
        events_per_day: args.events_per_day,
        formats,
        attacks,
        omit_msp_share: args.omit_msp_share,
        duplicate_share: args.duplicate_share,
    })
}

fn progress_bar(expected: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(expected), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/~{len} records ({per_sec})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

fn generate(args: GenerateArgs) -> Result<()> {
    let config = config_from(&args)?;
    let expected = args.count.unwrap_or(args.days.saturating_mul(args.events_per_day));
    let stream = TrafficStream::new(config).context("cannot plan the traffic")?;
    let options =
        OutputOptions { split_by_day: args.split_by_day, gzip: args.gzip, limit: args.count };
    let bar = progress_bar(expected);
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
