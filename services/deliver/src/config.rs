//! Configuration of the gRPC server and of the alerts topic reader.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::{TokenFileError, TokenStore};
use crate::error::DeliverError;

/// The gRPC server: where it listens, how it secures connections, and its limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    /// Address and port to listen on; port 0 picks a free port.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// PEM certificate chain of the server; TLS is on when this and `tls_key_file` are set.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the server certificate.
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS).
    #[serde(default)]
    pub tls_client_ca_file: Option<PathBuf>,
    /// With `tls_client_ca_file`: also accept clients that present no certificate.
    #[serde(default)]
    pub client_cert_optional: bool,
    /// Serve plaintext on an address other computers can reach; off, plaintext is loopback-only.
    #[serde(default)]
    pub allow_plaintext_non_loopback: bool,
    /// File of hashed bearer tokens and their MSP scopes; without it every call is refused.
    #[serde(default)]
    pub tokens_file: Option<PathBuf>,
    /// Seconds without an alert after which a subscriber gets a heartbeat with its cursor.
    #[serde(default = "default_heartbeat_secs")]
    pub heartbeat_secs: u64,
    /// Alerts buffered per subscriber, ready to send; more wait in the log, not in memory.
    #[serde(default = "default_subscriber_buffer")]
    pub subscriber_buffer: usize,
    /// Seconds a subscriber may read nothing, while alerts wait for it, before it is ended.
    #[serde(default = "default_stall_secs")]
    pub stall_secs: u64,
    /// Most subscriptions streaming at once; more are refused with RESOURCE_EXHAUSTED.
    #[serde(default = "default_max_subscribers")]
    pub max_subscribers: usize,
    /// Alert versions kept in memory for resuming and listing; the oldest are evicted.
    #[serde(default = "default_log_capacity")]
    pub log_capacity: usize,
    /// Seconds a shutdown waits for streams and calls to end before closing connections.
    #[serde(default = "default_shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}

fn default_heartbeat_secs() -> u64 {
    5
}

fn default_subscriber_buffer() -> usize {
    1024
}

fn default_stall_secs() -> u64 {
    30
}

fn default_max_subscribers() -> usize {
    1024
}

fn default_log_capacity() -> usize {
    100_000
}

fn default_shutdown_grace_secs() -> u64 {
    10
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            listen: default_listen(),
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            client_cert_optional: false,
            allow_plaintext_non_loopback: false,
            tokens_file: None,
            heartbeat_secs: default_heartbeat_secs(),
            subscriber_buffer: default_subscriber_buffer(),
            stall_secs: default_stall_secs(),
            max_subscribers: default_max_subscribers(),
            log_capacity: default_log_capacity(),
            shutdown_grace_secs: default_shutdown_grace_secs(),
        }
    }
}

impl GrpcConfig {
    /// Checks the settings that do not need files: ranges, TLS pairs, and the plaintext rule.
    pub fn validate(&self) -> Result<(), DeliverError> {
        let config_error = |message: &str| Err(DeliverError::Config(message.to_owned()));
        if !(1..=3600).contains(&self.heartbeat_secs) {
            return config_error("heartbeat_secs must be between 1 and 3600");
        }
        if !(1..=1_000_000).contains(&self.subscriber_buffer) {
            return config_error("subscriber_buffer must be between 1 and 1000000");
        }
        if !(1..=86_400).contains(&self.stall_secs) {
            return config_error("stall_secs must be between 1 and 86400");
        }
        if self.max_subscribers == 0 {
            return config_error("max_subscribers must be at least 1");
        }
        if self.log_capacity == 0 {
            return config_error("log_capacity must be at least 1");
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return config_error("tls_cert_file and tls_key_file must be set together");
        }
        if self.tls_client_ca_file.is_some() && self.tls_cert_file.is_none() {
            return config_error("tls_client_ca_file needs tls_cert_file and tls_key_file");
        }
        let plaintext = self.tls_cert_file.is_none();
        if plaintext && !self.listen.ip().is_loopback() && !self.allow_plaintext_non_loopback {
            return Err(DeliverError::PlaintextNonLoopback(self.listen));
        }
        Ok(())
    }

    /// The heartbeat interval.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs)
    }

    /// The tokens of `tokens_file`; no tokens (every call refused) when it is not set.
    pub fn load_tokens(&self) -> Result<TokenStore, TokenFileError> {
        match &self.tokens_file {
            Some(path) => TokenStore::load(path),
            None => Ok(TokenStore::default()),
        }
    }

    /// How long a replaying subscriber may read nothing.
    pub fn stall(&self) -> Duration {
        Duration::from_secs(self.stall_secs)
    }

    /// The shutdown grace period.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// The alerts topic reader: which brokers and topic, and extra client settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertReaderConfig {
    /// Kafka bootstrap servers, `host:port` separated by commas.
    pub brokers: String,
    /// The alerts topic, which holds every alert version as JSON keyed by alert id.
    #[serde(default = "default_alerts_topic")]
    pub topic: String,
    /// Seconds between checks for partitions added to the topic.
    #[serde(default = "default_metadata_refresh_secs")]
    pub metadata_refresh_secs: u64,
    /// Extra librdkafka settings (for example `security.protocol`), passed through unchanged.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn default_alerts_topic() -> String {
    "mspwatch.alerts".to_owned()
}

fn default_metadata_refresh_secs() -> u64 {
    30
}

impl AlertReaderConfig {
    /// Settings for `brokers` and `topic`, with defaults for the rest.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> AlertReaderConfig {
        AlertReaderConfig {
            brokers: brokers.into(),
            topic: topic.into(),
            metadata_refresh_secs: default_metadata_refresh_secs(),
            properties: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_an_empty_table() {
        let config: GrpcConfig = toml::from_str("").unwrap();
        assert_eq!(config, GrpcConfig::default());
        assert!(config.validate().is_ok());
        assert!(config.load_tokens().is_ok_and(|tokens| tokens.is_empty()));
    }

    #[test]
    fn a_missing_tokens_file_is_an_error_not_an_empty_store() {
        let config = GrpcConfig {
            tokens_file: Some("/nonexistent/tokens.toml".into()),
            ..GrpcConfig::default()
        };
        assert!(matches!(config.load_tokens(), Err(TokenFileError::Read { .. })));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(toml::from_str::<GrpcConfig>("listen_addr = \"127.0.0.1:1\"").is_err());
    }

    #[test]
    fn plaintext_on_a_public_address_is_refused_unless_allowed() {
        let mut config: GrpcConfig = toml::from_str("listen = \"0.0.0.0:50051\"").unwrap();
        assert!(matches!(config.validate(), Err(DeliverError::PlaintextNonLoopback(_))));
        config.allow_plaintext_non_loopback = true;
        assert!(config.validate().is_ok());
        let ipv6_loopback: GrpcConfig = toml::from_str("listen = \"[::1]:50051\"").unwrap();
        assert!(ipv6_loopback.validate().is_ok());
    }

    #[test]
    fn half_a_tls_pair_is_refused() {
        let config = GrpcConfig { tls_cert_file: Some("cert.pem".into()), ..GrpcConfig::default() };
        assert!(matches!(config.validate(), Err(DeliverError::Config(_))));
        let config =
            GrpcConfig { tls_client_ca_file: Some("ca.pem".into()), ..GrpcConfig::default() };
        assert!(matches!(config.validate(), Err(DeliverError::Config(_))));
    }

    #[test]
    fn zero_limits_are_refused() {
        for config in [
            GrpcConfig { heartbeat_secs: 0, ..GrpcConfig::default() },
            GrpcConfig { subscriber_buffer: 0, ..GrpcConfig::default() },
            GrpcConfig { stall_secs: 0, ..GrpcConfig::default() },
            GrpcConfig { log_capacity: 0, ..GrpcConfig::default() },
            GrpcConfig { max_subscribers: 0, ..GrpcConfig::default() },
        ] {
            assert!(matches!(config.validate(), Err(DeliverError::Config(_))), "{config:?}");
        }
    }
}
