//! Command-line arguments shared by the subcommands, and their parsing.

pub mod generate;
pub mod run;

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mspwatch_loadtest::{Format, FormatChoice, WorldConfig};

/// Record formats on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// mspwatch's canonical schema.
    Canonical,
    /// CloudTrail records, one per line.
    Cloudtrail,
    /// OCSF API Activity records.
    Ocsf,
    /// Each record in a format drawn from `--mix`.
    Mixed,
}

/// The world's size and seed.
#[derive(Debug, Clone, Args)]
pub struct WorldArgs {
    /// Seed of every random choice: the same arguments and seed give the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of MSPs.
    #[arg(long, default_value_t = 3)]
    pub msps: usize,
    /// Fewest tenants per MSP.
    #[arg(long, default_value_t = 12)]
    pub min_tenants: usize,
    /// Most tenants per MSP.
    #[arg(long, default_value_t = 30)]
    pub max_tenants: usize,
}

impl WorldArgs {
    /// The world configuration these arguments ask for.
    pub fn world(&self) -> WorldConfig {
        WorldConfig {
            msps: self.msps,
            tenants: (self.min_tenants, self.max_tenants),
            ..WorldConfig::default()
        }
    }
}

/// Reads `--format` and `--mix` into the generator's format choice.
pub fn format_choice(format: FormatArg, mix: &str) -> Result<FormatChoice> {
    Ok(match format {
        FormatArg::Canonical => FormatChoice::Single(Format::Canonical),
        FormatArg::Cloudtrail => FormatChoice::Single(Format::Cloudtrail),
        FormatArg::Ocsf => FormatChoice::Single(Format::Ocsf),
        FormatArg::Mixed => parse_mix(mix)?,
    })
}

/// Reads `--mix C,T,O`.
pub fn parse_mix(text: &str) -> Result<FormatChoice> {
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

/// Reads a duration: a number and a unit (`ms`, `s`, `m`, `h`), or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 =
        number.parse().map_err(|_| format!("{text:?} is not a duration like 60s or 2m"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1_000.0,
        "m" | "min" => number * 60.0,
        "h" => number * 3_600.0,
        other => return Err(format!("unknown duration unit {other:?} (ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} is out of range"))
}

/// A progress bar on standard error, or a hidden one when standard error is not a terminal.
pub fn progress_bar(expected: u64, template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(expected), ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit_or_count_seconds() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5_400)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 fortnights").is_err());
        assert!(parse_duration("-3s").is_err());
    }
}
