//! The alerts topic on a real Kafka-protocol broker (Tansu): alert JSON produced to the topic
//! reaches a gRPC subscriber through `AlertTopicReader`, and cursors resume across partitions.
//!
//! Needs the broker binary (`scripts/tansu.sh install`, or `MSPWATCH_TANSU`). Without it the test
//! prints a notice and passes, unless `MSPWATCH_REQUIRE_BROKER=1`, which makes it fail.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    alerts_until_heartbeat, northwind_alert, quick_config, read_alerts, subscribe, Running, GLOBAL,
    NORTHWIND, PATIENCE,
};
use mspwatch_deliver::pb::AlertFilter;
use mspwatch_deliver::{AlertLog, AlertReaderConfig, AlertTopicReader};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

const TOPIC: &str = "mspwatch.alerts";

/// A broker process on a free 127.0.0.1 port, killed on drop.
struct Broker {
    child: Child,
    port: u16,
    binary: PathBuf,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    fn binary() -> PathBuf {
        if let Some(path) = std::env::var_os("MSPWATCH_TANSU") {
            return PathBuf::from(path);
        }
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/tmp".into());
        home.join(".cache/mspwatch/tansu-0.6.0/bin/tansu")
    }

    /// Starts the broker, or returns `None` (after a notice) when it is not installed and not
    /// required.
    #[allow(clippy::print_stderr, reason = "the skip notice is for the person running the tests")]
    fn start_or_skip() -> Option<Broker> {
        let binary = Broker::binary();
        if !binary.is_file() {
            let required = std::env::var("MSPWATCH_REQUIRE_BROKER").is_ok_and(|value| value == "1");
            assert!(!required, "MSPWATCH_REQUIRE_BROKER=1 but no broker at {}", binary.display());
            eprintln!("skipping: no broker at {} (run scripts/tansu.sh install)", binary.display());
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr());
        let port = port.expect("a free port").port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&binary)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("broker starts");
        let broker = Broker { child, port, binary };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "broker did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(broker)
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn create_topic(&self, topic: &str, partitions: u32) {
        let status = Command::new(&self.binary)
            .args(["topic", "create", topic, "--partitions", &partitions.to_string()])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .stdout(Stdio::null())
            .status()
            .expect("topic create runs");
        assert!(status.success(), "topic create failed");
    }
}

async fn produce(producer: &FutureProducer, key: &str, payload: &[u8]) {
    let record = FutureRecord::to(TOPIC).key(key).payload(payload);
    producer
        .send(record, Duration::from_secs(10))
        .await
        .map_err(|(error, _)| error)
        .expect("produced");
}

async fn produce_alert(producer: &FutureProducer, id: &str) {
    let alert = northwind_alert(id);
    produce(producer, id, &serde_json::to_vec(&alert).expect("alert serializes")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_produced_to_the_topic_reach_grpc_subscribers() {
    let Some(broker) = Broker::start_or_skip() else { return };
    broker.create_topic(TOPIC, 3);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .unwrap();
    for id in ["history-1", "history-2"] {
        produce_alert(&producer, id).await;
    }
    produce(&producer, "garbage", b"{ not an alert").await;

    let log = Arc::new(AlertLog::new(10_000));
    let reader =
        AlertTopicReader::new(AlertReaderConfig::new(broker.address(), TOPIC), Arc::clone(&log))
            .unwrap();
    let (stop_reader, reader_stopped) = tokio::sync::oneshot::channel::<()>();
    let reader_task = tokio::spawn(reader.run(async move {
        let _ = reader_stopped.await;
    }));
    let server = Running::start_with_log(quick_config(), Arc::clone(&log)).await;

    // The history is read into the log.
    let deadline = Instant::now() + PATIENCE;
    while log.stats().entries < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(log.stats().entries, 2);
    assert_eq!(log.stats().skipped_records, 1);

    // Subscribers from now see only what is produced after they subscribed.
    let mut first_client = server.alerts_client().await;
    let mut second_client = server.alerts_client().await;
    let (mut first, from_now) =
        subscribe(&mut first_client, GLOBAL, AlertFilter::default(), "").await.unwrap();
    let (mut second, _) =
        subscribe(&mut second_client, NORTHWIND, AlertFilter::default(), "").await.unwrap();
    let live: Vec<String> = (1..=6).map(|index| format!("live-{index}")).collect();
    let produced_at = Instant::now();
    for id in &live {
        produce_alert(&producer, id).await;
    }
    let (first_got, second_got) =
        tokio::join!(read_alerts(&mut first, 6, PATIENCE), read_alerts(&mut second, 6, PATIENCE));
    let delivery = produced_at.elapsed();
    let sorted = |got: &[(String, String)]| {
        let mut ids: Vec<String> = got.iter().map(|(id, _)| id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(sorted(&first_got), live);
    assert_eq!(sorted(&second_got), live);
    assert!(delivery < Duration::from_secs(5), "delivery took {delivery:?}");

    // A cursor taken half-way resumes with exactly the rest, across partitions.
    let (_, half_way) = first_got.get(2).cloned().unwrap();
    let seen: Vec<String> = first_got.iter().take(3).map(|(id, _)| id.clone()).collect();
    let mut resume_client = server.alerts_client().await;
    let (mut resumed, _) =
        subscribe(&mut resume_client, GLOBAL, AlertFilter::default(), &half_way).await.unwrap();
    let mut rest = alerts_until_heartbeat(&mut resumed).await;
    rest.extend(seen);
    rest.sort();
    assert_eq!(rest, live);

    // The from-now cursor does not include the history.
    let (mut from_start, _) =
        subscribe(&mut resume_client, GLOBAL, AlertFilter::default(), &from_now).await.unwrap();
    let mut after_now = alerts_until_heartbeat(&mut from_start).await;
    after_now.sort();
    assert_eq!(after_now, live);

    server.stop().await.unwrap();
    let _ = stop_reader.send(());
    reader_task.await.unwrap().unwrap();
}
