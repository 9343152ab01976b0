//! Support for the live tests: one local broker for the whole file, the `mspwatch` binary run
//! as a child process with its own topics, a producer of audit records, and gRPC clients.
#![allow(dead_code, reason = "each test uses a different subset")]
#![allow(clippy::unwrap_used, reason = "test helpers fail by panicking")]
#![allow(clippy::print_stderr, reason = "the detector's log is shown when a test fails")]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use mspwatch_deliver::pb;
use mspwatch_deliver::pb::admin_service_client::AdminServiceClient;
use mspwatch_deliver::pb::alert_service_client::AlertServiceClient;
use mspwatch_deliver::pb::subscribe_response::Event;
use mspwatch_ingest::testing::Broker;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientConfig;
use serde_json::Value;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status, Streaming};

/// A token for every MSP.
pub const GLOBAL: &str = "live-global-token-5e1f";
/// A token for msp-northwind only.
pub const NORTHWIND: &str = "live-northwind-token-93ab";
/// An MSP whose events the tests produce.
pub const NORTHWIND_MSP: &str = "msp-northwind";
/// Another MSP, outside the northwind token's scope.
pub const GLOBEX_MSP: &str = "msp-globex";
/// Partitions of each test's audit and alerts topics.
pub const PARTITIONS: i32 = 2;
/// The rule the attack below trips.
pub const DELETION_RULE: &str = "cross-tenant-backup-deletion";
/// How long a test waits for something that normally takes a second or two.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The broker every test of the file shares, with its own topics per test.
static BROKER: OnceLock<Option<Broker>> = OnceLock::new();
/// The tests run one at a time, so a latency measured by one is not another's load.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The broker and topics of one test; holds the file's test lock while alive.
pub struct Live {
    _turn: MutexGuard<'static, ()>,
    brokers: String,
    /// The test's name, prefixing its topics and group.
    pub name: String,
    /// A scratch directory for configuration, rules and tokens.
    pub dir: tempfile::TempDir,
    producer: FutureProducer,
}

impl Live {
    /// The broker and fresh topics for test `name`; `None` (after a notice) when no broker is
    /// installed and none is required.
    pub fn start(name: &str) -> Option<Live> {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let broker = BROKER.get_or_init(Broker::start_or_skip).as_ref()?;
        Some(Live::on_broker(turn, broker, name))
    }

    /// Fresh topics for test `name` on `broker`, holding the file's test lock.
    fn on_broker(turn: MutexGuard<'static, ()>, broker: &Broker, name: &str) -> Live {
        for (topic, partitions) in [("audit", PARTITIONS), ("alerts", PARTITIONS), ("dead", 1)] {
            broker.create_topic(&format!("{name}.{topic}"), partitions as u32).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        write_tokens_file(dir.path());
        copy_rules(&rules_dir(), &dir.path().join("rules"));
        let producer = ClientConfig::new()
            .set("bootstrap.servers", broker.address())
            .set("message.timeout.ms", "10000")
            .set("linger.ms", "0")
            .create()
            .unwrap();
        Live { _turn: turn, brokers: broker.address(), name: name.to_owned(), dir, producer }
    }

    /// `127.0.0.1:PORT` of the broker.
    pub fn brokers(&self) -> String {
        self.brokers.clone()
    }

    /// The audit topic.
    pub fn audit_topic(&self) -> String {
        format!("{}.audit", self.name)
    }

    /// The alerts topic.
    pub fn alerts_topic(&self) -> String {
        format!("{}.alerts", self.name)
    }

    /// The dead-letter topic.
    pub fn dead_letter_topic(&self) -> String {
        format!("{}.dead", self.name)
    }

    /// The live consumer group.
    pub fn group(&self) -> String {
        format!("{}.detector", self.name)
    }

    /// The rule directory the detector loads (a copy of the shipped rules).
    pub fn rules(&self) -> PathBuf {
        self.dir.path().join("rules")
    }

    /// Writes the detector's configuration; `extra` holds more `[section]` lines, and
    /// `kafka_extra` more lines for the `[kafka]` section.
    pub fn write_config(&self, kafka_extra: &str) -> PathBuf {
        let text = format!(
            "[kafka]\nbrokers = [\"{brokers}\"]\naudit_topics = [\"{audit}\"]\n\
             alerts_topic = \"{alerts}\"\ndead_letter_topic = \"{dead}\"\n\
             consumer_group = \"{group}\"\nsession_timeout = \"6s\"\ndrain_timeout = \"3s\"\n\
             delivery_timeout = \"5s\"\n{kafka_extra}\n\
             [detector]\nrules_dir = \"{rules}\"\n\
             [grpc]\nlisten = \"127.0.0.1:0\"\ntokens_file = \"{tokens}\"\nheartbeat = \"1s\"\n\
             shutdown_grace = \"2s\"\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n\
             [log]\nformat = \"json\"\nlevel = \"info,rdkafka=warn\"\n",
            brokers = self.brokers(),
            audit = self.audit_topic(),
            alerts = self.alerts_topic(),
            dead = self.dead_letter_topic(),
            group = self.group(),
            rules = self.rules().display(),
            tokens = self.dir.path().join("tokens.toml").display(),
        );
        let path = self.dir.path().join("mspwatch.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Starts `mspwatch run` with the default test configuration and waits until it is ready.
    pub fn detector(&self) -> Detector {
        self.detector_with("commit_interval = \"500ms\"")
    }

    /// Starts `mspwatch run` with more `[kafka]` settings and waits until it is ready.
    pub fn detector_with(&self, kafka_extra: &str) -> Detector {
        let config = self.write_config(kafka_extra);
        let detector = Detector::spawn(&config);
        detector.wait_ready();
        detector
    }

    /// Produces one audit record keyed by its MSP id; returns when the broker acknowledged it.
    pub async fn produce(&self, msp_id: &str, payload: &str) {
        let topic = self.audit_topic();
        let record = FutureRecord::to(&topic).key(msp_id).payload(payload);
        let delivery = self.producer.send(record, Duration::from_secs(10)).await;
        delivery.map_err(|(error, _)| error).unwrap();
    }

    /// Produces the records of an attack one after another.
    pub async fn produce_all(&self, msp_id: &str, records: &[String]) {
        for record in records {
            self.produce(msp_id, record).await;
        }
    }

    /// Every message of the dead-letter topic, waiting for at least `count`.
    pub fn dead_letters(&self, count: usize) -> Vec<OwnedMessage> {
        read_topic(&self.brokers(), &self.dead_letter_topic(), 1, count, PATIENCE)
    }

    /// Every message of the alerts topic, waiting for at least `count`.
    pub fn alert_records(&self, count: usize) -> Vec<OwnedMessage> {
        read_topic(&self.brokers(), &self.alerts_topic(), PARTITIONS, count, PATIENCE)
    }

    /// The live group's committed offsets of the audit partitions, added up (none counts 0).
    pub fn committed_total(&self) -> i64 {
        self.committed().iter().map(|offset| offset.max(&0)).sum()
    }

    /// The live group's committed offset of each audit partition (-1 when none).
    pub fn committed(&self) -> Vec<i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("group.id", self.group())
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let topic = self.audit_topic();
        let mut list = TopicPartitionList::new();
        for partition in 0..PARTITIONS {
            list.add_partition(&topic, partition);
        }
        let answer = consumer.committed_offsets(list, Duration::from_secs(10)).unwrap();
        (0..PARTITIONS)
            .map(|partition| match answer.find_partition(&topic, partition).map(|e| e.offset()) {
                Some(Offset::Offset(offset)) => offset,
                _ => -1,
            })
            .collect()
    }
}

/// Reads `topic` from the beginning until `count` messages arrived or `limit` passed.
fn read_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    count: usize,
    limit: Duration,
) -> Vec<OwnedMessage> {
    mspwatch_ingest::testing::read_topic(brokers, topic, partitions, count, limit).unwrap()
}

/// The value of header `key` of `message`.
pub fn header(message: &OwnedMessage, key: &str) -> Option<String> {
    message
        .headers()?
        .iter()
        .find(|header| header.key == key)
        .and_then(|header| header.value)
        .map(|value| String::from_utf8_lossy(value).into_owned())
}

/// A running `mspwatch run`, killed (as `kill -9` would) when dropped.
pub struct Detector {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    /// Where the gRPC server listens.
    pub grpc: SocketAddr,
    /// Where `/metrics` is served.
    pub metrics: SocketAddr,
}

impl Detector {
    fn spawn(config: &Path) -> Detector {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mspwatch"))
            .args(["run", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mspwatch run starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let collected = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("MSPWATCH_TEST_LOGS").is_some() {
                    eprintln!("detector: {line}");
                }
                collected.lock().unwrap_or_else(PoisonError::into_inner).push(line);
            }
        });
        let placeholder = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut detector =
            Detector { child: Some(child), lines, grpc: placeholder, metrics: placeholder };
        let started = detector.wait_log("mspwatch started", PATIENCE);
        detector.grpc = started["grpc_address"].as_str().unwrap().parse().unwrap();
        detector.metrics = started["metrics_address"].as_str().unwrap().parse().unwrap();
        detector
    }

    /// Waits until the audit partitions are assigned and the alerts topic is being read.
    fn wait_ready(&self) {
        self.wait_log("reading alerts partitions", PATIENCE);
        let deadline = Instant::now() + PATIENCE;
        while self.count_log("partition assigned") < PARTITIONS as usize {
            assert!(Instant::now() < deadline, "partitions not assigned:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Log lines so far, parsed.
    pub fn log(&self) -> Vec<Value> {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines.iter().filter_map(|line| serde_json::from_str(line).ok()).collect()
    }

    /// Log lines so far, as written.
    pub fn log_text(&self) -> String {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner).join("\n")
    }

    /// How many log lines have this message.
    pub fn count_log(&self, message: &str) -> usize {
        self.log().iter().filter(|line| line["message"] == message).count()
    }

    /// Waits for a log line with this message and returns it.
    pub fn wait_log(&self, message: &str, limit: Duration) -> Value {
        self.wait_log_count(message, 1, limit)
    }

    /// Waits for the `count`th log line with this message and returns it.
    pub fn wait_log_count(&self, message: &str, count: usize, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let found: Vec<Value> =
                self.log().into_iter().filter(|line| line["message"] == message).collect();
            if found.len() >= count {
                return found.into_iter().nth(count - 1).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "no log line {message:?} (#{count}) within {limit:?}:\n{}",
                self.log_text()
            );
            assert!(self.is_running(), "the detector exited:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&self) -> bool {
        let Some(child) = &self.child else { return false };
        let pid = child.id().to_string();
        Command::new("kill").args(["-0", &pid]).status().is_ok_and(|status| status.success())
            && !self.exited_already()
    }

    fn exited_already(&self) -> bool {
        // `kill -0` succeeds on a zombie; a zombie's /proc state is `Z`.
        let Some(child) = &self.child else { return true };
        std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
            .map(|stat| stat.split(") ").nth(1).is_some_and(|rest| rest.starts_with('Z')))
            .unwrap_or(true)
    }

    /// Sends a signal (`TERM`, `HUP`, `INT`) by name.
    pub fn signal(&self, name: &str) {
        let child = self.child.as_ref().unwrap();
        let status =
            Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status();
        assert!(status.unwrap().success(), "kill -{name} failed");
    }

    /// Waits for the process to exit, at most `limit`; returns its status.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(Instant::now() < deadline, "did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process as `kill -9` does.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until `GET /metrics` has a line `expected`; returns the whole text.
    pub fn wait_metric(&self, expected: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = self.metrics_text();
            if text.lines().any(|line| line == expected) {
                return text;
            }
            assert!(Instant::now() < deadline, "no metric line {expected:?} in:\n{text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET /metrics`.
    pub fn metrics_text(&self) -> String {
        let mut stream = TcpStream::connect_timeout(&self.metrics, Duration::from_secs(5)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }
}

impl Drop for Detector {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("detector log:\n{}", self.log_text());
        }
        self.kill();
    }
}

/// A canonical audit record at event time `time`.
pub fn record(event_id: &str, msp_id: &str, credential: &str, tenant: &str, time: &str) -> String {
    serde_json::json!({
        "event_id": event_id,
        "time": time,
        "msp_id": msp_id,
        "tenant_id": tenant,
        "actor": {"id": credential, "type": "api_key"},
        "action": "backup.delete",
        "resource": {"type": "recovery_point", "id": format!("rp-{event_id}")},
        "outcome": "success",
        "source_ip": "203.0.113.77",
    })
    .to_string()
}

/// The records of one credential deleting backups in three tenants of an MSP, one second
/// apart, ending now: the third trips the cross-tenant deletion rule.
pub fn attack(tag: &str, msp_id: &str, credential: &str) -> Vec<String> {
    attack_at(tag, msp_id, credential, Utc::now())
}

/// The same attack, ending at `end`.
pub fn attack_at(
    tag: &str,
    msp_id: &str,
    credential: &str,
    end: chrono::DateTime<Utc>,
) -> Vec<String> {
    (0..3)
        .map(|index| {
            let time = end - chrono::Duration::seconds(2 - index);
            let time = time.to_rfc3339_opts(SecondsFormat::Millis, true);
            record(
                &format!("{tag}-{index}"),
                msp_id,
                credential,
                &format!("tn-{tag}-{index}"),
                &time,
            )
        })
        .collect()
}

fn write_tokens_file(directory: &Path) {
    let text = format!(
        "[[tokens]]\nname = \"global-soc\"\nsha256 = \"{}\"\nmsps = [\"*\"]\n\n\
         [[tokens]]\nname = \"northwind-soc\"\nsha256 = \"{}\"\nmsps = [\"{NORTHWIND_MSP}\"]\n",
        mspwatch_deliver::hash_token(GLOBAL),
        mspwatch_deliver::hash_token(NORTHWIND),
    );
    std::fs::write(directory.join("tokens.toml"), text).unwrap();
}

/// The repository's rule directory.
pub fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

fn copy_rules(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|extension| extension == "yaml") {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

/// A gRPC connection of its own to the detector.
pub async fn channel(address: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap()
}

/// `message` with `authorization: Bearer <token>`, or without authorization.
pub fn authorized<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// An alert client on its own connection.
pub async fn alert_client(address: SocketAddr) -> AlertServiceClient<Channel> {
    AlertServiceClient::new(channel(address).await)
}

/// An admin client on its own connection.
pub async fn admin_client(address: SocketAddr) -> AdminServiceClient<Channel> {
    AdminServiceClient::new(channel(address).await)
}

/// One alert version as a subscriber saw it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seen {
    /// The alert id.
    pub id: String,
    /// Its version.
    pub version: u32,
    /// Its rule.
    pub rule_id: String,
    /// The credential that acted.
    pub actor: String,
}

/// A subscription with the alerts and cursor it has received.
pub struct Subscriber {
    stream: Streaming<pb::SubscribeResponse>,
    /// The cursor after the last message.
    pub cursor: String,
    /// Every alert version received, in order.
    pub seen: Vec<Seen>,
}

impl Subscriber {
    /// Subscribes on a connection of its own and waits for the first heartbeat.
    pub async fn open(
        address: SocketAddr,
        token: &str,
        filter: pb::AlertFilter,
        cursor: Option<&str>,
    ) -> Result<Subscriber, Status> {
        let mut client = alert_client(address).await;
        let request = pb::SubscribeRequest {
            filter: Some(filter),
            cursor: cursor.unwrap_or_default().to_owned(),
        };
        let stream = client.subscribe(authorized(request, Some(token))).await?.into_inner();
        let mut subscriber =
            Subscriber { stream, cursor: cursor.unwrap_or_default().to_owned(), seen: Vec::new() };
        let first = subscriber.next(PATIENCE).await?;
        assert!(
            matches!(first, Some(Event::Heartbeat(_))),
            "a subscription starts with a heartbeat"
        );
        Ok(subscriber)
    }

    /// The next message's event, `None` when nothing came within `limit`.
    pub async fn next(&mut self, limit: Duration) -> Result<Option<Event>, Status> {
        let Ok(message) = tokio::time::timeout(limit, self.stream.message()).await else {
            return Ok(None);
        };
        let Some(message) = message? else {
            return Err(Status::unavailable("stream ended"));
        };
        self.cursor = message.cursor;
        if let Some(Event::Alert(alert)) = &message.event {
            self.seen.push(Seen {
                id: alert.id.clone(),
                version: alert.version,
                rule_id: alert.rule_id.clone(),
                actor: alert.actor.as_ref().map(|actor| actor.id.clone()).unwrap_or_default(),
            });
        }
        Ok(message.event)
    }

    /// Receives until an alert of `rule_id` by `actor` has arrived (now or earlier); returns
    /// when it was found.
    pub async fn wait_alert(&mut self, rule_id: &str, actor: &str, limit: Duration) -> Instant {
        if self.seen.iter().any(|seen| seen.rule_id == rule_id && seen.actor == actor) {
            return Instant::now();
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {rule_id} alert for {actor}; saw {:?}", self.seen);
            if let Some(Event::Alert(alert)) = self.next(left).await.unwrap() {
                let by = alert.actor.as_ref().map(|actor| actor.id.as_str());
                if alert.rule_id == rule_id && by == Some(actor) {
                    return Instant::now();
                }
            }
        }
    }

    /// Receives until `limit` passes with nothing but heartbeats, or the stream ends.
    pub async fn drain(&mut self, quiet: Duration) {
        let mut last_alert = Instant::now();
        while last_alert.elapsed() < quiet {
            match self.next(quiet).await {
                Ok(Some(Event::Alert(_))) => last_alert = Instant::now(),
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }

    /// The (id, version) pairs received.
    pub fn versions(&self) -> Vec<(String, u32)> {
        self.seen.iter().map(|seen| (seen.id.clone(), seen.version)).collect()
    }

    /// The alert ids received from `actor`.
    pub fn ids_of(&self, actor: &str) -> BTreeSet<String> {
        self.seen.iter().filter(|seen| seen.actor == actor).map(|seen| seen.id.clone()).collect()
    }
}

/// Runs the binary with `args` to its end, at most `limit`.
pub async fn run_binary(
    args: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mspwatch"));
    command.args(args).stdin(Stdio::null()).kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    tokio::time::timeout(limit, command.output())
        .await
        .expect("the command finishes in time")
        .expect("the command runs")
}

// ---------------------------------------------------------------------------------------------
// Delivery drills (tests/delivery_drills.rs): detectors with more `[grpc]` settings, started
// again from the same configuration, and their resident memory.

/// Resident memory of a process, from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the most ever resident.
    pub peak_kib: u64,
}

/// The resident memory of process `pid`, while it runs.
pub fn process_memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(name))?;
        line.trim_start_matches(name).trim().trim_end_matches("kB").trim().parse().ok()
    };
    Some(Memory { rss_kib: field("VmRSS:")?, peak_kib: field("VmHWM:")? })
}

impl Live {
    /// Writes the detector's configuration with more `[kafka]` and `[grpc]` lines.
    pub fn write_config_with(&self, kafka_extra: &str, grpc_extra: &str) -> PathBuf {
        let path = self.write_config(kafka_extra);
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replacen("[grpc]\n", &format!("[grpc]\n{grpc_extra}\n"), 1);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Starts `mspwatch run` with `config` (again, after a kill) and returns once it has logged
    /// its addresses, before it is ready; see [`Detector::wait_until_ready`].
    pub fn spawn_detector(&self, config: &Path) -> Detector {
        Detector::spawn(config)
    }
}

impl Detector {
    /// Waits until the audit partitions are assigned and the alerts topic is being read.
    pub fn wait_until_ready(&self) {
        self.wait_ready();
    }

    /// The process id, while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The process's resident memory now and at its peak.
    pub fn memory(&self) -> Option<Memory> {
        process_memory(self.pid()?)
    }
}

// ---------------------------------------------------------------------------------------------
// Fault drills (tests/drills.rs): a broker of the drill's own that keeps its data across a
// restart, detectors with checkpoints, routine traffic pinned to a partition, and the figures a
// drill checks: health, metrics, engine counters and committed offsets.

/// A broker of one drill's own, storing topics and offsets in SQLite under `directory` so it
/// can be killed and started again; `None` (after a notice) when no broker is installed and
/// none is required.
pub fn drill_broker(directory: &Path) -> Option<Broker> {
    let storage = mspwatch_ingest::testing::Storage::Sqlite(directory.join("broker.db"));
    match Broker::start_with(storage) {
        Ok(broker) => Some(broker),
        Err(mspwatch_ingest::testing::BrokerError::Missing(path)) if !Broker::required() => {
            eprintln!("SKIPPED: broker binary {} not found", path.display());
            None
        }
        Err(error) => panic!("drill broker: {error}"),
    }
}

/// A routine record (a backup run) at event time `time`: counted, never alerted on.
pub fn routine(event_id: &str, msp_id: &str, credential: &str, tenant: &str, time: &str) -> String {
    serde_json::json!({
        "event_id": event_id,
        "time": time,
        "msp_id": msp_id,
        "tenant_id": tenant,
        "actor": {"id": credential, "type": "api_key"},
        "action": "backup.run",
        "resource": {"type": "backup_plan", "id": format!("plan-{tenant}")},
        "outcome": "success",
    })
    .to_string()
}

/// Now, as event times are written.
pub fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Live {
    /// Fresh topics for test `name` on a broker of the test's own, holding the file's test
    /// lock.
    pub fn start_on(name: &str, broker: &Broker) -> Live {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        Live::on_broker(turn, broker, name)
    }

    /// Where the drills' detectors keep their checkpoints (shared by every instance).
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.dir.path().join("checkpoints")
    }

    /// Writes the detector's configuration with more `[kafka]` and `[detector]` lines.
    pub fn write_config_with_detector(&self, kafka_extra: &str, detector_extra: &str) -> PathBuf {
        let path = self.write_config(kafka_extra);
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replacen("[detector]\n", &format!("[detector]\n{detector_extra}\n"), 1);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Produces one record to `partition`, keyed by its MSP id; returns when acknowledged.
    pub async fn produce_to(&self, partition: i32, msp_id: &str, payload: &str) {
        let topic = self.audit_topic();
        let record = FutureRecord::to(&topic).partition(partition).key(msp_id).payload(payload);
        let delivery = self.producer.send(record, Duration::from_secs(30)).await;
        delivery.map_err(|(error, _)| error).unwrap();
    }

    /// Waits until the group's committed offsets add up to `total`; returns how long it took.
    pub fn wait_committed(&self, total: i64, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let committed = self.committed_total();
            if committed == total {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "committed {committed} of {total} within {limit:?}: {:?}",
                self.committed()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Detector {
    /// The value of a metric series (`name` or `name{labels}` as served), if served.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let text = self.metrics_text();
        let line = text
            .lines()
            .find(|line| line.strip_prefix(series).is_some_and(|rest| rest.starts_with(' ')))?;
        line.rsplit(' ').next()?.parse().ok()
    }

    /// Waits until a metric series reaches at least `at_least`; returns its value.
    pub fn wait_metric_at_least(&self, series: &str, at_least: f64, limit: Duration) -> f64 {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.metric(series).unwrap_or(0.0);
            if value >= at_least {
                return value;
            }
            assert!(Instant::now() < deadline, "{series} is {value}, not {at_least}, in time");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The overall gRPC health status (`1` SERVING, `2` NOT_SERVING); `None` when the check
    /// gets no answer.
    pub async fn health(&self) -> Option<i32> {
        let endpoint = Endpoint::from_shared(format!("http://{}", self.grpc)).ok()?;
        let endpoint = endpoint.connect_timeout(Duration::from_secs(2));
        let connecting = endpoint.connect();
        let channel = tokio::time::timeout(Duration::from_secs(3), connecting).await.ok()?.ok()?;
        let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
        let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
        let answer = tokio::time::timeout(Duration::from_secs(3), client.check(request));
        Some(answer.await.ok()?.ok()?.into_inner().status)
    }

    /// Waits until the overall health status is `status`; returns how long it took.
    pub async fn wait_health(&self, status: i32, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let now = self.health().await;
            if now == Some(status) {
                return started.elapsed();
            }
            assert!(started.elapsed() < limit, "health {now:?}, not {status}, within {limit:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The detector-wide counters of `AdminService.GetStats`.
    pub async fn counters(&self) -> std::collections::BTreeMap<String, u64> {
        let mut admin = admin_client(self.grpc).await;
        let request = authorized(pb::GetStatsRequest {}, Some(GLOBAL));
        admin.get_stats(request).await.unwrap().into_inner().counters.into_iter().collect()
    }

    /// How many log lines have this message so far, waiting until there are `count`.
    pub fn wait_count(&self, message: &str, count: usize, limit: Duration) -> Duration {
        let started = Instant::now();
        self.wait_log_count(message, count, limit);
        started.elapsed()
    }
}
