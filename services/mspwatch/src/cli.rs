//! Command-line arguments: the commands, their options, and parsers for times, durations and
//! sizes.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use clap::{Args, Parser, Subcommand, ValueEnum};
use mspwatch_alert::format::AlertFormat;
use mspwatch_engine::ByteSize;

/// Detects stolen MSP credentials used against backups, from audit logs.
#[derive(Debug, Parser)]
#[command(name = "mspwatch", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the live detector: consume audit topics from Kafka, write alerts to the alerts
    /// topic, and serve them over gRPC.
    Run(RunArgs),
    /// Replay audit-log files, or a time range of a Kafka topic, through the detector and print
    /// the alerts they raise.
    Replay(ReplayArgs),
    /// Check or test detection rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Follow alerts from a running detector.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Make bearer tokens and their hashes for the tokens file.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// Options of `mspwatch run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file (TOML); `MSPWATCH_<SECTION>_<FIELD>` variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

/// `mspwatch alerts ...`
#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Print alerts as they arrive, resuming from the last cursor after any interruption.
    Tail(TailArgs),
}

/// Options of `mspwatch alerts tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The detector's gRPC address: `http://host:port`, or `https://host:port` for TLS.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:50051")]
    pub endpoint: String,

    /// File holding the bearer token; otherwise the `MSPWATCH_TOKEN` environment variable.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// CA bundle (PEM) that signed the server's certificate; the system roots otherwise.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,

    /// Client certificate (PEM), for servers that require one.
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,

    /// Private key (PEM) of `--client-cert`.
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,

    /// Only alerts of this MSP (repeatable).
    #[arg(long = "msp", value_name = "ID")]
    pub msp_ids: Vec<String>,

    /// Only alerts touching this tenant (repeatable).
    #[arg(long = "tenant", value_name = "ID")]
    pub tenant_ids: Vec<String>,

    /// Only alerts at least this severe.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub min_severity: Option<SeverityArg>,

    /// Only alerts of this rule (repeatable).
    #[arg(long = "rule", value_name = "ID")]
    pub rule_ids: Vec<String>,

    /// Start after this cursor (printed by an earlier tail); from now when absent.
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,

    /// Keep the latest cursor in this file, and start from it when `--cursor` is absent.
    #[arg(long, value_name = "FILE")]
    pub cursor_file: Option<PathBuf>,

    /// Output format of each alert.
    #[arg(long, value_enum, default_value_t = FormatArg::Jsonl)]
    pub format: FormatArg,

    /// Stop after printing this many alerts.
    #[arg(long, value_name = "N")]
    pub max_alerts: Option<u64>,
}

/// Alert severities as the command line names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    /// Worth a look.
    Low,
    /// Worth a ticket.
    Medium,
    /// Worth a page during the day.
    High,
    /// Worth waking someone.
    Critical,
}

/// `mspwatch token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a new random token.
    New,
    /// Read a token from standard input and print its line for the tokens file.
    Hash,
}

/// `mspwatch rules ...`
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load the rules and their fixtures and report every error.
    Check(RulesCheckArgs),
    /// Run every fixture case through a fresh detector and compare the alerts.
    Test(RulesTestArgs),
}

/// Options of `mspwatch replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Files, directories (read recursively) or `-` for standard input.
    #[arg(required_unless_present = "brokers", conflicts_with = "brokers", value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Read from Kafka instead of files: bootstrap brokers, `host:port` (comma-separated).
    #[arg(long, value_name = "HOSTS", value_delimiter = ',')]
    pub brokers: Vec<String>,

    /// With `--brokers`: the topic to read.
    #[arg(long, value_name = "TOPIC", default_value = "mspwatch.audit", requires = "brokers")]
    pub topic: String,

    /// With `--brokers`: read every partition from its beginning instead of looking the start
    /// up by time (for producers whose message timestamps come from another clock).
    #[arg(long, requires = "brokers")]
    pub no_time_lookup: bool,

    /// With `--brokers`: give up when no message arrives for this long before the end.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        value_parser = parse_duration_ms,
        requires = "brokers"
    )]
    pub idle_timeout: i64,

    /// Directory of rule files.
    #[arg(long, value_name = "DIR", default_value = "rules")]
    pub rules: PathBuf,

    /// MSP directory (YAML): MSPs, their supplier tier, tenants and roles.
    #[arg(long, value_name = "FILE")]
    pub directory: Option<PathBuf>,

    /// Only events at or after this time (RFC 3339, a date, or epoch seconds or milliseconds).
    #[arg(long, value_name = "TIME", value_parser = parse_time_ms)]
    pub from: Option<i64>,

    /// Only events before this time (RFC 3339, a date, or epoch seconds or milliseconds).
    #[arg(long, value_name = "TIME", value_parser = parse_time_ms)]
    pub to: Option<i64>,

    /// Output format of the alerts.
    #[arg(long, value_enum, default_value_t = FormatArg::Jsonl)]
    pub format: FormatArg,

    /// Load learned baselines from this snapshot before the run.
    #[arg(long, value_name = "FILE")]
    pub baseline_in: Option<PathBuf>,

    /// Save the learned baselines to this snapshot after the run (files only: a Kafka replay
    /// keeps one detector per partition, as the live service does).
    #[arg(long, value_name = "FILE", conflicts_with = "brokers")]
    pub baseline_out: Option<PathBuf>,

    /// Write each rejected record to this file as a JSON line.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,

    /// How far behind the latest event time an event may arrive and still count.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration_ms)]
    pub lateness: i64,

    /// Longest stretch of event time replay holds in memory to evaluate files that overlap in
    /// time in event-time order; events further out of order count as too late.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration_ms)]
    pub max_reorder: i64,

    /// Most credentials (and per-rule groups) tracked before the least recently active go.
    #[arg(long, value_name = "N")]
    pub max_tracked: Option<usize>,

    /// Most memory the detector's state may take (e.g. 512MiB, at least 16MiB); past it, the
    /// least recently active entries are evicted, those seen only once first. With `--brokers`
    /// the partitions' detectors share it equally.
    #[arg(long, value_name = "BYTES", value_parser = parse_memory_limit)]
    pub memory_limit: Option<ByteSize>,

    /// Longest record (line) accepted; longer ones are rejected as `record_too_large`.
    #[arg(long, value_name = "BYTES", default_value = "16MiB", value_parser = parse_size)]
    pub max_record_bytes: usize,

    /// Largest whole-document file (JSON array or `{"Records": [...]}`) read into memory.
    #[arg(long, value_name = "BYTES", default_value = "256MiB", value_parser = parse_size)]
    pub max_document_bytes: usize,

    /// Gzip input: most times its decompressed bytes may outnumber its compressed bytes, once
    /// past 16 MiB; a source that expands more (a decompression bomb) stops with an error.
    #[arg(
        long,
        value_name = "RATIO",
        default_value_t = 200,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub max_gzip_ratio: u64,

    /// Gzip input: most bytes one source may decompress to; a source that decompresses to
    /// more stops with an error. No limit but the ratio when absent.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_decompressed_bytes: Option<usize>,

    /// Do not print the closing summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `mspwatch rules check`.
#[derive(Debug, Args)]
pub struct RulesCheckArgs {
    /// Directory of rule files.
    #[arg(value_name = "DIR", default_value = "rules")]
    pub dir: PathBuf,
}

/// Options of `mspwatch rules test`.
#[derive(Debug, Args)]
pub struct RulesTestArgs {
    /// Directory of rule files.
    #[arg(value_name = "DIR", default_value = "rules")]
    pub dir: PathBuf,

    /// MSP directory (YAML) the fixture events are attributed with.
    #[arg(long, value_name = "FILE")]
    pub directory: Option<PathBuf>,
}

/// The alert formats as the command line names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One JSON alert per line.
    Jsonl,
    /// One OCSF Detection Finding (class 2004) per line.
    Ocsf,
    /// A readable timeline per alert.
    Text,
}

impl From<FormatArg> for AlertFormat {
    fn from(format: FormatArg) -> AlertFormat {
        match format {
            FormatArg::Jsonl => AlertFormat::Jsonl,
            FormatArg::Ocsf => AlertFormat::Ocsf,
            FormatArg::Text => AlertFormat::Text,
        }
    }
}

/// Epoch values with at least this many digits are milliseconds, shorter ones seconds.
const EPOCH_MS_DIGITS: usize = 12;

/// Parses a time: RFC 3339 (a missing zone means UTC), a date (midnight UTC), or an epoch
/// number (seconds, or milliseconds when it has 12 digits or more); returns epoch milliseconds.
pub fn parse_time_ms(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        let number: i64 = text.parse().map_err(|_| format!("epoch time `{text}` is too large"))?;
        if text.len() >= EPOCH_MS_DIGITS {
            return Ok(number);
        }
        return number.checked_mul(1000).ok_or_else(|| format!("epoch time `{text}` is too large"));
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_millis());
    }
    for layout in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, layout) {
            return Ok(time.and_utc().timestamp_millis());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(midnight) = date.and_hms_opt(0, 0, 0) {
            return Ok(midnight.and_utc().timestamp_millis());
        }
    }
    Err(format!(
        "`{text}` is not a time (expected RFC 3339 like 2026-11-05T03:00:00Z, a date like \
         2026-11-05, or epoch seconds)"
    ))
}

/// Parses a duration such as `5m`, `90s`, `250ms`, `2h`, `1d` or `0` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text.find(|character: char| !character.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let invalid = || format!("`{text}` is not a duration (expected e.g. 5m, 90s, 250ms, 2h, 1d)");
    let number: i64 = digits.parse().map_err(|_| invalid())?;
    let unit_ms = match unit.trim() {
        "ms" => 1,
        "" if number == 0 => 1,
        "s" => 1000,
        "m" => 60 * 1000,
        "h" => 60 * 60 * 1000,
        "d" => 24 * 60 * 60 * 1000,
        _ => return Err(invalid()),
    };
    number.checked_mul(unit_ms).ok_or_else(|| format!("duration `{text}` is too long"))
}

/// The smallest `--memory-limit` accepted.
const MIN_MEMORY_LIMIT: u64 = 16 << 20;

/// Parses a memory limit: a size of at least 16 MiB.
pub fn parse_memory_limit(text: &str) -> Result<ByteSize, String> {
    let limit: ByteSize = text.parse().map_err(|error| format!("{error}"))?;
    if limit.bytes() < MIN_MEMORY_LIMIT {
        return Err(format!("a memory limit must be at least 16MiB, not {limit}"));
    }
    Ok(limit)
}

/// Parses a size in bytes such as `16MiB`, `4KiB`, `1GiB`, `512k` or `1048576`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text.find(|character: char| !character.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let invalid = || format!("`{text}` is not a size (expected e.g. 16MiB, 512KiB, 1048576)");
    let number: usize = digits.parse().map_err(|_| invalid())?;
    let multiplier: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(invalid()),
    };
    let bytes =
        number.checked_mul(multiplier).ok_or_else(|| format!("size `{text}` is too large"))?;
    if bytes == 0 {
        return Err("a size must be at least one byte".to_owned());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_accepted_form() {
        let expected = 1_793_848_202_000;
        assert_eq!(parse_time_ms("2026-11-05T03:10:02Z"), Ok(expected));
        assert_eq!(parse_time_ms("2026-11-05T04:10:02+01:00"), Ok(expected));
        assert_eq!(parse_time_ms("2026-11-05T03:10:02"), Ok(expected));
        assert_eq!(parse_time_ms("1793848202"), Ok(expected));
        assert_eq!(parse_time_ms("1793848202000"), Ok(expected));
        assert_eq!(parse_time_ms("2026-11-05"), Ok(1_793_836_800_000));
        assert!(parse_time_ms("yesterday").is_err());
        assert!(parse_time_ms("99999999999999999999999").is_err());
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration_ms("5m"), Ok(300_000));
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(parse_duration_ms("2h"), Ok(7_200_000));
        assert_eq!(parse_duration_ms("0"), Ok(0));
        assert!(parse_duration_ms("5").is_err(), "a unit is required except for zero");
        assert!(parse_duration_ms("-5m").is_err());
        assert!(parse_duration_ms("99999999999999999d").is_err());
    }

    #[test]
    fn memory_limits_parse_as_sizes_of_at_least_16_mib() {
        assert_eq!(parse_memory_limit("512MiB"), Ok(ByteSize(512 << 20)));
        assert_eq!(parse_memory_limit("16M"), Ok(ByteSize(16 << 20)));
        assert!(parse_memory_limit("1MiB").unwrap_err().contains("at least 16MiB"));
        assert!(parse_memory_limit("plenty").unwrap_err().contains("not a size"));
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
    }
}
