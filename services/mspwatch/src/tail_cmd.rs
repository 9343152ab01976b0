//! `mspwatch alerts tail` (a subscriber for people and scripts) and `mspwatch token new|hash`.

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Context as _};
use mspwatch_deliver::pb;
use mspwatch_deliver::tail::{run_until, TailOptions};
use mspwatch_deliver::{DeliverError, Secret};

use crate::cli::{SeverityArg, TailArgs, TokenCommand};
use crate::failure::Failure;
use crate::output;

/// The environment variable holding the bearer token when no `--token-file` is given.
pub const TOKEN_ENV: &str = "MSPWATCH_TOKEN";

/// Longest token accepted from a file or standard input, in bytes.
const MAX_TOKEN_BYTES: u64 = 4096;

/// Runs `mspwatch alerts tail` until the server refuses it, `--max-alerts` are printed, or
/// SIGINT or SIGTERM; reports the last cursor on standard error.
pub fn tail(args: &TailArgs) -> Result<ExitCode, Failure> {
    let token = match &args.token_file {
        Some(path) => read_token_file(path)?,
        None => std::env::var(TOKEN_ENV).map(|token| token.trim().to_owned()).map_err(|_| {
            Failure::config(format!("no token: pass --token-file or set {TOKEN_ENV}"))
        })?,
    };
    if token.is_empty() {
        return Err(Failure::config("the token is empty"));
    }
    let options = TailOptions {
        endpoint: args.endpoint.clone(),
        token: Secret::new(token),
        ca: args.ca.clone(),
        client_cert: args.client_cert.clone(),
        client_key: args.client_key.clone(),
        filter: pb::AlertFilter {
            msp_ids: args.msp_ids.clone(),
            tenant_ids: args.tenant_ids.clone(),
            min_severity: args.min_severity.map_or(pb::Severity::Unspecified, severity).into(),
            rule_ids: args.rule_ids.clone(),
        },
        cursor: args.cursor.clone(),
        cursor_file: args.cursor_file.clone(),
        format: args.format.into(),
        max_alerts: args.max_alerts,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Io)?;
    let outcome = runtime.block_on(run_until(options, io::stdout(), stop_signal()));
    match outcome {
        Ok(summary) => {
            let cursor = summary.cursor.as_deref().unwrap_or("none");
            let _ = writeln!(
                io::stderr().lock(),
                "tail: {} alert(s); resume with --cursor {cursor}",
                summary.alerts
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(DeliverError::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => {
            Ok(ExitCode::SUCCESS)
        }
        Err(error @ (DeliverError::Refused { .. } | DeliverError::Cursor(_))) => {
            Err(Failure::Config(anyhow!(error)))
        }
        Err(error @ (DeliverError::Config(_) | DeliverError::ReadFile { .. })) => {
            Err(Failure::Config(anyhow!(error)))
        }
        Err(error) => Err(Failure::Io(anyhow!(error))),
    }
}

/// Completes on SIGINT or SIGTERM (or at once, when the handlers cannot be installed).
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

fn severity(severity: SeverityArg) -> pb::Severity {
    match severity {
        SeverityArg::Low => pb::Severity::Low,
        SeverityArg::Medium => pb::Severity::Medium,
        SeverityArg::High => pb::Severity::High,
        SeverityArg::Critical => pb::Severity::Critical,
    }
}

/// Reads a token file: its text without the line break at its end.
fn read_token_file(path: &Path) -> Result<String, Failure> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_TOKEN_BYTES).read_to_string(&mut text))
        .with_context(|| format!("cannot read token file {}", path.display()))
        .map_err(Failure::Config)?;
    Ok(without_line_break(&text).to_owned())
}

/// Runs `mspwatch token new` or `mspwatch token hash`.
pub fn token(command: &TokenCommand) -> Result<ExitCode, Failure> {
    let text = match command {
        TokenCommand::New => {
            let token = mspwatch_deliver::generate_token()
                .map_err(|error| Failure::Io(anyhow!("cannot make a random token: {error}")))?;
            token.expose().to_owned()
        }
        TokenCommand::Hash => {
            let mut token = String::new();
            io::stdin()
                .lock()
                .take(MAX_TOKEN_BYTES)
                .read_to_string(&mut token)
                .context("cannot read the token from standard input")
                .map_err(Failure::Io)?;
            let token = without_line_break(&token);
            if token.is_empty() {
                return Err(Failure::config("no token on standard input"));
            }
            hash_line(token)
        }
    };
    output::line(text).map_err(|error| Failure::Io(anyhow!(error)))?;
    Ok(ExitCode::SUCCESS)
}

/// The tokens file line for `token`.
fn hash_line(token: &str) -> String {
    format!("sha256 = \"{}\"", mspwatch_deliver::hash_token(token))
}

/// `text` without one line break (`\n` or `\r\n`) at its end: files and pipes usually end
/// with one, and no token does.
fn without_line_break(text: &str) -> &str {
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.strip_suffix('\r').unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_line_is_the_sha256_of_the_token_without_its_line_break() {
        assert_eq!(without_line_break("secret\n"), "secret");
        assert_eq!(without_line_break("secret\r\n"), "secret");
        assert_eq!(without_line_break("sec ret "), "sec ret ");
        assert_eq!(
            hash_line("test"),
            "sha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\""
        );
    }
}
