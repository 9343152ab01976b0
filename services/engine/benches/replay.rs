//! Replay throughput and memory per credential: a benchmark that prints figures.
//!
//! It generates one million canonical events (or `MSPWATCH_BENCH_EVENTS`) in memory, then
//! measures on one thread: decoding alone, and decoding plus detection with the shipped rule
//! pack. It then tracks many distinct credentials and reports the resident memory each one
//! costs. Run with `cargo bench -p mspwatch-engine --bench replay`;
//! `MSPWATCH_BENCH_MEMORY_LIMIT=512MiB` runs detection under a memory limit.

#![allow(clippy::print_stdout)]

use std::path::Path;
use std::time::Instant;

use mspwatch_engine::{Engine, EngineConfig};
use mspwatch_event::decode::{decode_record, Decoded};
use mspwatch_event::Directory;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const T0_MS: i64 = 1_793_610_000_000;

fn main() {
    let count: usize = std::env::var("MSPWATCH_BENCH_EVENTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000_000);
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let rules = match mspwatch_rules::load(&rules_dir) {
        Ok(rules) => rules,
        Err(errors) => {
            for error in errors {
                println!("{error}");
            }
            std::process::exit(2);
        }
    };
    let mut rules = rules;
    if let Ok(only) = std::env::var("MSPWATCH_BENCH_ONLY_RULE") {
        rules.rules.retain(|rule| rule.id == only);
    }
    let rule_count = rules.rules.len();
    let lines = generate(count);
    let bytes: usize = lines.iter().map(|line| line.len() + 1).sum();
    println!("replay benchmark: {count} canonical events, {} MiB, {rule_count} rules", bytes >> 20);

    let started = Instant::now();
    let mut decoded = 0usize;
    for line in &lines {
        if let Ok(Decoded::Event(_)) = decode_record(line.as_bytes()) {
            decoded += 1;
        }
    }
    report("decode only", decoded, started.elapsed().as_secs_f64());

    let started = Instant::now();
    let memory_limit = std::env::var("MSPWATCH_BENCH_MEMORY_LIMIT")
        .ok()
        .and_then(|text| text.parse().ok().map(mspwatch_engine::MemoryLimit::new));
    let config = EngineConfig { memory_limit, ..EngineConfig::default() };
    let mut engine = Engine::new(config, rules.clone(), Directory::default());
    let mut alerts = Vec::new();
    let mut evaluated = 0usize;
    for line in &lines {
        if let Ok(Decoded::Event(event)) = decode_record(line.as_bytes()) {
            engine.ingest(event, &mut alerts);
            evaluated += 1;
        }
        alerts.clear();
    }
    engine.flush(&mut alerts);
    report("decode + detect", evaluated, started.elapsed().as_secs_f64());
    let stats = engine.stats();
    println!(
        "  evaluated {} events, {} alert versions",
        stats.events_evaluated, stats.alert_versions
    );
    drop(engine);

    if std::env::var("MSPWATCH_BENCH_MEMORY").as_deref() != Ok("0") {
        memory_per_credential(rules);
    }
}

fn report(label: &str, events: usize, seconds: f64) {
    let rate = events as f64 / seconds;
    println!("{label:>16}: {rate:>12.0} events/s ({events} events in {seconds:.2} s)");
}

/// Deterministic canonical events: 3 MSPs of 30 tenants, 200 credentials each. Most work is
/// routine (backup runs, reads, restores, logins); about one event in a hundred deletes or
/// exports, always in one of the credential's own few tenants, as in normal operations.
fn generate(count: usize) -> Vec<String> {
    const ROUTINE: [&str; 8] = [
        "backup.run",
        "backup.run",
        "backup.run",
        "backup.run",
        "backup.read",
        "backup.list",
        "backup.restore",
        "login",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|index| {
            let random = next();
            let msp = random % 3;
            let actor = (random >> 16) % 200;
            let roll = (random >> 24) % 1000;
            let (action, tenant) = match roll {
                0..=4 => ("backup.delete", actor % 30),
                5..=9 => ("backup.export", actor % 30),
                _ => (ROUTINE[(roll % 8) as usize], (random >> 8) % 30),
            };
            let time_ms = T0_MS + index as i64 * 40;
            format!(
                concat!(
                    r#"{{"event_id":"ev-{index}","time":{time},"msp_id":"msp-{msp}","#,
                    r#""tenant_id":"tn-{msp}-{tenant}","actor":{{"id":"cred-{msp}-{actor}","#,
                    r#""type":"user","name":"admin{actor}@msp{msp}.example"}},"action":"{action}","#,
                    r#""resource":{{"type":"backup","id":"bk-{tenant}-{index}"}},"outcome":"success","#,
                    r#""bytes":{bytes},"source_ip":"198.51.100.{ip}"}}"#
                ),
                index = index,
                time = time_ms,
                msp = msp,
                tenant = tenant,
                actor = actor,
                action = action,
                bytes = (random >> 32) % (64 << 20),
                ip = actor % 250,
            )
        })
        .collect()
}

/// Resident memory added per tracked credential, each acting in a few tenants.
fn memory_per_credential(rules: mspwatch_rules::RuleSet) {
    const CREDENTIALS: usize = 200_000;
    let mut engine = Engine::new(EngineConfig::default(), rules, Directory::default());
    let mut alerts = Vec::new();
    let before = resident_bytes();
    for index in 0..CREDENTIALS {
        for tenant in 0..3 {
            let line = format!(
                concat!(
                    r#"{{"event_id":"m-{index}-{tenant}","time":{time},"msp_id":"msp-1","#,
                    r#""tenant_id":"tn-{tenant_id}","actor":{{"id":"cred-{index}","type":"user"}},"#,
                    r#""action":"backup.run","outcome":"success","source_ip":"203.0.113.7"}}"#
                ),
                index = index,
                tenant = tenant,
                time = T0_MS + index as i64,
                tenant_id = (index + tenant) % 500,
            );
            if let Ok(Decoded::Event(event)) = decode_record(line.as_bytes()) {
                engine.ingest(event, &mut alerts);
            }
        }
    }
    engine.flush(&mut alerts);
    let after = resident_bytes();
    let per_credential = after.saturating_sub(before) as f64 / CREDENTIALS as f64;
    println!(
        "memory: {per_credential:.0} bytes per tracked credential ({CREDENTIALS} credentials, 3 tenants each, all baselines and rule state; resident {} MiB)",
        after >> 20
    );
    drop(engine);
}

/// Resident set size of this process, from /proc (0 where unavailable).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 =
        statm.split_whitespace().nth(1).and_then(|field| field.parse().ok()).unwrap_or(0);
    pages * 4096
}
