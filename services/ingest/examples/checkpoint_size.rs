//! Size and cost of one partition checkpoint for a realistic state: the shipped rules, and
//! 100,000 credentials (or the number given) of 100 MSPs acting in their tenants for three
//! hours. Prints the state, then the time to serialize the engine, to write the file (write,
//! fsync, rename, fsync of the directory) and to read and restore it.
//!
//! `cargo run --release -p mspwatch-ingest --example checkpoint_size [CREDENTIALS]`

#![allow(clippy::print_stdout, reason = "an example that prints its measurements")]
#![allow(clippy::unwrap_used, reason = "an example fails by panicking")]

use std::path::Path;
use std::time::{Duration, Instant};

use mspwatch_engine::{Engine, EngineConfig};
use mspwatch_event::{ActionClass, Actor, ActorType, Directory, Event, Outcome, SourceFormat};
use mspwatch_ingest::{CheckpointStore, PartitionId};

const T0_MS: i64 = 1_793_610_000_000;
const EVENTS_PER_CREDENTIAL: u64 = 5;
const MSPS: u64 = 100;
const TENANTS_PER_MSP: u64 = 50;
const ROUNDS: usize = 3;

fn main() {
    let credentials: u64 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let rules = mspwatch_rules::load(&rules_dir).unwrap();
    let mut engine = Engine::new(EngineConfig::default(), rules, Directory::default());
    let mut alerts = Vec::new();
    let events = credentials * EVENTS_PER_CREDENTIAL;
    let span_ms = 3 * 3_600_000;
    for index in 0..events {
        let time_ms = T0_MS + (index * span_ms / events) as i64;
        engine.ingest(event(index, index % credentials, time_ms), &mut alerts);
    }
    let stats = engine.stats();
    println!(
        "state: {credentials} credentials, {events} events, {} entries, {} held for reordering, \
         {} alert versions",
        stats.state_entries, stats.pending, stats.alert_versions
    );

    let mut serialize = Vec::new();
    let mut state = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        state = engine.checkpoint();
        serialize.push(started.elapsed());
    }
    let directory = tempfile::tempdir().unwrap();
    let store = CheckpointStore::open(directory.path(), "measure").unwrap();
    let partition = PartitionId::new("mspwatch.audit", 0);
    let mut write = Vec::new();
    let mut file_bytes = 0;
    for round in 0..ROUNDS {
        let started = Instant::now();
        file_bytes = store.save(&partition, round as i64, &state).unwrap();
        write.push(started.elapsed());
    }
    let started = Instant::now();
    let stored = store.load(&partition).into_iter().next().unwrap().1.unwrap();
    let read = started.elapsed();
    let mut restored = Engine::new(
        EngineConfig::default(),
        mspwatch_rules::load(&rules_dir).unwrap(),
        Directory::default(),
    );
    let started = Instant::now();
    restored.restore_checkpoint(&stored.state).unwrap();
    let restore = started.elapsed();
    assert_eq!(restored.stats(), engine.stats());

    println!(
        "checkpoint: {:.1} MiB ({} bytes per credential)",
        file_bytes as f64 / (1024.0 * 1024.0),
        file_bytes / credentials.max(1)
    );
    println!("  serialize (consumer thread): median {}", median_ms(&mut serialize));
    println!("  write + fsync + rename (writer thread): median {}", median_ms(&mut write));
    println!("  read and check: {:.1} ms", read.as_secs_f64() * 1000.0);
    println!("  restore into an engine: {:.1} ms", restore.as_secs_f64() * 1000.0);
}

fn median_ms(times: &mut [Duration]) -> String {
    times.sort();
    let middle = times.get(times.len() / 2).copied().unwrap_or_default();
    format!("{:.1} ms of {} runs", middle.as_secs_f64() * 1000.0, times.len())
}

/// Event `index` of credential `credential`: mostly routine work in the credential's own two
/// tenants, with a delete or an export now and then.
fn event(index: u64, credential: u64, time_ms: i64) -> Event {
    let msp = credential % MSPS;
    let tenant = (credential / MSPS + index / 1000 % 2) % TENANTS_PER_MSP;
    let class = match index % 50 {
        0 => ActionClass::Delete,
        1 => ActionClass::Export,
        2..=9 => ActionClass::Read,
        10..=12 => ActionClass::Login,
        _ => ActionClass::Run,
    };
    Event {
        event_id: format!("ev-{index}"),
        time_ms,
        msp_id: Some(format!("msp-{msp}")),
        tenant_ids: vec![format!("tn-{msp}-{tenant}")],
        actor: Actor { id: format!("cred-{credential}"), kind: ActorType::User, name: None },
        action: format!("backup.{}", class.as_str()),
        class,
        resource: None,
        outcome: Outcome::Success,
        error: None,
        object_count: None,
        bytes: Some(index % 65_536 * 1024),
        source_ip: Some(format!("198.51.100.{}", credential % 250)),
        user_agent: None,
        product: None,
        via_role: None,
        target_accounts: Vec::new(),
        format: SourceFormat::Canonical,
        supplier_tier: None,
        target_external: false,
    }
}
