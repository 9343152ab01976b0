//! `mspwatch-loadtest`: generates realistic MSP audit traffic with labelled attacks, and
//! load-tests a live detector with it.

mod command;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use command::generate::{generate, GenerateArgs};
use command::run::{
    directory_command, report_command, run_command, DirectoryArgs, ReportArgs, RunArgs,
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
    /// Sends generated traffic to Kafka at a constant rate while collecting the detector's
    /// alerts, then reports latency, recall and precision.
    Run(RunArgs),
    /// Writes the report of a run directory again, and prints it.
    Report(ReportArgs),
    /// Writes the MSP directory of a run's world, for the detector to load.
    Directory(DirectoryArgs),
}

fn main() -> Result<ExitCode> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    let cli = Cli::parse();
    match cli.command {
        Command::Generate(args) => generate(args)?,
        Command::Run(args) => {
            if run_command(args)? {
                return Ok(ExitCode::from(130));
            }
        }
        Command::Report(args) => report_command(args)?,
        Command::Directory(args) => directory_command(args)?,
    }
    Ok(ExitCode::SUCCESS)
}
