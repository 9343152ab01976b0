//! gRPC delivery: streams alerts to SOC subscribers and serves the admin API, with access control.
//!
//! The alerts topic is the record. An [`AlertTopicReader`] feeds every alert version of every
//! partition into a bounded, in-memory [`AlertLog`]; the server ([`serve`], or
//! [`GrpcServer::bind`] then [`GrpcServer::serve`]) streams from that log to each subscriber at
//! the subscriber's own pace, answers look-ups from it, and forwards admin calls to an
//! [`AdminBackend`]. Every call but health and reflection needs a bearer token from the
//! [`TokenStore`], and sees only the MSPs the token is bound to. [`tail`] is the command-line
//! subscriber.

pub mod admin;
mod alerts;
pub mod auth;
pub mod config;
pub mod convert;
pub mod cursor;
mod error;
pub mod filter;
pub mod log;
pub mod reader;
mod server;
mod status;
pub mod tail;

/// Generated types and services of the `mspwatch.v1` gRPC contract.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("mspwatch.v1");

    /// The encoded file descriptor set that server reflection serves.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("mspwatch_v1_descriptor");
}

pub use admin::{AdminBackend, BaselineDocument, BaselineQuery, MspStats, RuleInfo, Stats};
pub use alerts::SubscriptionStream;
pub use auth::{generate_token, hash_token, Principal, Scope, Secret, TokenStore};
pub use config::{AlertReaderConfig, GrpcConfig};
pub use cursor::Cursor;
pub use error::DeliverError;
pub use log::AlertLog;
pub use reader::AlertTopicReader;
pub use server::{serve, GrpcServer};
pub use status::{cursor_of, CURSOR_METADATA_KEY};
