//! The `mspwatch` command line: `run`, `replay`, `rules check|test`, `alerts tail` and
//! `token new|hash`.
//!
//! Exit codes: 0 when the command did its work (for `run`: stopped by a signal, cleanly), 1 when
//! input could not be read (or output written), a rule test failed, or the service failed, 2 for
//! bad usage, configuration, rules or credentials.

mod cli;
mod failure;
mod input;
mod output;
mod plan;
mod replay;
mod rules_cmd;
mod run;
mod tail_cmd;

use std::io;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{AlertsCommand, Cli, Command, RulesCommand};

/// mimalloc: the detector allocates a few small strings per event, and this allocator makes
/// that markedly cheaper than the system one (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The environment variable that sets the diagnostic log filter (`debug`, `mspwatch=trace`).
const LOG_ENV: &str = "MSPWATCH_LOG";

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `run` logs as its configuration says, once it has read it.
    if !matches!(cli.command, Command::Run(_)) {
        init_tracing();
    }
    let result = match &cli.command {
        Command::Run(args) => run::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Rules(RulesCommand::Check(args)) => rules_cmd::check(args),
        Command::Rules(RulesCommand::Test(args)) => rules_cmd::test(args),
        Command::Alerts(AlertsCommand::Tail(args)) => tail_cmd::tail(args),
        Command::Token(command) => tail_cmd::token(command),
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            output::error(&failure);
            failure.exit_code()
        }
    }
}

/// Diagnostics go to standard error, warnings and errors only unless `MSPWATCH_LOG` says more.
fn init_tracing() {
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .init();
}
