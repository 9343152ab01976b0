//! The mspwatch rule language: rule files in YAML, compiled into [`RuleSet`]s that the engine
//! evaluates, and the fixture files that test them.
//!
//! This crate reads files only in [`load`] and [`load_fixtures`]; everything else works on
//! text and events. The language is described in `docs/rules.md`.

mod conditions;
mod error;
mod field;
mod filter;
mod fixture;
mod loader;
mod model;
mod read;
mod rule;
mod template;
pub mod units;
mod yaml;

pub use error::RuleError;
pub use field::{Field, Value, Values};
pub use filter::{class_bit, ALL_CLASSES};
pub use fixture::{
    check_coverage, check_fixtures, load_fixture_str, load_fixtures, Expect, FixtureCase,
    FixtureFile, MAX_CASE_EVENTS,
};
pub use loader::{load, load_sources, load_str};
pub use model::*;
pub use template::{TemplateError, PLACEHOLDERS};
