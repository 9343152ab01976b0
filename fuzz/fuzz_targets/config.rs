//! Fuzzes the service configuration loader: no file text and no `MSPWATCH_*` variables may
//! panic, a refusal always names where it comes from, and a loaded configuration is valid.
//!
//! The input is the file text, optionally followed by a NUL byte and `NAME=value` lines that
//! are applied as environment variables.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mspwatch_ingest::config::{Config, ConfigError};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    let (text, env_text) = input.split_once('\0').unwrap_or((input, ""));
    let env: Vec<(String, String)> = env_text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    match Config::from_toml(text, Path::new("fuzz.toml"), env) {
        Ok(config) => {
            // Whatever loads passes its own validation and yields an engine configuration.
            assert!(config.validate("fuzz.toml").is_ok());
            let _engine = config.detector.engine_config();
        }
        Err(error) => {
            let message = error.to_string();
            assert!(!message.is_empty());
            match error {
                ConfigError::File { line, column, .. } => {
                    assert!(line >= 1 && column >= 1);
                    assert!(message.starts_with("fuzz.toml:"));
                }
                ConfigError::Environment { variable, .. } => assert!(!variable.is_empty()),
                _ => {}
            }
        }
    }
});
