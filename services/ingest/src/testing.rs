//! Test support: a local Kafka-protocol broker (Tansu) on a free 127.0.0.1 port, per test.
//!
//! The broker binary comes from `MSPWATCH_TANSU`, or else from the cache that
//! `scripts/tansu.sh install` fills (`$MSPWATCH_CACHE_DIR/tansu-0.6.0/bin/tansu`, with
//! `MSPWATCH_CACHE_DIR` defaulting to `~/.cache/mspwatch`).
//! When the binary is missing, [`Broker::start_or_skip`] prints a notice and returns `None`
//! so the test can return early, unless `MSPWATCH_REQUIRE_BROKER=1`, in which case it panics.
//!
//! ```no_run
//! # fn demo() {
//! use mspwatch_ingest::testing::Broker;
//! let Some(broker) = Broker::start_or_skip() else { return };
//! broker.create_topic("audit", 2).unwrap();
//! let brokers = broker.address(); // "127.0.0.1:PORT"
//! # let _ = brokers;
//! # }
//! ```
#![allow(clippy::print_stderr, reason = "the skip notice is the point of this test helper")]

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The pinned broker version the cache directory is named after.
pub const TANSU_VERSION: &str = "0.6.0";

/// Runs `$0 "$@"` (the broker) and kills it when standard input reaches its end; exits when
/// the broker does.
/// (A background list reads `/dev/null` unless redirected, hence the copy of stdin on fd 3.)
const GUARD_SCRIPT: &str =
    r#"exec 3<&0; "$0" "$@" </dev/null & pid=$!; (read -r _ <&3; kill -9 "$pid") & wait "$pid""#;

/// How long a broker may take to answer on its port.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a test broker could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker binary is not installed.
    #[error("broker binary {0} not found; run scripts/tansu.sh install")]
    Missing(PathBuf),
    /// Spawning or talking to the broker process failed.
    #[error("broker process: {0}")]
    Io(#[from] std::io::Error),
    /// The broker exited or never answered on its port.
    #[error("broker did not start on {address} (log: {log})")]
    NotReady {
        /// The address it was asked to listen on.
        address: String,
        /// The broker's log file.
        log: PathBuf,
    },
    /// `tansu topic create` failed.
    #[error("creating topic {topic} failed: {detail}")]
    Topic {
        /// The topic.
        topic: String,
        /// The command's output.
        detail: String,
    },
}

/// Where the broker keeps its data.
#[derive(Debug, Clone, Default)]
pub enum Storage {
    /// In memory; gone when the broker stops.
    #[default]
    Memory,
    /// In a SQLite file that survives a broker restart.
    Sqlite(PathBuf),
}

/// A running broker, killed when dropped.
#[derive(Debug)]
pub struct Broker {
    binary: PathBuf,
    storage: Storage,
    port: u16,
    log: PathBuf,
    keep_log: bool,
    child: Option<Child>,
}

impl Broker {
    /// The broker binary: `MSPWATCH_TANSU`, or the cache that `scripts/tansu.sh install` fills.
    pub fn binary_path() -> PathBuf {
        if let Some(path) = std::env::var_os("MSPWATCH_TANSU") {
            return PathBuf::from(path);
        }
        let cache = match std::env::var_os("MSPWATCH_CACHE_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
                home.join(".cache").join("mspwatch")
            }
        };
        cache.join(format!("tansu-{TANSU_VERSION}")).join("bin").join("tansu")
    }

    /// Whether `MSPWATCH_REQUIRE_BROKER=1` asks tests to fail rather than skip.
    pub fn required() -> bool {
        std::env::var("MSPWATCH_REQUIRE_BROKER").is_ok_and(|value| value == "1")
    }

    /// Starts an in-memory broker on a free port.
    pub fn start() -> Result<Broker, BrokerError> {
        Broker::start_with(Storage::Memory)
    }

    /// Starts a broker with the given storage on a free port.
    pub fn start_with(storage: Storage) -> Result<Broker, BrokerError> {
        let binary = Broker::binary_path();
        if !binary.is_file() {
            return Err(BrokerError::Missing(binary));
        }
        let mut last_error = None;
        for _ in 0..5 {
            let port = free_port()?;
            let log = std::env::temp_dir().join(format!("mspwatch-tansu-{port}.log"));
            let mut broker = Broker {
                binary: binary.clone(),
                storage: storage.clone(),
                port,
                log,
                keep_log: false,
                child: None,
            };
            match broker.spawn() {
                Ok(()) => return Ok(broker),
                Err(error) => {
                    broker.keep_log = true;
                    last_error = Some(error);
                }
            }
        }
        Err(last_error
            .unwrap_or(BrokerError::NotReady { address: String::new(), log: PathBuf::new() }))
    }

    /// Starts an in-memory broker, or returns `None` after printing a notice when the binary
    /// is missing and `MSPWATCH_REQUIRE_BROKER` is not `1`.
    ///
    /// # Panics
    ///
    /// When the binary is missing and a broker is required, or when it fails to start.
    #[allow(clippy::panic, reason = "a test helper reports failure by panicking")]
    pub fn start_or_skip() -> Option<Broker> {
        match Broker::start() {
            Ok(broker) => Some(broker),
            Err(BrokerError::Missing(path)) if !Broker::required() => {
                eprintln!(
                    "SKIPPED: broker binary {} not found; run scripts/tansu.sh install \
                     (set MSPWATCH_REQUIRE_BROKER=1 to fail instead)",
                    path.display()
                );
                None
            }
            Err(error) => panic!("test broker: {error}"),
        }
    }

    /// The bootstrap address, `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Creates a topic with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), BrokerError> {
        let output = Command::new(&self.binary)
            .args(["topic", "create", topic, "--partitions", &partitions.to_string()])
            .args(["--broker", &format!("tcp://{}", self.address())])
            .stdin(Stdio::null())
            .output()?;
        if output.status.success() {
            return Ok(());
        }
        let detail = String::from_utf8_lossy(&output.stderr).into_owned();
        Err(BrokerError::Topic { topic: topic.to_owned(), detail })
    }

    /// Kills the broker process (as `kill -9` would) and waits for it.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // Closing the guard's standard input makes it kill the broker; it exits once the
        // broker is gone, so the port is free when this returns.
        drop(child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Kills the broker and starts it again on the same port with the same storage.
    pub fn restart(&mut self) -> Result<(), BrokerError> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> Result<(), BrokerError> {
        let address = self.address();
        let listener = format!("tcp://{address}");
        // The broker resolves a SQLite path against its working directory, even an absolute
        // one, so it runs in the file's directory and is given the bare file name.
        let (storage, directory) = match &self.storage {
            Storage::Memory => ("memory://tansu/".to_owned(), None),
            Storage::Sqlite(path) => {
                let name = path.file_name().map(|name| name.to_string_lossy().into_owned());
                let directory = path.parent().filter(|parent| !parent.as_os_str().is_empty());
                (format!("sqlite://{}", name.unwrap_or_default()), directory)
            }
        };
        let log = File::options().create(true).append(true).open(&self.log)?;
        // A small shell guard runs the broker and kills it (as `kill -9` would) when its
        // standard input closes: on drop, and also when the test process dies without
        // unwinding, so no broker outlives its test.
        let mut command = Command::new("sh");
        command.args(["-c", GUARD_SCRIPT]).arg(&self.binary);
        if let Some(directory) = directory {
            command.current_dir(directory);
        }
        let child = command
            .args(["broker", "--listener-url", &listener, "--advertised-listener-url", &listener])
            .args(["--storage-engine", &storage])
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), BrokerError> {
        let not_ready = BrokerError::NotReady { address: self.address(), log: self.log.clone() };
        let socket = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            let exited = match self.child.as_mut() {
                Some(child) => child.try_wait()?.is_some(),
                None => true,
            };
            if exited {
                self.child = None;
                return Err(not_ready);
            }
            if TcpStream::connect_timeout(&socket, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        Err(not_ready)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        // A failing test keeps the log for inspection; a passing one leaves nothing behind.
        if !self.keep_log && !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// A port nothing listens on right now (the broker may still lose a race for it; callers retry).
fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Reads `topic` (partitions `0..partitions`) from the beginning, without a group commit,
/// until `count` messages arrived or `limit` passed, then takes whatever else arrives within
/// half a second; tests use it to check what the detector wrote (alerts, dead letters).
pub fn read_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    count: usize,
    limit: Duration,
) -> Result<Vec<rdkafka::message::OwnedMessage>, rdkafka::error::KafkaError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "mspwatch-test-reader")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + limit;
    let mut messages = Vec::new();
    while messages.len() < count && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            messages.push(message.detach());
        }
    }
    // Anything produced with the last message is in by now.
    while let Some(Ok(message)) = consumer.poll(Duration::from_millis(500)) {
        messages.push(message.detach());
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_starts_creates_topics_and_stops_on_drop() {
        let Some(broker) = Broker::start_or_skip() else { return };
        let address = broker.address();
        broker.create_topic("support-check", 2).unwrap();
        let socket: SocketAddr = address.parse().unwrap();
        drop(broker);
        std::thread::sleep(Duration::from_millis(200));
        assert!(TcpStream::connect_timeout(&socket, Duration::from_millis(200)).is_err());
    }

    #[test]
    fn sqlite_broker_keeps_its_topics_across_a_restart() {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let directory = tempfile::tempdir().unwrap();
        let storage = Storage::Sqlite(directory.path().join("broker.db"));
        let mut broker = match Broker::start_with(storage) {
            Ok(broker) => broker,
            Err(BrokerError::Missing(_)) if !Broker::required() => return,
            Err(error) => panic!("{error}"),
        };
        broker.create_topic("kept", 3).unwrap();
        broker.restart().unwrap();
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", broker.address())
            .create()
            .unwrap();
        let metadata = consumer.fetch_metadata(Some("kept"), Duration::from_secs(10)).unwrap();
        let topic = metadata.topics().iter().find(|topic| topic.name() == "kept").unwrap();
        assert!(topic.error().is_none());
        assert_eq!(topic.partitions().len(), 3);
    }
}
