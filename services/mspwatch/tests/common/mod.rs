//! Helpers shared by the command-line tests: running the built binary and writing inputs.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

/// The built `mspwatch` binary.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mspwatch")
}

/// The repository's rule directory.
pub fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

/// The shared real-world samples, outside the repository.
pub fn shared_real() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/real")
}

/// Runs the binary with `args` and nothing on standard input.
pub fn run(args: &[&str]) -> Output {
    run_with_stdin(args, b"")
}

/// Runs the binary with `args`, writing `stdin` to its standard input.
pub fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    run_command(Command::new(bin()).args(args), stdin)
}

/// Runs `mspwatch replay --rules <repo rules> <args>`.
pub fn replay(args: &[&str]) -> Output {
    replay_with_stdin(args, b"")
}

/// Runs `mspwatch replay --rules <repo rules> <args>` with `stdin`.
pub fn replay_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let rules = rules_dir();
    let mut all = vec!["replay", "--rules", rules.to_str().unwrap()];
    all.extend_from_slice(args);
    run_with_stdin(&all, stdin)
}

/// Runs a prepared command, feeding `stdin` from another thread so large inputs cannot
/// deadlock against the child's output.
pub fn run_command(command: &mut Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the mspwatch binary starts");
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The child may exit before reading everything; that is its business.
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

/// The exit code, standard output and standard error of a run, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One canonical deletion event.
pub fn delete_event(event_id: &str, time: &str, tenant: &str, actor: &str) -> Value {
    json!({
        "event_id": event_id,
        "time": time,
        "msp_id": "msp-northwind",
        "tenant_id": tenant,
        "actor": {"id": actor, "type": "api_key"},
        "action": "backup.delete",
        "resource": {"type": "recovery_point", "id": format!("rp-{event_id}")},
        "outcome": "success",
    })
}

/// One canonical backup run, which raises nothing.
pub fn run_event(event_id: &str, time: &str, tenant: &str) -> Value {
    json!({
        "event_id": event_id,
        "time": time,
        "msp_id": "msp-northwind",
        "tenant_id": tenant,
        "actor": {"id": "cred-ops-17", "type": "user"},
        "action": "backup.run",
        "resource": {"type": "job", "id": "job-88"},
        "outcome": "success",
    })
}

/// A morning of backup runs with, at 03:10, one credential deleting backups in four tenants:
/// enough for `cross-tenant-backup-deletion`.
pub fn attack_events() -> Vec<Value> {
    vec![
        run_event("ev-001", "2026-11-05T03:00:00Z", "tn-acme"),
        run_event("ev-002", "2026-11-05T03:05:00Z", "tn-globex"),
        delete_event("ev-101", "2026-11-05T03:10:02Z", "tn-acme", "cred-api-3"),
        delete_event("ev-102", "2026-11-05T03:12:00Z", "tn-globex", "cred-api-3"),
        delete_event("ev-103", "2026-11-05T03:14:40Z", "tn-initech", "cred-api-3"),
        delete_event("ev-104", "2026-11-05T03:16:00Z", "tn-umbrella", "cred-api-3"),
        run_event("ev-003", "2026-11-05T04:00:00Z", "tn-acme"),
    ]
}

/// Events as JSON lines.
pub fn json_lines(events: &[Value]) -> String {
    events.iter().map(|event| format!("{event}\n")).collect()
}

/// The JSON lines of standard output, parsed.
pub fn parsed_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect()
}

/// The lines of a rejects file, parsed.
pub fn rejects(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The count on the summary row whose label is `label` (`rejected`, `filtered by time`).
pub fn summary_count(output: &Output, label: &str) -> Option<u64> {
    stderr(output).lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix(label)?;
        let count = rest.trim();
        if count.is_empty() || !count.chars().all(|c| c.is_ascii_digit() || c == ',') {
            return None;
        }
        count.replace(',', "").parse().ok()
    })
}
