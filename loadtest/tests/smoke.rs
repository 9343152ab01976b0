//! The CI smoke load test: a local broker, the real `mspwatch run` detector and the real
//! `mspwatch-loadtest run` for about half a minute. Every fast attack the shipped rules cover
//! is caught, the detector survives, and the run and report files are there and readable.
#![allow(clippy::unwrap_used, reason = "a failing test panics")]
#![allow(clippy::print_stderr, reason = "logs are shown when the test fails")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mspwatch_ingest::testing::Broker;
use mspwatch_loadtest::report::Report;
use serde_json::Value;

/// The world of the run; the start is fixed so every run plays the same traffic.
const SEED: &str = "11";
const START: &str = "2026-11-02T00:00:00Z";
const TOKEN: &str = "smoke-load-token-7c2d";
/// Attacks that unfold within an hour of world time and that a shipped rule covers.
const FAST_ATTACKS: [&str; 7] = [
    "fast-delete",
    "encryption-tamper",
    "mass-export",
    "weaken-then-delete",
    "probing",
    "new-intermediary",
    "external-share",
];
/// How long the detector may take to start and join its group.
const START_PATIENCE: Duration = Duration::from_secs(30);
/// How long the whole load run may take before the test gives up on it.
const RUN_PATIENCE: Duration = Duration::from_secs(90);

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `mspwatch` binary of the same build: built first if this package's tests run alone
/// (a workspace build has already made it, and the build below then does nothing).
fn detector_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MSPWATCH_BIN") {
        return PathBuf::from(path);
    }
    let loadtest = PathBuf::from(env!("CARGO_BIN_EXE_mspwatch-loadtest"));
    let profile_dir = loadtest.parent().unwrap().to_path_buf();
    let target_dir = profile_dir.parent().unwrap().to_path_buf();
    let mut build = Command::new(env!("CARGO"));
    build.current_dir(repository_root()).args(["build", "--quiet", "-p", "mspwatch"]);
    build.args(["--bin", "mspwatch", "--target-dir"]).arg(&target_dir);
    match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => {}
        Some("release") => {
            build.arg("--release");
        }
        Some(profile) => {
            build.args(["--profile", profile]);
        }
        None => {}
    }
    // The variables cargo sets for this test would look like a changed environment to the
    // build scripts and rebuild their crates; the inner build must see the outer one's.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_crates = ["CARGO_PKG_", "CARGO_BIN_EXE_", "CARGO_CFG_", "CARGO_MANIFEST_"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
            || ["CARGO_CRATE_NAME", "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"]
                .contains(&name.as_ref());
        if set_for_crates {
            build.env_remove(name.as_ref());
        }
    }
    let status = build.status().unwrap();
    assert!(status.success(), "cargo build -p mspwatch failed");
    profile_dir.join("mspwatch")
}

/// A running `mspwatch run`, killed when dropped.
struct Detector {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Detector {
    fn start(config: &Path) -> Detector {
        let mut child = Command::new(detector_binary())
            .args(["run", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let collected = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                collected.lock().unwrap_or_else(PoisonError::into_inner).push(line);
            }
        });
        Detector { child, lines }
    }

    fn log(&self) -> Vec<Value> {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines.iter().filter_map(|line| serde_json::from_str(line).ok()).collect()
    }

    fn log_text(&self) -> String {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner).join("\n")
    }

    /// Waits until `count` log lines carry `message`; returns the first.
    fn wait_log(&mut self, message: &str, count: usize) -> Value {
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            let found: Vec<Value> =
                self.log().into_iter().filter(|line| line["message"] == message).collect();
            if found.len() >= count {
                return found.into_iter().next().unwrap();
            }
            assert!(self.running(), "the detector exited:\n{}", self.log_text());
            assert!(Instant::now() < deadline, "no {message:?} in:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Detector {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("detector log:\n{}", self.log_text());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, brokers: &str) -> PathBuf {
    let tokens = dir.join("tokens.toml");
    let hash = mspwatch_deliver::hash_token(TOKEN);
    std::fs::write(
        &tokens,
        format!("[[tokens]]\nname = \"load\"\nsha256 = \"{hash}\"\nmsps = [\"*\"]\n"),
    )
    .unwrap();
    let config = format!(
        "[kafka]\nbrokers = [\"{brokers}\"]\naudit_topics = [\"smoke.audit\"]\n\
         alerts_topic = \"smoke.alerts\"\ndead_letter_topic = \"smoke.dead\"\n\
         consumer_group = \"smoke.detector\"\ncommit_interval = \"1s\"\n\
         session_timeout = \"6s\"\ndrain_timeout = \"3s\"\n\
         [detector]\nrules_dir = \"{rules}\"\ndirectory_file = \"{directory}\"\n\
         [grpc]\nlisten = \"127.0.0.1:0\"\ntokens_file = \"{tokens}\"\nheartbeat = \"1s\"\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n\
         [log]\nformat = \"json\"\nlevel = \"info,rdkafka=warn\"\n",
        rules = repository_root().join("rules").display(),
        directory = dir.join("directory.yaml").display(),
        tokens = tokens.display(),
    );
    let path = dir.join("mspwatch.toml");
    std::fs::write(&path, config).unwrap();
    path
}

fn loadtest(arguments: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mspwatch-loadtest"));
    command.args(arguments);
    command
}

/// Runs `command` to the end, killing it after `limit`.
fn run_bounded(mut command: Command, limit: Duration) -> Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "the load run took over {limit:?}:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_short_load_run_catches_every_fast_attack_and_the_detector_survives() {
    let Some(broker) = Broker::start_or_skip() else { return };
    let started = Instant::now();
    for (topic, partitions) in [("smoke.audit", 2), ("smoke.alerts", 1), ("smoke.dead", 1)] {
        broker.create_topic(topic, partitions).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().join("directory.yaml");
    let status = loadtest(&["directory", "--seed", SEED, "--out"]).arg(&directory).status();
    assert!(status.unwrap().success());
    let config = write_config(dir.path(), &broker.address());

    let mut detector = Detector::start(&config);
    let ready = detector.wait_log("mspwatch started", 1);
    let grpc = ready["grpc_address"].as_str().unwrap().to_string();
    let metrics = ready["metrics_address"].as_str().unwrap().to_string();
    detector.wait_log("partition assigned", 2);
    detector.wait_log("reading alerts partitions", 1);

    let out = dir.path().join("run");
    let pid = detector.child.id().to_string();
    let mut run = loadtest(&["run", "--brokers", &broker.address(), "--topic", "smoke.audit"]);
    run.args(["--grpc", &format!("http://{grpc}"), "--token", TOKEN]);
    run.args(["--metrics", &format!("http://{metrics}/metrics"), "--detector-pid", &pid]);
    run.args(["--rate", "1500", "--duration", "24s", "--day-length", "6s", "--grace", "5s"]);
    run.args(["--seed", SEED, "--start", START, "--out"]).arg(&out);
    let output = run_bounded(run, RUN_PATIENCE);
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the load run failed:\n{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(detector.running(), "the detector died during the run");

    for name in [
        "run.json",
        "ground-truth.jsonl",
        "directory.yaml",
        "sends.jsonl",
        "records.jsonl",
        "alerts.jsonl",
        "samples.jsonl",
        "report.txt",
    ] {
        assert!(out.join(name).is_file(), "{name} is missing");
    }
    for chart in ["latency.svg", "timeline.svg"] {
        let svg = std::fs::read_to_string(out.join(chart)).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{chart} is not an SVG");
    }
    let report: Report =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report.run.records_sent, 36_000, "{printed}");
    assert_eq!(report.run.records_failed, 0, "{printed}");
    assert!(report.run.subscription_error.is_none(), "{printed}");
    for attack in FAST_ATTACKS {
        let row = report.recall.iter().find(|row| row.scenario == attack);
        let row = row.unwrap_or_else(|| panic!("{attack} was not injected:\n{printed}"));
        assert_eq!(row.complete, row.injected, "{attack} not fully sent:\n{printed}");
        assert_eq!(row.recall, Some(1.0), "{attack} was missed:\n{printed}");
    }
    let latency = report.latency.unwrap_or_else(|| panic!("no latency sample:\n{printed}"));
    assert!(latency.samples > 0 && latency.max_ms < 30_000.0, "{printed}");
    assert!(report.detector.samples >= 20 && !report.detector.exited, "{printed}");
    assert!(printed.contains("recall"), "the table was not printed:\n{printed}");

    // The report can be made again offline from the same files, to the same figures.
    let again = loadtest(&["report", "--quiet"]).arg(&out).status().unwrap();
    assert!(again.success());
    let rebuilt: Report =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(rebuilt, report);
    eprintln!("smoke load test took {:.1}s\n{printed}", started.elapsed().as_secs_f64());
}
