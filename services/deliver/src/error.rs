//! Errors of the delivery crate that reach its callers (the binary and the tail command).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::auth::TokenFileError;
use crate::cursor::CursorError;

/// Why the gRPC server, the alert topic reader or the tail client could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The configuration is inconsistent or out of range.
    #[error("invalid grpc configuration: {0}")]
    Config(String),
    /// Plaintext gRPC was asked for on an address other computers can reach.
    #[error(
        "refusing to serve plaintext grpc on non-loopback address {0}: configure grpc.tls_cert and \
         grpc.tls_key, listen on a loopback address, or set allow_plaintext_non_loopback = true"
    )]
    PlaintextNonLoopback(SocketAddr),
    /// A file named by the configuration could not be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The tokens file is unusable.
    #[error(transparent)]
    Tokens(#[from] TokenFileError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The gRPC transport failed (TLS setup, serving, connecting).
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Server reflection could not be set up from the descriptor set.
    #[error("grpc reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// Kafka refused or failed a request.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The alerts topic does not exist or has no partitions.
    #[error("alerts topic `{0}` not found or has no partitions")]
    TopicNotFound(String),
    /// A cursor given on the command line or in a file is not a cursor.
    #[error("invalid cursor: {0}")]
    Cursor(#[from] CursorError),
    /// The server refused a request in a way a retry cannot fix.
    #[error("server refused the subscription ({code:?}): {message}")]
    Refused {
        /// The gRPC status code.
        code: tonic::Code,
        /// The server's message.
        message: String,
    },
    /// Writing alerts or the cursor file failed.
    #[error("cannot write output: {0}")]
    Output(io::Error),
}
