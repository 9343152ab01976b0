//! The mspwatch rule language: rule files in YAML, compiled into [`RuleSet`]s that the engine
//! evaluates.
//!
//! This crate reads files only in [`load`]; everything else works on text and events.

mod field;
mod model;

pub use field::{Field, Value, Values};
pub use model::*;
