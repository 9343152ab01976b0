//! The `mspwatch run` configuration file (TOML), its defaults, and `MSPWATCH_*` overrides.
//!
//! Every field can be set by an environment variable named `MSPWATCH_<SECTION>_<FIELD>` in
//! upper case (`kafka.brokers` is `MSPWATCH_KAFKA_BROKERS`). Lists are comma-separated,
//! durations are written as in the file (`5s`), and an empty value unsets an optional field.
//! The environment wins over the file; the file wins over the defaults.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The whole configuration of `mspwatch run`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Brokers, topics, consumer group and Kafka client limits.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// Rules, directory and detection limits.
    #[serde(default)]
    pub detector: DetectorConfig,
    /// The gRPC alert and admin service.
    #[serde(default)]
    pub grpc: GrpcSection,
    /// The Prometheus metrics endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Log format and level.
    #[serde(default)]
    pub log: LogConfig,
}

/// `[kafka]`: where audit events come from and where alerts and rejects go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port`.
    #[serde(default = "default_brokers")]
    pub brokers: Vec<String>,
    /// Topics carrying audit events, keyed by MSP id.
    #[serde(default = "default_audit_topics")]
    pub audit_topics: Vec<String>,
    /// Consumer group shared by every detector instance.
    #[serde(default = "default_consumer_group")]
    pub consumer_group: String,
    /// Topic every alert version is written to (the record the gRPC service serves from).
    #[serde(default = "default_alerts_topic")]
    pub alerts_topic: String,
    /// Topic rejected records are written to, with their source position and reason.
    #[serde(default = "default_dead_letter_topic")]
    pub dead_letter_topic: String,
    /// Client id reported to the brokers.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Where a consumer group with no committed offset starts: `earliest` or `latest`.
    #[serde(default)]
    pub start_from: StartFrom,
    /// Most prefetched message data held per consumer, in KiB (`queued.max.messages.kbytes`).
    #[serde(default = "default_queued_max_messages_kbytes")]
    pub queued_max_messages_kbytes: u32,
    /// Fewest messages the consumer tries to keep prefetched per partition
    /// (`queued.min.messages`).
    #[serde(default = "default_queued_min_messages")]
    pub queued_min_messages: u32,
    /// Most bytes one fetch response may carry (`fetch.max.bytes`).
    #[serde(default = "default_fetch_max_bytes")]
    pub fetch_max_bytes: u32,
    /// Most bytes one fetch returns per partition (`max.partition.fetch.bytes`).
    #[serde(default = "default_max_partition_fetch_bytes")]
    pub max_partition_fetch_bytes: u32,
    /// How often processed offsets whose alerts are durable are committed.
    #[serde(default = "default_commit_interval")]
    pub commit_interval: ConfigDuration,
    /// A partition with lag that makes no progress for this long is reported as stalled.
    #[serde(default = "default_stall_timeout")]
    pub stall_timeout: ConfigDuration,
    /// Consumer group session timeout (`session.timeout.ms`).
    #[serde(default = "default_session_timeout")]
    pub session_timeout: ConfigDuration,
    /// Longest a fetch of the audit topics waits at the broker for data
    /// (`fetch.wait.max.ms`): a bound on the latency a broker that holds fetches adds.
    #[serde(default = "default_fetch_wait")]
    pub fetch_wait: ConfigDuration,
    /// How long the producer tries to deliver one alert or dead letter before reporting
    /// failure and retrying it (`message.timeout.ms`).
    #[serde(default = "default_delivery_timeout")]
    pub delivery_timeout: ConfigDuration,
    /// How long a revocation or shutdown waits for pending deliveries before committing.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout: ConfigDuration,
    /// With no broker answering for this long, the detector reports itself unhealthy (gRPC
    /// health `NOT_SERVING`) until one answers again; the client keeps reconnecting meanwhile.
    #[serde(default = "default_unreachable_timeout")]
    pub unreachable_timeout: ConfigDuration,
    /// Largest payload copied into a dead letter; longer payloads are cut and marked.
    #[serde(default = "default_dead_letter_max_bytes")]
    pub dead_letter_max_bytes: u32,
    /// `security.protocol`: `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    #[serde(default = "default_security_protocol")]
    pub security_protocol: String,
    /// `sasl.mechanism` (`PLAIN`, `SCRAM-SHA-256`, ...), when SASL is used.
    #[serde(default)]
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    #[serde(default)]
    pub sasl_username: Option<String>,
    /// SASL password; never logged.
    #[serde(default)]
    pub sasl_password: Option<Secret>,
    /// CA certificate file for verifying brokers over TLS (`ssl.ca.location`).
    #[serde(default)]
    pub ssl_ca_location: Option<PathBuf>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: default_brokers(),
            audit_topics: default_audit_topics(),
            consumer_group: default_consumer_group(),
            alerts_topic: default_alerts_topic(),
            dead_letter_topic: default_dead_letter_topic(),
            client_id: default_client_id(),
            start_from: StartFrom::default(),
            queued_max_messages_kbytes: default_queued_max_messages_kbytes(),
            queued_min_messages: default_queued_min_messages(),
            fetch_max_bytes: default_fetch_max_bytes(),
            max_partition_fetch_bytes: default_max_partition_fetch_bytes(),
            commit_interval: default_commit_interval(),
            stall_timeout: default_stall_timeout(),
            session_timeout: default_session_timeout(),
            fetch_wait: default_fetch_wait(),
            delivery_timeout: default_delivery_timeout(),
            drain_timeout: default_drain_timeout(),
            unreachable_timeout: default_unreachable_timeout(),
            dead_letter_max_bytes: default_dead_letter_max_bytes(),
            security_protocol: default_security_protocol(),
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
        }
    }
}

/// Where a consumer group with no committed offset starts reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// The oldest retained event: nothing is skipped on first start.
    #[default]
    Earliest,
    /// Only events produced after the group first joined.
    Latest,
}

impl StartFrom {
    /// The `auto.offset.reset` value.
    pub fn as_str(self) -> &'static str {
        match self {
            StartFrom::Earliest => "earliest",
            StartFrom::Latest => "latest",
        }
    }
}

/// `[detector]`: rules, directory and the engine's limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// Directory of rule files.
    #[serde(default = "default_rules_dir")]
    pub rules_dir: PathBuf,
    /// The MSP directory (YAML); without it, events are attributed by their own `msp_id`.
    #[serde(default)]
    pub directory_file: Option<PathBuf>,
    /// How late an event may arrive, in event time, and still count.
    #[serde(default = "default_allowed_lateness")]
    pub allowed_lateness: ConfigDuration,
    /// How long, in event time, events wait to be put in order before evaluation; unset
    /// holds them for the whole allowed lateness. Held events are also evaluated whenever a
    /// partition goes quiet and before every commit.
    #[serde(default)]
    pub reorder_hold: Option<ConfigDuration>,
    /// How long an event id is remembered to drop repeats, in event time.
    #[serde(default = "default_dedupe_horizon")]
    pub dedupe_horizon: ConfigDuration,
    /// Most credentials and rule groups tracked per partition before the least recently
    /// active are evicted.
    #[serde(default = "default_max_tracked_keys")]
    pub max_tracked_keys: u64,
    /// Most memory the detectors' state may take (`512MiB`, `2GiB`), shared equally by the
    /// partitions assigned to this instance; past its share, a partition's detector evicts its
    /// least recently active entries (those seen once first). Unset, state is bounded by
    /// `max_tracked_keys` alone.
    #[serde(default)]
    pub memory_limit: Option<mspwatch_engine::ByteSize>,
    /// Where partition state checkpoints are kept (a subdirectory per consumer group); unset,
    /// no checkpoints are written and every assigned partition starts empty.
    #[serde(default)]
    pub checkpoint_dir: Option<PathBuf>,
    /// The least time between two checkpoints of one partition (partitions are also
    /// checkpointed when released: revoked, or at a stop).
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval: ConfigDuration,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            rules_dir: default_rules_dir(),
            directory_file: None,
            allowed_lateness: default_allowed_lateness(),
            reorder_hold: None,
            dedupe_horizon: default_dedupe_horizon(),
            max_tracked_keys: default_max_tracked_keys(),
            memory_limit: None,
            checkpoint_dir: None,
            checkpoint_interval: default_checkpoint_interval(),
        }
    }
}

impl DetectorConfig {
    /// The engine settings these values describe; other engine settings keep their defaults.
    pub fn engine_config(&self) -> mspwatch_engine::EngineConfig {
        mspwatch_engine::EngineConfig {
            allowed_lateness_ms: self.allowed_lateness.as_millis_i64(),
            reorder_hold_ms: self.reorder_hold.map(ConfigDuration::as_millis_i64),
            dedupe_horizon_ms: self.dedupe_horizon.as_millis_i64(),
            max_tracked_keys: usize::try_from(self.max_tracked_keys).unwrap_or(usize::MAX),
            memory_limit: self.memory_limit.map(mspwatch_engine::MemoryLimit::new),
            ..mspwatch_engine::EngineConfig::default()
        }
    }
}

/// `[grpc]`: the alert streaming and admin service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSection {
    /// Address the gRPC server listens on.
    #[serde(default = "default_grpc_listen")]
    pub listen: SocketAddr,
    /// Server certificate chain (PEM); TLS is on when this and `tls_key` are set.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// CA bundle (PEM) that client certificates must chain to; client certificates are
    /// required when set.
    #[serde(default)]
    pub tls_client_ca: Option<PathBuf>,
    /// File of hashed bearer tokens and the MSP ids each may see.
    #[serde(default)]
    pub tokens_file: Option<PathBuf>,
    /// How often a subscriber with nothing to receive gets a heartbeat.
    #[serde(default = "default_heartbeat")]
    pub heartbeat: ConfigDuration,
    /// Alerts buffered per subscriber, ready to send; more wait in the shared log.
    #[serde(default = "default_subscriber_buffer")]
    pub subscriber_buffer: u32,
    /// Serve without TLS on an address other than loopback.
    #[serde(default)]
    pub allow_plaintext_non_loopback: bool,
    /// With `tls_client_ca`: also admit TLS clients that present no certificate.
    #[serde(default)]
    pub client_cert_optional: bool,
    /// How long a subscriber may read nothing while alerts wait for it before it is ended
    /// with its cursor.
    #[serde(default = "default_grpc_stall_timeout")]
    pub stall_timeout: ConfigDuration,
    /// Most subscriptions streaming at once.
    #[serde(default = "default_max_subscribers")]
    pub max_subscribers: u32,
    /// Alert versions kept in memory for resuming and listing; the oldest are evicted.
    #[serde(default = "default_log_capacity")]
    pub log_capacity: u32,
    /// How long a shutdown waits for streams and calls to end before closing connections.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: ConfigDuration,
}

impl Default for GrpcSection {
    fn default() -> Self {
        GrpcSection {
            listen: default_grpc_listen(),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tokens_file: None,
            heartbeat: default_heartbeat(),
            subscriber_buffer: default_subscriber_buffer(),
            allow_plaintext_non_loopback: false,
            client_cert_optional: false,
            stall_timeout: default_grpc_stall_timeout(),
            max_subscribers: default_max_subscribers(),
            log_capacity: default_log_capacity(),
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Address `/metrics` is served on.
    #[serde(default = "default_metrics_listen")]
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true, listen: default_metrics_listen() }
    }
}

/// `[log]`: how logs are written to standard error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` for people, `json` for log collectors.
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter: a level (`info`) or per-module directives (`info,rdkafka=warn`).
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::default(), level: default_log_level() }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

fn default_brokers() -> Vec<String> {
    vec!["127.0.0.1:9092".to_owned()]
}
fn default_audit_topics() -> Vec<String> {
    vec!["mspwatch.audit".to_owned()]
}
fn default_consumer_group() -> String {
    "mspwatch-detector".to_owned()
}
fn default_alerts_topic() -> String {
    "mspwatch.alerts".to_owned()
}
fn default_dead_letter_topic() -> String {
    "mspwatch.dead-letters".to_owned()
}
fn default_client_id() -> String {
    "mspwatch".to_owned()
}
fn default_queued_max_messages_kbytes() -> u32 {
    64 * 1024
}
fn default_queued_min_messages() -> u32 {
    10_000
}
fn default_fetch_max_bytes() -> u32 {
    50 * 1024 * 1024
}
fn default_max_partition_fetch_bytes() -> u32 {
    1024 * 1024
}
fn default_commit_interval() -> ConfigDuration {
    ConfigDuration::from_secs(5)
}
fn default_stall_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(60)
}
fn default_session_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(45)
}
fn default_fetch_wait() -> ConfigDuration {
    ConfigDuration::from_millis(100)
}
fn default_delivery_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(30)
}
fn default_drain_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(10)
}
fn default_unreachable_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(15)
}
fn default_checkpoint_interval() -> ConfigDuration {
    ConfigDuration::from_secs(30)
}
fn default_dead_letter_max_bytes() -> u32 {
    900 * 1024
}
fn default_security_protocol() -> String {
    "plaintext".to_owned()
}
fn default_rules_dir() -> PathBuf {
    PathBuf::from("rules")
}
fn default_allowed_lateness() -> ConfigDuration {
    ConfigDuration::from_secs(5 * 60)
}
fn default_dedupe_horizon() -> ConfigDuration {
    ConfigDuration::from_secs(60 * 60)
}
/// The smallest `[detector] memory_limit` accepted.
const MIN_MEMORY_LIMIT: u64 = 16 << 20;

fn default_max_tracked_keys() -> u64 {
    1_000_000
}
fn default_grpc_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}
fn default_heartbeat() -> ConfigDuration {
    ConfigDuration::from_secs(5)
}
fn default_subscriber_buffer() -> u32 {
    1024
}
fn default_grpc_stall_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(30)
}
fn default_max_subscribers() -> u32 {
    1024
}
fn default_log_capacity() -> u32 {
    100_000
}
fn default_shutdown_grace() -> ConfigDuration {
    ConfigDuration::from_secs(10)
}
fn default_true() -> bool {
    true
}
fn default_metrics_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}
fn default_log_level() -> String {
    "info".to_owned()
}

/// A secret string (a password): compared and used, but printed and serialized as
/// `[redacted]`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for handing to the client library; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

/// A duration written as a number and a unit: `250ms`, `5s`, `2m`, `1h` or `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    /// A whole number of seconds.
    pub const fn from_secs(seconds: u64) -> ConfigDuration {
        ConfigDuration(Duration::from_secs(seconds))
    }

    /// A whole number of milliseconds.
    pub const fn from_millis(milliseconds: u64) -> ConfigDuration {
        ConfigDuration(Duration::from_millis(milliseconds))
    }

    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }

    /// Whole milliseconds, saturating.
    pub fn as_millis_i64(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }

    /// Parses `250ms`, `5s`, `2m`, `1h` or `1d`.
    pub fn parse(text: &str) -> Result<ConfigDuration, String> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: expected a number and a unit"))?;
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => {
                return Err(format!("invalid duration {text:?}: the unit must be ms, s, m, h or d"))
            }
        };
        let millis = number
            .checked_mul(millis_per_unit)
            .ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
        Ok(ConfigDuration(Duration::from_millis(millis)))
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis % 1000 != 0 {
            write!(f, "{millis}ms")
        } else {
            write!(f, "{}s", millis / 1000)
        }
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ConfigDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The first directive of a log filter that is a bare word but not a level: a filter would
/// read it as a module name and silence everything else, so a typo (`warning`) would turn
/// logging off without a word.
fn unknown_log_level(filter: &str) -> Option<&str> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    filter.split(',').map(str::trim).find(|directive| {
        !directive.is_empty()
            && !directive.contains(['=', '['])
            && !LEVELS.iter().any(|level| level.eq_ignore_ascii_case(directive))
    })
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the configuration's shape.
    #[error("{}:{line}:{column}: {}{message}", path.display(), key_prefix(key.as_deref()))]
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// The dotted key at that line (`kafka.brokers`), when there is one.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// An `MSPWATCH_*` variable names no field or holds a value of the wrong kind.
    #[error("environment variable {variable}: {message}")]
    Environment {
        /// The variable.
        variable: String,
        /// What is wrong.
        message: String,
    },
    /// Values that parse but cannot work together or at all.
    #[error("{source_name}: {key}: {message}")]
    Invalid {
        /// The file, or `defaults` when there was none.
        source_name: String,
        /// The dotted key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn key_prefix(key: Option<&str>) -> String {
    key.map(|key| format!("{key}: ")).unwrap_or_default()
}

/// What kind of TOML value an environment variable turns into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EnvKind {
    /// A string (also durations, paths and addresses).
    Text,
    /// A string that may be unset by an empty value.
    OptionalText,
    /// A comma-separated list of strings.
    List,
    /// An unsigned integer.
    Integer,
    /// `true` or `false`.
    Boolean,
}

/// Every field, by section, with the kind of value its environment variable holds.
const ENV_FIELDS: &[(&str, &str, EnvKind)] = &[
    ("kafka", "brokers", EnvKind::List),
    ("kafka", "audit_topics", EnvKind::List),
    ("kafka", "consumer_group", EnvKind::Text),
    ("kafka", "alerts_topic", EnvKind::Text),
    ("kafka", "dead_letter_topic", EnvKind::Text),
    ("kafka", "client_id", EnvKind::Text),
    ("kafka", "start_from", EnvKind::Text),
    ("kafka", "queued_max_messages_kbytes", EnvKind::Integer),
    ("kafka", "queued_min_messages", EnvKind::Integer),
    ("kafka", "fetch_max_bytes", EnvKind::Integer),
    ("kafka", "max_partition_fetch_bytes", EnvKind::Integer),
    ("kafka", "commit_interval", EnvKind::Text),
    ("kafka", "stall_timeout", EnvKind::Text),
    ("kafka", "session_timeout", EnvKind::Text),
    ("kafka", "fetch_wait", EnvKind::Text),
    ("kafka", "delivery_timeout", EnvKind::Text),
    ("kafka", "drain_timeout", EnvKind::Text),
    ("kafka", "unreachable_timeout", EnvKind::Text),
    ("kafka", "dead_letter_max_bytes", EnvKind::Integer),
    ("kafka", "security_protocol", EnvKind::Text),
    ("kafka", "sasl_mechanism", EnvKind::OptionalText),
    ("kafka", "sasl_username", EnvKind::OptionalText),
    ("kafka", "sasl_password", EnvKind::OptionalText),
    ("kafka", "ssl_ca_location", EnvKind::OptionalText),
    ("detector", "rules_dir", EnvKind::Text),
    ("detector", "directory_file", EnvKind::OptionalText),
    ("detector", "allowed_lateness", EnvKind::Text),
    ("detector", "reorder_hold", EnvKind::OptionalText),
    ("detector", "dedupe_horizon", EnvKind::Text),
    ("detector", "max_tracked_keys", EnvKind::Integer),
    ("detector", "memory_limit", EnvKind::OptionalText),
    ("detector", "checkpoint_dir", EnvKind::OptionalText),
    ("detector", "checkpoint_interval", EnvKind::Text),
    ("grpc", "listen", EnvKind::Text),
    ("grpc", "tls_cert", EnvKind::OptionalText),
    ("grpc", "tls_key", EnvKind::OptionalText),
    ("grpc", "tls_client_ca", EnvKind::OptionalText),
    ("grpc", "tokens_file", EnvKind::OptionalText),
    ("grpc", "heartbeat", EnvKind::Text),
    ("grpc", "subscriber_buffer", EnvKind::Integer),
    ("grpc", "allow_plaintext_non_loopback", EnvKind::Boolean),
    ("grpc", "client_cert_optional", EnvKind::Boolean),
    ("grpc", "stall_timeout", EnvKind::Text),
    ("grpc", "max_subscribers", EnvKind::Integer),
    ("grpc", "log_capacity", EnvKind::Integer),
    ("grpc", "shutdown_grace", EnvKind::Text),
    ("metrics", "enabled", EnvKind::Boolean),
    ("metrics", "listen", EnvKind::Text),
    ("log", "format", EnvKind::Text),
    ("log", "level", EnvKind::Text),
];

/// The prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "MSPWATCH_";

/// The environment variable that sets `section.field`.
pub fn env_var_name(section: &str, field: &str) -> String {
    format!("{ENV_PREFIX}{}_{}", section.to_ascii_uppercase(), field.to_ascii_uppercase())
}

impl Config {
    /// Reads `path` and applies the process's `MSPWATCH_*` environment variables.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_env(path, std::env::vars())
    }

    /// Reads `path` and applies `MSPWATCH_*` variables from `env` (for tests and embedding).
    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Config::from_toml(&text, path, env)
    }

    /// Parses configuration text; `path` only names it in errors.
    pub fn from_toml(
        text: &str,
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        // First pass on the text itself, so errors carry the file's line and key.
        let from_file: Config =
            toml::from_str(text).map_err(|error| file_error(text, path, &error))?;
        let overrides = environment_overrides(env)?;
        let config = if overrides.is_empty() {
            from_file
        } else {
            let file_table: toml::Table =
                toml::from_str(text).map_err(|error| file_error(text, path, &error))?;
            let mut table = file_table.clone();
            for (_, section, field, value) in &overrides {
                apply_override(&mut table, section, field, value.clone());
            }
            let merged = toml::Value::Table(table);
            merged.try_into().map_err(|error: toml::de::Error| {
                // Name the variables that fail on their own, when that can be told.
                let failing: Vec<&str> = overrides
                    .iter()
                    .filter(|(_, section, field, value)| {
                        let mut alone = file_table.clone();
                        apply_override(&mut alone, section, field, value.clone());
                        toml::Value::Table(alone).try_into::<Config>().is_err()
                    })
                    .map(|(variable, ..)| variable.as_str())
                    .collect();
                let named = if failing.is_empty() {
                    overrides.iter().map(|(variable, ..)| variable.as_str()).collect()
                } else {
                    failing
                };
                ConfigError::Environment {
                    variable: named.join(", "),
                    message: error.message().to_owned(),
                }
            })?
        };
        config.validate(&path.display().to_string())?;
        Ok(config)
    }

    /// Checks values that parse but cannot work; `source_name` names the origin in errors.
    pub fn validate(&self, source_name: &str) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, message: &str| ConfigError::Invalid {
            source_name: source_name.to_owned(),
            key,
            message: message.to_owned(),
        };
        let kafka = &self.kafka;
        if kafka.brokers.is_empty() || kafka.brokers.iter().any(|broker| broker.trim().is_empty()) {
            return Err(invalid("kafka.brokers", "must list at least one non-empty host:port"));
        }
        if kafka.audit_topics.is_empty() || kafka.audit_topics.iter().any(|t| t.trim().is_empty()) {
            return Err(invalid("kafka.audit_topics", "must list at least one non-empty topic"));
        }
        for (key, topic) in [
            ("kafka.alerts_topic", &kafka.alerts_topic),
            ("kafka.dead_letter_topic", &kafka.dead_letter_topic),
        ] {
            if topic.trim().is_empty() {
                return Err(invalid(key, "must not be empty"));
            }
            if kafka.audit_topics.contains(topic) {
                return Err(invalid(key, "must differ from every audit topic"));
            }
        }
        if kafka.alerts_topic == kafka.dead_letter_topic {
            return Err(invalid("kafka.dead_letter_topic", "must differ from the alerts topic"));
        }
        if kafka.consumer_group.trim().is_empty() {
            return Err(invalid("kafka.consumer_group", "must not be empty"));
        }
        if !(1..=2_097_151).contains(&kafka.queued_max_messages_kbytes) {
            return Err(invalid("kafka.queued_max_messages_kbytes", "must be 1 to 2097151"));
        }
        for (key, duration) in [
            ("kafka.commit_interval", kafka.commit_interval),
            ("kafka.stall_timeout", kafka.stall_timeout),
            ("kafka.session_timeout", kafka.session_timeout),
            ("kafka.fetch_wait", kafka.fetch_wait),
            ("kafka.delivery_timeout", kafka.delivery_timeout),
            ("kafka.unreachable_timeout", kafka.unreachable_timeout),
            ("detector.checkpoint_interval", self.detector.checkpoint_interval),
            ("grpc.heartbeat", self.grpc.heartbeat),
            ("grpc.stall_timeout", self.grpc.stall_timeout),
        ] {
            if duration.get().is_zero() {
                return Err(invalid(key, "must be longer than zero"));
            }
        }
        if let Some(word) = unknown_log_level(&self.log.level) {
            let message = format!(
                "`{word}` is not a level (trace, debug, info, warn, error, off); to show one \
                 module at every level write `{word}=trace`"
            );
            return Err(invalid("log.level", &message));
        }
        if self.grpc.tls_cert.is_some() != self.grpc.tls_key.is_some() {
            return Err(invalid("grpc.tls_cert", "tls_cert and tls_key must be set together"));
        }
        if self.grpc.tls_client_ca.is_some() && self.grpc.tls_cert.is_none() {
            return Err(invalid(
                "grpc.tls_client_ca",
                "client certificates need tls_cert and tls_key",
            ));
        }
        if self.grpc.subscriber_buffer == 0 {
            return Err(invalid("grpc.subscriber_buffer", "must be at least 1"));
        }
        if self.grpc.max_subscribers == 0 {
            return Err(invalid("grpc.max_subscribers", "must be at least 1"));
        }
        if self.grpc.log_capacity == 0 {
            return Err(invalid("grpc.log_capacity", "must be at least 1"));
        }
        if self.grpc.client_cert_optional && self.grpc.tls_client_ca.is_none() {
            return Err(invalid("grpc.client_cert_optional", "needs tls_client_ca"));
        }
        if self.detector.reorder_hold.is_some_and(|hold| hold > self.detector.allowed_lateness) {
            return Err(invalid("detector.reorder_hold", "must not exceed allowed_lateness"));
        }
        if self.detector.max_tracked_keys == 0 {
            return Err(invalid("detector.max_tracked_keys", "must be at least 1"));
        }
        if self.detector.memory_limit.is_some_and(|limit| limit.bytes() < MIN_MEMORY_LIMIT) {
            return Err(invalid("detector.memory_limit", "must be at least 16MiB"));
        }
        Ok(())
    }
}

type Override = (String, &'static str, &'static str, Option<toml::Value>);

/// The `MSPWATCH_<SECTION>_<FIELD>` variables in `env`, typed; `None` unsets a field.
fn environment_overrides(
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<Override>, ConfigError> {
    let mut by_name: BTreeMap<String, (&'static str, &'static str, EnvKind)> = BTreeMap::new();
    for &(section, field, kind) in ENV_FIELDS {
        by_name.insert(env_var_name(section, field), (section, field, kind));
    }
    let section_prefixes: Vec<String> = ["kafka", "detector", "grpc", "metrics", "log"]
        .iter()
        .map(|section| format!("{ENV_PREFIX}{}_", section.to_ascii_uppercase()))
        .collect();
    let mut overrides = Vec::new();
    for (variable, value) in env {
        let Some(&(section, field, kind)) = by_name.get(&variable) else {
            if section_prefixes.iter().any(|prefix| variable.starts_with(prefix.as_str())) {
                return Err(ConfigError::Environment {
                    variable,
                    message: "names no configuration field".to_owned(),
                });
            }
            continue;
        };
        let typed = env_value(kind, &value)
            .map_err(|message| ConfigError::Environment { variable: variable.clone(), message })?;
        overrides.push((variable, section, field, typed));
    }
    overrides.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(overrides)
}

fn env_value(kind: EnvKind, value: &str) -> Result<Option<toml::Value>, String> {
    let value = value.trim();
    Ok(Some(match kind {
        EnvKind::Text => toml::Value::String(value.to_owned()),
        EnvKind::OptionalText if value.is_empty() => return Ok(None),
        EnvKind::OptionalText => toml::Value::String(value.to_owned()),
        EnvKind::List => toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| toml::Value::String(item.to_owned()))
                .collect(),
        ),
        EnvKind::Integer => {
            let number: i64 = value.parse().map_err(|_| format!("{value:?} is not an integer"))?;
            toml::Value::Integer(number)
        }
        EnvKind::Boolean => match value {
            "true" | "1" => toml::Value::Boolean(true),
            "false" | "0" => toml::Value::Boolean(false),
            _ => return Err(format!("{value:?} is not true or false")),
        },
    }))
}

fn apply_override(table: &mut toml::Table, section: &str, field: &str, value: Option<toml::Value>) {
    let entry =
        table.entry(section.to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !entry.is_table() {
        // The file's own type error for this section is reported by the first pass.
        return;
    }
    if let toml::Value::Table(section_table) = entry {
        match value {
            Some(value) => {
                section_table.insert(field.to_owned(), value);
            }
            None => {
                section_table.remove(field);
            }
        }
    }
}

/// Turns a TOML error into one naming the file, line, column and dotted key.
fn file_error(text: &str, path: &Path, error: &toml::de::Error) -> ConfigError {
    let offset = error.span().map_or(0, |span| span.start).min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    let column = before.get(line_start..).map_or(1, |prefix| prefix.chars().count() + 1);
    ConfigError::File {
        path: path.to_owned(),
        line,
        column,
        key: key_at(text, line_start),
        message: error.message().to_owned(),
    }
}

/// The dotted key defined on the line starting at `line_start`, with its `[section]`.
fn key_at(text: &str, line_start: usize) -> Option<String> {
    let rest = text.get(line_start..)?;
    let line = rest.lines().next().unwrap_or("").trim();
    let section = text.get(..line_start)?.lines().rev().find_map(|line| {
        let line = line.trim();
        line.strip_prefix('[')?.strip_suffix(']').map(|name| name.trim().to_owned())
    });
    if let Some(name) = line.strip_prefix('[').and_then(|line| line.strip_suffix(']')) {
        return Some(name.trim().to_owned());
    }
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    Some(match section {
        Some(section) => format!("{section}.{key}"),
        None => key.to_owned(),
    })
}

#[cfg(test)]
mod tests;
