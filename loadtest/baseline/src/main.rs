//! `mspwatch-baseline`: the reference measurements mspwatch's benchmarks are set beside: the
//! raw parse rate of a file, a bare Kafka consumer, and bare produce-to-consume latency; and
//! the matching figures of a running `mspwatch run` (records taken in, alert latency).

mod alerts;
mod cpu;
mod kafka;
mod latency;
mod parse;
mod pingpong;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// The same allocator as the `mspwatch` binary, so allocation costs compare like for like.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Measures what mspwatch's figures are compared with.
#[derive(Debug, Parser)]
#[command(name = "mspwatch-baseline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Reads a JSON lines file and parses every line with serde_json; prints records/s.
    Parse {
        /// What each line is parsed into.
        #[arg(long, value_enum, default_value_t = parse::Target::Ignored)]
        into: parse::Target,
        /// The JSON lines file.
        file: PathBuf,
    },
    /// Loads every line of a JSON lines file into a topic, keyed by `msp_id`, in large batches.
    Produce {
        /// Bootstrap brokers.
        #[arg(long)]
        brokers: String,
        /// The topic (it must exist).
        #[arg(long)]
        topic: String,
        /// The JSON lines file.
        file: PathBuf,
    },
    /// Reads COUNT messages of a topic from its beginning in a fresh consumer group, with
    /// mspwatch's consumer settings, doing nothing with them; prints msgs/s.
    Consume {
        /// Bootstrap brokers.
        #[arg(long)]
        brokers: String,
        /// The topic.
        #[arg(long)]
        topic: String,
        /// Messages to read.
        #[arg(long)]
        count: u64,
        /// `max.partition.fetch.bytes` (mspwatch's `kafka.max_partition_fetch_bytes`).
        #[arg(long, default_value_t = 1_048_576)]
        max_partition_fetch_bytes: u32,
        /// More consumer properties, `key=value` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        properties: Vec<String>,
        /// Read through the async stream consumer, as mspwatch does, rather than by polling.
        #[arg(long)]
        stream: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
    },
    /// Polls a running `mspwatch run`'s metrics until it has taken in COUNT records; prints
    /// msgs/s.
    Watch {
        /// The `metrics.listen` address of the detector.
        #[arg(long)]
        metrics: SocketAddr,
        /// Records to wait for (events, skipped records and rejects together).
        #[arg(long)]
        count: u64,
        /// The detector's process id, to measure the CPU time it uses.
        #[arg(long)]
        pid: Option<u32>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
    },
    /// Produces timestamped messages open-loop at RATE and reads them back on the same broker;
    /// prints produce-to-consume latency percentiles.
    Pingpong {
        /// Bootstrap brokers.
        #[arg(long)]
        brokers: String,
        /// The topic pings are produced to (it must exist).
        #[arg(long)]
        topic: String,
        /// Copy pings to this topic with the alerts producer's settings and read them there
        /// (two hops, as an alert takes).
        #[arg(long)]
        relay_topic: Option<String>,
        /// Measured pings.
        #[arg(long, default_value_t = 2000)]
        count: u64,
        /// Pings per second.
        #[arg(long, default_value_t = 200.0)]
        rate: f64,
        /// Payload bytes per ping.
        #[arg(long, default_value_t = 400)]
        size: usize,
        /// `fetch.wait.max.ms` of the consumer that reads the pings back; by default 100, as
        /// mspwatch's audit consumer, or 10 with --relay-topic, as its alerts topic reader.
        #[arg(long)]
        fetch_wait_ms: Option<u32>,
        /// How the relay produces (by default as mspwatch's alerts producer).
        #[arg(long, value_enum, default_value_t = kafka::ProducerStyle::AlertsProducer)]
        relay_producer: kafka::ProducerStyle,
    },
    /// Produces attacks that trip `cross-tenant-backup-deletion` to a running `mspwatch run`,
    /// over optional background traffic, and times each alert's arrival over gRPC.
    AlertLatency {
        /// Bootstrap brokers.
        #[arg(long)]
        brokers: String,
        /// The detector's audit topic.
        #[arg(long)]
        topic: String,
        /// The detector's gRPC address.
        #[arg(long)]
        grpc: SocketAddr,
        /// A file holding a bearer token that may see the MSP.
        #[arg(long)]
        token_file: PathBuf,
        /// The MSP of every record.
        #[arg(long, default_value = "msp-bench")]
        msp: String,
        /// Measured attacks.
        #[arg(long, default_value_t = 20)]
        attacks: u64,
        /// Attacks first, not measured.
        #[arg(long, default_value_t = 1)]
        warmup: u64,
        /// Milliseconds between attacks.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Background records per second of the same MSP (0 for none).
        #[arg(long, default_value_t = 0.0)]
        background_rate: f64,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("mspwatch-baseline: {error:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let line = match cli.command {
        Command::Parse { into, file } => parse::parse_file(&file, into)?.to_string(),
        Command::Produce { brokers, topic, file } => {
            kafka::produce_file(&brokers, &topic, &file)?.to_string()
        }
        Command::Consume {
            brokers,
            topic,
            count,
            max_partition_fetch_bytes,
            properties,
            stream,
            timeout_secs,
        } => {
            let limit = Duration::from_secs(timeout_secs);
            let plan = kafka::ConsumePlan {
                brokers,
                topic,
                count,
                max_partition_fetch_bytes,
                properties,
                stream,
                limit,
            };
            kafka::consume_count(&plan)?.to_string()
        }
        Command::Watch { metrics, count, pid, timeout_secs } => {
            watch::watch(metrics, count, pid, Duration::from_secs(timeout_secs))?.to_string()
        }
        Command::Pingpong {
            brokers,
            topic,
            relay_topic,
            count,
            rate,
            size,
            fetch_wait_ms,
            relay_producer,
        } => {
            let fetch_wait_ms = fetch_wait_ms.unwrap_or(match relay_topic {
                Some(_) => kafka::ALERTS_FETCH_WAIT_MS,
                None => kafka::AUDIT_FETCH_WAIT_MS,
            });
            let plan = pingpong::PingpongPlan {
                brokers,
                topic,
                relay_topic,
                count,
                rate,
                size,
                fetch_wait_ms,
                relay_style: relay_producer,
            };
            format!("pingpong: {}", pingpong::pingpong(&plan)?)
        }
        Command::AlertLatency {
            brokers,
            topic,
            grpc,
            token_file,
            msp,
            attacks,
            warmup,
            interval_ms,
            background_rate,
        } => {
            let token = std::fs::read_to_string(&token_file)
                .with_context(|| format!("cannot read {}", token_file.display()))?;
            let plan = alerts::AlertPlan {
                brokers,
                topic,
                grpc,
                token: token.trim().to_owned(),
                msp_id: msp,
                attacks,
                warmup,
                interval: Duration::from_millis(interval_ms),
                background_rate,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            format!("alert-latency: {}", runtime.block_on(alerts::alert_latency(&plan))?)
        }
    };
    print_line(&line);
    Ok(())
}

/// Prints one line of results on standard output.
fn print_line(line: &str) {
    #[allow(clippy::print_stdout)]
    {
        println!("{line}");
    }
}
