//! How fast the shipped rules' filters judge events: the engine's per-event cost of rules.
//!
//! Run with `cargo bench -p mspwatch-rules --bench filter`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput};
use mspwatch_event::{ActionClass, Actor, ActorType, Event, Outcome, SourceFormat};
use mspwatch_rules::{class_bit, load, RuleSet};

fn shipped_rules() -> RuleSet {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    load(&dir).unwrap_or_else(|errors| panic!("{errors:?}"))
}

/// A mix of events: mostly reads and runs, some harmful classes, a few failures.
fn events() -> Vec<Event> {
    (0..1024)
        .map(|index: usize| {
            let class = ActionClass::ALL[(index * 7) % ActionClass::ALL.len()];
            Event {
                event_id: format!("ev-{index}"),
                time_ms: 1_793_613_600_000 + index as i64 * 1000,
                msp_id: Some(format!("msp-{}", index % 8)),
                tenant_ids: vec![format!("tn-{}", index % 97)],
                actor: Actor {
                    id: format!("cred-{}", index % 31),
                    kind: ActorType::User,
                    name: None,
                },
                action: format!("backup.{}", class.as_str()),
                class,
                resource: None,
                outcome: if index % 13 == 0 { Outcome::Failure } else { Outcome::Success },
                error: None,
                object_count: Some(index as u64 % 50),
                bytes: Some(index as u64 * 1_000_000),
                source_ip: Some("198.51.100.20".to_string()),
                user_agent: None,
                product: Some("backup".to_string()),
                via_role: None,
                target_accounts: Vec::new(),
                format: SourceFormat::Canonical,
                supplier_tier: None,
                target_external: index % 101 == 0,
            }
        })
        .collect()
}

fn bench_filters(c: &mut Criterion) {
    let rules = shipped_rules();
    let events = events();
    let mut group = c.benchmark_group("shipped_rules");
    group.throughput(Throughput::Elements(events.len() as u64));

    group.bench_function("matches_every_rule", |b| {
        b.iter(|| {
            let mut passed = 0usize;
            for event in &events {
                for rule in &rules.rules {
                    passed += usize::from(rule.filter.matches(black_box(event)));
                }
            }
            passed
        })
    });

    let masks: Vec<u16> =
        rules.rules.iter().map(|rule| rule.class_mask().unwrap_or(u16::MAX)).collect();
    group.bench_function("matches_after_class_mask", |b| {
        b.iter(|| {
            let mut passed = 0usize;
            for event in &events {
                let bit = class_bit(event.class);
                for (rule, mask) in rules.rules.iter().zip(&masks) {
                    if mask & bit != 0 {
                        passed += usize::from(rule.filter.matches(black_box(event)));
                    }
                }
            }
            passed
        })
    });
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_filters(&mut criterion);
    criterion.final_summary();
}
