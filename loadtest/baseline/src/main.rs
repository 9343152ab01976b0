//! `mspwatch-baseline`: the reference measurements mspwatch's benchmarks are set beside.

mod parse;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
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
    match cli.command {
        Command::Parse { into, file } => {
            let report = parse::parse_file(&file, into)?;
            print_line(&report.to_string());
        }
    }
    Ok(())
}

/// Prints one line of results on standard output.
fn print_line(line: &str) {
    #[allow(clippy::print_stdout)]
    {
        println!("{line}");
    }
}
