//! The memory limit under a flood of distinct credentials and tenants: state stays within the
//! limit, evictions are counted, and an established credential's attack in the middle of the
//! flood raises the same alert as without a limit.

#[path = "support/flood.rs"]
mod flood;

use std::path::Path;

use mspwatch_alert::Alert;
use mspwatch_engine::{ByteSize, Engine, EngineConfig, EngineStats, MemoryLimit};
use mspwatch_event::Directory;

fn shipped_rules() -> mspwatch_rules::RuleSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    mspwatch_rules::load(&dir).expect("the shipped rules load")
}

/// The final version of each alert raised for the attacker, by id; the most state bytes seen.
fn run(config: EngineConfig, flood_events: usize) -> (Vec<Alert>, EngineStats, u64, Engine) {
    let mut engine = Engine::new(config, shipped_rules(), Directory::default());
    let mut versions = Vec::new();
    let mut attacker_alerts: Vec<Alert> = Vec::new();
    let mut most_bytes = 0;
    let mut fed = 0u64;
    flood::scenario(flood_events, |event| {
        engine.ingest(event, &mut versions);
        attacker_alerts
            .extend(versions.drain(..).filter(|alert| alert.actor.id == flood::ATTACKER));
        fed += 1;
        if fed % 512 == 0 {
            most_bytes = most_bytes.max(engine.stats().state_bytes);
        }
    });
    engine.flush(&mut versions);
    attacker_alerts.extend(versions.drain(..).filter(|alert| alert.actor.id == flood::ATTACKER));
    let mut latest: std::collections::BTreeMap<String, Alert> = Default::default();
    for alert in attacker_alerts {
        if latest.get(&alert.id).is_none_or(|known| known.version < alert.version) {
            latest.insert(alert.id.clone(), alert);
        }
    }
    let stats = engine.stats();
    (latest.into_values().collect(), stats, most_bytes, engine)
}

#[test]
fn a_flood_of_new_credentials_and_tenants_stays_within_the_limit_and_the_attack_is_seen() {
    const FLOOD: usize = 60_000;
    let limit = ByteSize(16 << 20);
    let limited =
        EngineConfig { memory_limit: Some(MemoryLimit::new(limit)), ..EngineConfig::default() };
    let (alerts, stats, most_bytes, engine) = run(limited, FLOOD);
    // A limit too high to reach: nothing is evicted, and the bytes are still counted.
    let unlimited = EngineConfig {
        memory_limit: Some(MemoryLimit::new(ByteSize(1 << 40))),
        ..EngineConfig::default()
    };
    let (unlimited_alerts, unlimited_stats, unlimited_bytes, _) = run(unlimited, FLOOD);
    assert!(unlimited_bytes > 2 * limit.bytes(), "the flood must need more than the limit");
    assert!(most_bytes <= limit.bytes(), "{most_bytes} bytes of state, limit {limit}");
    assert_eq!(stats.memory_budget_bytes, limit.bytes());
    assert!(stats.evictions.credentials > FLOOD as u64 / 2, "{:?}", stats.evictions);
    assert!(stats.evictions.tenants > FLOOD as u64 / 2, "{:?}", stats.evictions);
    assert_eq!(stats.evicted, stats.evictions.total());
    assert_eq!(unlimited_stats.evicted, 0);

    let deletion: Vec<&Alert> =
        alerts.iter().filter(|alert| alert.rule_id == "cross-tenant-backup-deletion").collect();
    assert_eq!(deletion.len(), 1, "{alerts:#?}");
    assert_eq!(deletion[0].tenants.len(), flood::ATTACKED_TENANTS);
    assert_eq!(alerts, unlimited_alerts, "the limit changes nothing about the attacker's alerts");
    let (_, baseline) = engine.credential_baseline(flood::ATTACKER).expect("the attacker is kept");
    assert!(baseline["events"].as_u64().unwrap_or(0) > 500, "its history is kept: {baseline}");
}

#[test]
fn a_restored_engine_counts_its_state_again_and_keeps_within_the_limit() {
    let limit = ByteSize(4 << 20);
    let config =
        || EngineConfig { memory_limit: Some(MemoryLimit::new(limit)), ..EngineConfig::default() };
    let (_, before, _, engine) = run(config(), 20_000);
    let saved = engine.checkpoint();
    drop(engine);
    let mut restored = Engine::new(config(), shipped_rules(), Directory::default());
    restored.restore_checkpoint(&saved).expect("the checkpoint restores");
    let mut versions = Vec::new();
    let mut fed = 0;
    flood::scenario(20_000, |mut event| {
        // The same flood again, a day later: every id is new to the restored engine.
        if fed < 1_000 {
            event.time_ms += 24 * 3_600_000;
            event.event_id.push_str("-again");
            restored.ingest(event, &mut versions);
        }
        fed += 1;
    });
    let after = restored.stats();
    assert!(after.state_bytes <= limit.bytes(), "{} bytes, limit {limit}", after.state_bytes);
    let ratio = after.state_bytes as f64 / before.state_bytes as f64;
    assert!(
        (0.5..2.0).contains(&ratio),
        "{} bytes before, {} after",
        before.state_bytes,
        after.state_bytes
    );
}
