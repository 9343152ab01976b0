//! Why a command failed, and the exit code each kind of failure gives.

use std::fmt;
use std::process::ExitCode;

/// A failure that ends a command.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage, configuration or rules: exit code 2.
    Config(anyhow::Error),
    /// Input that could not be read or output that could not be written: exit code 1.
    Io(anyhow::Error),
}

impl Failure {
    /// A configuration failure with this message.
    pub fn config(message: impl Into<String>) -> Failure {
        Failure::Config(anyhow::Error::msg(message.into()))
    }

    /// The process exit code for the failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Config(_) => ExitCode::from(2),
            Failure::Io(_) => ExitCode::from(1),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Config(error) | Failure::Io(error) => write!(formatter, "{error:#}"),
        }
    }
}
