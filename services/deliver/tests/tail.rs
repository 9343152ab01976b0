//! The tail client: prints alerts as JSON lines and resumes across a server restart without
//! missing or repeating an alert.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{northwind_alert, Running, GLOBAL, PATIENCE};
use mspwatch_alert::format::AlertFormat;
use mspwatch_alert::Alert;
use mspwatch_deliver::pb::AlertFilter;
use mspwatch_deliver::tail::{self, TailOptions};
use mspwatch_deliver::{DeliverError, GrpcConfig, Secret};

/// Output shared between the tail task and the test.
#[derive(Clone, Default)]
struct SharedOutput(Arc<Mutex<Vec<u8>>>);

impl Write for SharedOutput {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("output lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedOutput {
    fn ids(&self) -> Vec<String> {
        let text =
            String::from_utf8(self.0.lock().expect("output lock").clone()).expect("utf-8 output");
        text.lines()
            .map(|line| serde_json::from_str::<Alert>(line).expect("each line is an alert").id)
            .collect()
    }

    async fn wait_for(&self, count: usize) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.ids().len() < count && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn options(endpoint: String, cursor: Option<String>) -> TailOptions {
    TailOptions {
        endpoint,
        token: Secret::new(GLOBAL),
        ca: None,
        client_cert: None,
        client_key: None,
        filter: AlertFilter::default(),
        cursor,
        cursor_file: None,
        format: AlertFormat::Jsonl,
        max_alerts: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_resumes_across_a_server_restart_without_gaps_or_repeats() {
    let first = Running::start(GrpcConfig::default(), 1000).await;
    let addr = first.addr;
    let log = Arc::clone(&first.log);
    let directory = tempfile::tempdir().unwrap();
    let cursor_file = directory.path().join("cursor");
    let output = SharedOutput::default();
    let mut tail_options = options(first.endpoint(), Some(log.end_cursor().encode()));
    tail_options.max_alerts = Some(6);
    tail_options.cursor_file = Some(cursor_file.clone());
    let tail_task = tokio::spawn(tail::run(tail_options, output.clone()));

    for id in ["al-1", "al-2", "al-3"] {
        log.push(northwind_alert(id));
    }
    output.wait_for(3).await;
    assert_eq!(output.ids(), ["al-1", "al-2", "al-3"]);
    first.stop().await.unwrap();

    for id in ["al-4", "al-5"] {
        log.push(northwind_alert(id));
    }
    let config = GrpcConfig { listen: addr, ..GrpcConfig::default() };
    let second = Running::start_with_log(config, Arc::clone(&log)).await;
    log.push(northwind_alert("al-6"));

    let summary = tokio::time::timeout(PATIENCE, tail_task).await.unwrap().unwrap().unwrap();
    assert_eq!(summary.alerts, 6);
    assert_eq!(output.ids(), ["al-1", "al-2", "al-3", "al-4", "al-5", "al-6"]);
    let saved = std::fs::read_to_string(&cursor_file).unwrap();
    assert_eq!(Some(saved.trim().to_owned()), summary.cursor);
    assert_eq!(summary.cursor, Some(log.end_cursor().encode()));
    second.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_resumes_from_its_cursor_file() {
    let server = Running::start(GrpcConfig::default(), 1000).await;
    let directory = tempfile::tempdir().unwrap();
    let cursor_file = directory.path().join("cursor");
    std::fs::write(&cursor_file, format!("{}\n", server.log.end_cursor().encode())).unwrap();
    server.log.push(northwind_alert("after-the-saved-cursor"));

    let mut tail_options = options(server.endpoint(), None);
    tail_options.cursor_file = Some(cursor_file);
    tail_options.max_alerts = Some(1);
    let output = SharedOutput::default();
    let summary = tail::run(tail_options, output.clone()).await.unwrap();
    assert_eq!(summary.alerts, 1);
    assert_eq!(output.ids(), ["after-the-saved-cursor"]);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_stops_on_a_wrong_token_instead_of_retrying() {
    let server = Running::start(GrpcConfig::default(), 10).await;
    let mut tail_options = options(server.endpoint(), None);
    tail_options.token = Secret::new("not-a-token");
    let result = tokio::time::timeout(PATIENCE, tail::run(tail_options, Vec::new())).await.unwrap();
    assert!(matches!(
        result,
        Err(DeliverError::Refused { code: tonic::Code::Unauthenticated, .. })
    ));
    server.stop().await.unwrap();
}
