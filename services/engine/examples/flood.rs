//! A flood of one million new credentials and one million new tenants, with an established
//! credential's cross-tenant deletion in the middle of it, through one engine under a memory
//! limit; prints the figures and fails unless the attack is seen and the process's peak
//! resident memory stays under the limit.
//!
//! ```text
//! cargo run --release -p mspwatch-engine --example flood -- [--memory-limit 512MiB]
//!     [--flood 1000000] [--unlimited] [--verbose]
//! ```

#![allow(clippy::print_stdout)]

#[path = "../tests/support/flood.rs"]
mod flood;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use mspwatch_alert::Alert;
use mspwatch_engine::{ByteSize, Engine, EngineConfig, MemoryLimit};
use mspwatch_event::Directory;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Options {
    limit: ByteSize,
    flood: usize,
    unlimited: bool,
    verbose: bool,
}

fn options() -> Result<Options, String> {
    let mut options =
        Options { limit: ByteSize(512 << 20), flood: 1_000_000, unlimited: false, verbose: false };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--memory-limit" => {
                let value = args.next().ok_or("--memory-limit needs a size")?;
                options.limit = value.parse().map_err(|error| format!("{error}"))?;
            }
            "--flood" => {
                let value = args.next().ok_or("--flood needs a count")?;
                options.flood = value.parse().map_err(|_| format!("`{value}` is not a count"))?;
            }
            "--unlimited" => options.unlimited = true,
            "--verbose" => options.verbose = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            println!("{message}");
            return ExitCode::from(2);
        }
    };
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let Ok(rules) = mspwatch_rules::load(&rules_dir) else {
        println!("the shipped rules do not load");
        return ExitCode::from(2);
    };
    // Without a limit the engine does not count its bytes: `--unlimited` sets one too high
    // to reach instead, so that the figures can be compared.
    let limit = if options.unlimited { ByteSize(1 << 50) } else { options.limit };
    let config =
        EngineConfig { memory_limit: Some(MemoryLimit::new(limit)), ..EngineConfig::default() };
    let mut engine = Engine::new(config, rules, Directory::default());
    let resident_before = status_kib("VmRSS");

    let started = Instant::now();
    let mut versions = Vec::new();
    let mut attacker: Vec<Alert> = Vec::new();
    let mut other_versions = 0u64;
    let mut events = 0u64;
    let mut most_state_bytes = 0u64;
    flood::scenario(options.flood, |event| {
        engine.ingest(event, &mut versions);
        for alert in versions.drain(..) {
            if alert.actor.id == flood::ATTACKER {
                attacker.push(alert);
            } else {
                other_versions += 1;
            }
        }
        events += 1;
        if events % 4096 == 0 {
            most_state_bytes = most_state_bytes.max(engine.stats().state_bytes);
        }
        if options.verbose && events % 100_000 == 0 {
            let stats = engine.stats();
            println!(
                "  after {events:>8} events: {:>5} MiB accounted, {:>5} MiB resident, {} evicted",
                stats.state_bytes >> 20,
                status_kib("VmRSS") >> 10,
                stats.evicted
            );
        }
    });
    engine.flush(&mut versions);
    attacker.extend(versions.drain(..).filter(|alert| alert.actor.id == flood::ATTACKER));
    let seconds = started.elapsed().as_secs_f64();
    let stats = engine.stats();
    let peak_kib = status_kib("VmHWM");

    let limit_text = if options.unlimited { "none".to_owned() } else { options.limit.to_string() };
    println!("flood: {} new credentials and tenants, memory limit {limit_text}", options.flood);
    println!(
        "  {events} events in {seconds:.1} s ({:.0} events/s), {} alert versions for the \
         flood",
        events as f64 / seconds,
        other_versions
    );
    println!(
        "  state: {} entries, {} MiB accounted at the end, {} MiB at most",
        stats.state_entries,
        stats.state_bytes >> 20,
        most_state_bytes >> 20
    );
    println!(
        "  resident memory: {} MiB before the flood, {} MiB at peak (VmHWM)",
        resident_before >> 10,
        peak_kib >> 10
    );
    let evictions: Vec<String> =
        stats.evictions.by_kind().iter().map(|(kind, count)| format!("{kind} {count}")).collect();
    println!("  evicted: {} ({})", stats.evicted, evictions.join(", "));
    println!(
        "  events: {} in, {} evaluated ({} of them early, out of the hold), {} too late, {} \
         duplicates",
        stats.events_in,
        stats.events_evaluated,
        stats.released_early,
        stats.too_late,
        stats.duplicates
    );

    let deletion = attacker
        .iter()
        .filter(|alert| alert.rule_id == "cross-tenant-backup-deletion")
        .max_by_key(|alert| alert.version);
    let attack_seen = deletion.is_some_and(|alert| alert.tenants.len() == flood::ATTACKED_TENANTS);
    match deletion {
        Some(alert) => println!(
            "  attack: {} v{} {} ({} tenants: {})",
            alert.id,
            alert.version,
            alert.rule_id,
            alert.tenants.len(),
            alert.tenants.join(", ")
        ),
        None => println!("  attack: NOT SEEN"),
    }
    let other_rules: std::collections::BTreeSet<&str> = attacker
        .iter()
        .map(|alert| alert.rule_id.as_str())
        .filter(|rule| *rule != "cross-tenant-backup-deletion")
        .collect();
    println!("  other rules raised for the attacker: {other_rules:?}");

    let under_limit = options.unlimited || peak_kib.saturating_mul(1024) < options.limit.bytes();
    if !under_limit {
        println!("FAIL: peak resident memory is over the limit");
    }
    if !attack_seen {
        println!("FAIL: the cross-tenant deletion was not raised with all five tenants");
    }
    if under_limit && attack_seen {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A `kB` figure of /proc/self/status (0 where unavailable).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
