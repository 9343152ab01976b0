//! Normalized audit events, the decoders that turn vendor records into them, and the directory
//! of MSPs and tenants that attributes them.
//!
//! This crate does no I/O: decoders take bytes, the directory takes YAML text.

pub mod class;
pub mod decode;
pub mod directory;
mod event;
pub mod mapping;
pub mod time;

pub use class::ActionClass;
pub use directory::{Attribution, Directory, DirectoryError, Msp, SupplierTier};
pub use event::{Actor, ActorType, Event, Outcome, Resource, SourceFormat};
