//! Behaviour of the engine on small, hand-made event streams.

use mspwatch_alert::Alert;
use mspwatch_engine::{Admission, Engine, EngineConfig};
use mspwatch_event::{ActionClass, Actor, ActorType, Directory, Event, Outcome, SourceFormat};
use mspwatch_rules::RuleSet;
use proptest::prelude::*;

const T0: i64 = 1_793_610_000_000; // 2026-11-02T09:00:00Z
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

fn rules(yaml: &str) -> RuleSet {
    match mspwatch_rules::load_str("test.yaml", yaml) {
        Ok(rules) => rules,
        Err(errors) => panic!("test rules do not load: {errors:?}"),
    }
}

fn event(id: &str, time_ms: i64, tenant: &str, actor: &str, class: ActionClass) -> Event {
    Event {
        event_id: id.to_owned(),
        time_ms,
        msp_id: Some("msp-a".to_owned()),
        tenant_ids: vec![tenant.to_owned()],
        actor: Actor { id: actor.to_owned(), kind: ActorType::User, name: None },
        action: format!("backup.{}", class.as_str()),
        class,
        resource: None,
        outcome: Outcome::Success,
        error: None,
        object_count: None,
        bytes: None,
        source_ip: None,
        user_agent: None,
        product: None,
        via_role: None,
        target_accounts: Vec::new(),
        format: SourceFormat::Canonical,
        supplier_tier: None,
        target_external: false,
    }
}

fn engine(yaml: &str) -> Engine {
    Engine::new(EngineConfig::default(), rules(yaml), Directory::default())
}

/// Runs events through a fresh engine; returns the final version of each alert, sorted by id.
fn final_alerts(engine: &mut Engine, events: &[Event]) -> Vec<Alert> {
    let mut versions = Vec::new();
    for event in events {
        engine.ingest(event.clone(), &mut versions);
    }
    engine.flush(&mut versions);
    latest(versions)
}

fn latest(versions: Vec<Alert>) -> Vec<Alert> {
    let mut by_id: std::collections::BTreeMap<String, Alert> = Default::default();
    for alert in versions {
        let keep = by_id.get(&alert.id).is_none_or(|known| known.version < alert.version);
        if keep {
            by_id.insert(alert.id.clone(), alert);
        }
    }
    by_id.into_values().collect()
}

const CROSS_TENANT_DELETE: &str = r#"
rules:
  - id: cross-tenant-delete
    title: Backup deletion across tenants
    severity: critical
    mitre: [T1490]
    kind: threshold
    where: {class: delete, outcome: success}
    group_by: [msp_id, actor.id]
    window: 30m
    aggregate: {distinct: tenant_id}
    at_least: 3
    summary: "{actor} deleted backups in {value} tenants within {window}"
"#;

fn deletes(actor: &str, tenants: usize, spacing_ms: i64) -> Vec<Event> {
    (0..tenants)
        .map(|index| {
            let id = format!("{actor}-del-{index}");
            let tenant = format!("tn-{index}");
            event(&id, T0 + index as i64 * spacing_ms, &tenant, actor, ActionClass::Delete)
        })
        .collect()
}

#[test]
fn deletes_in_five_tenants_raise_one_alert_with_growing_versions() {
    let mut engine = engine(CROSS_TENANT_DELETE);
    let mut versions = Vec::new();
    for event in deletes("cred-1", 5, MINUTE) {
        engine.ingest(event, &mut versions);
    }
    engine.flush(&mut versions);
    assert_eq!(versions.len(), 3, "the third, fourth and fifth deletion each publish a version");
    assert!(versions.iter().all(|alert| alert.id == versions[0].id));
    assert_eq!(versions.iter().map(|alert| alert.version).collect::<Vec<_>>(), [1, 2, 3]);
    let last = versions.last().unwrap();
    assert_eq!(last.tenants, ["tn-0", "tn-1", "tn-2", "tn-3", "tn-4"]);
    assert_eq!(last.event_count, 5);
    assert_eq!(last.evidence.len(), 5);
    assert_eq!(last.summary, "cred-1 deleted backups in 5 tenants within 30m");
    assert_eq!(last.first_seen, "2026-11-02T09:00:00.000Z");
    assert_eq!(last.notify_by, "2026-11-05T09:00:00.000Z");
}

#[test]
fn deletes_spread_beyond_the_window_raise_nothing() {
    let mut engine = engine(CROSS_TENANT_DELETE);
    assert!(final_alerts(&mut engine, &deletes("cred-1", 6, 20 * MINUTE)).is_empty());
}

#[test]
fn failed_deletes_do_not_count_as_deletions() {
    let mut engine = engine(CROSS_TENANT_DELETE);
    let mut events = deletes("cred-1", 5, MINUTE);
    for event in &mut events {
        event.outcome = Outcome::Failure;
    }
    assert!(final_alerts(&mut engine, &events).is_empty());
}

#[test]
fn a_repeated_event_id_counts_once() {
    let mut engine = engine(CROSS_TENANT_DELETE);
    let mut events = deletes("cred-1", 2, MINUTE);
    let mut repeat = events[1].clone();
    repeat.tenant_ids = vec!["tn-other".to_owned()];
    events.push(repeat);
    assert!(final_alerts(&mut engine, &events).is_empty());
    assert_eq!(engine.stats().duplicates, 1);
}

#[test]
fn events_later_than_the_allowed_lateness_are_counted_not_evaluated() {
    let mut engine = engine(CROSS_TENANT_DELETE);
    let mut alerts = Vec::new();
    let recent = event("new", T0 + HOUR, "tn-1", "cred-1", ActionClass::Delete);
    let stale = event("old", T0, "tn-2", "cred-1", ActionClass::Delete);
    let within = event("within", T0 + HOUR - 4 * MINUTE, "tn-3", "cred-1", ActionClass::Delete);
    assert_eq!(engine.ingest(recent, &mut alerts), Admission::Accepted);
    assert_eq!(engine.ingest(stale, &mut alerts), Admission::TooLate);
    assert_eq!(engine.ingest(within, &mut alerts), Admission::Accepted);
    engine.flush(&mut alerts);
    let stats = engine.stats();
    assert_eq!((stats.too_late, stats.events_evaluated), (1, 2));
}

#[test]
fn the_same_events_in_another_order_within_the_lateness_give_the_same_alerts() {
    let events = deletes("cred-1", 6, MINUTE);
    let mut reversed = events.clone();
    reversed.reverse();
    let forward = final_alerts(&mut engine(CROSS_TENANT_DELETE), &events);
    let backward = final_alerts(&mut engine(CROSS_TENANT_DELETE), &reversed);
    assert_eq!(forward.len(), 1);
    assert_eq!(forward, backward);
}

#[test]
fn a_new_incident_after_the_gap_gets_a_new_id() {
    let mut engine = engine(CROSS_TENANT_DELETE);
    let mut events = deletes("cred-1", 3, MINUTE);
    for mut later in deletes("cred-1", 3, MINUTE) {
        later.event_id.push_str("-later");
        later.time_ms += 3 * HOUR;
        events.push(later);
    }
    let alerts = final_alerts(&mut engine, &events);
    assert_eq!(alerts.len(), 2);
    assert_ne!(alerts[0].id, alerts[1].id);
}

const SEQUENCE: &str = r#"
rules:
  - id: weaken-then-destroy
    title: Protection weakened, then backups destroyed
    severity: critical
    mitre: [T1490]
    kind: sequence
    within: 2h
    steps:
      - name: weaken
        where: {class: weaken}
      - name: destroy
        where: {class: [delete, encrypt]}
    summary: "{actor}: {steps}"
"#;

#[test]
fn weakening_then_deleting_raises_the_sequence() {
    let events = [
        event("w", T0, "tn-1", "cred-1", ActionClass::Weaken),
        event("d", T0 + 30 * MINUTE, "tn-1", "cred-1", ActionClass::Delete),
    ];
    let alerts = final_alerts(&mut engine(SEQUENCE), &events);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].evidence, ["w", "d"]);
    assert_eq!(alerts[0].summary, "cred-1: weaken then destroy");
}

#[test]
fn deleting_then_weakening_raises_nothing() {
    let events = [
        event("d", T0, "tn-1", "cred-1", ActionClass::Delete),
        event("w", T0 + 30 * MINUTE, "tn-1", "cred-1", ActionClass::Weaken),
    ];
    assert!(final_alerts(&mut engine(SEQUENCE), &events).is_empty());
}

#[test]
fn steps_too_far_apart_raise_nothing() {
    let events = [
        event("w", T0, "tn-1", "cred-1", ActionClass::Weaken),
        event("d", T0 + 3 * HOUR, "tn-1", "cred-1", ActionClass::Delete),
    ];
    assert!(final_alerts(&mut engine(SEQUENCE), &events).is_empty());
}

const BASELINE: &str = r#"
rules:
  - id: export-baseline
    title: Export far above the credential's baseline
    severity: high
    mitre: [T1567]
    kind: baseline
    where: {class: export}
    subject: credential
    class: export
    measure: bytes
    zscore: 4
    ratio: 10
    floor: 10GiB
    min_history: 24h
    summary: "{actor} exported {observed} this hour against {expected} expected"
"#;

fn hourly_exports(actor: &str, hours: i64, bytes: u64) -> Vec<Event> {
    (0..hours)
        .map(|hour| {
            let mut export = event(
                &format!("{actor}-x{hour}"),
                T0 + hour * HOUR,
                "tn-1",
                actor,
                ActionClass::Export,
            );
            export.bytes = Some(bytes);
            export
        })
        .collect()
}

#[test]
fn an_export_far_above_the_baseline_raises_an_alert_with_the_figures() {
    let mut events = hourly_exports("cred-1", 48, 1 << 30);
    let mut burst = event("burst", T0 + 48 * HOUR + MINUTE, "tn-1", "cred-1", ActionClass::Export);
    burst.bytes = Some(500 << 30);
    events.push(burst);
    let alerts = final_alerts(&mut engine(BASELINE), &events);
    assert_eq!(alerts.len(), 1);
    let baseline = alerts[0].baseline.as_ref().expect("baseline evidence");
    assert_eq!(baseline.observed, (500u64 << 30) as f64);
    assert!((baseline.expected - (1u64 << 30) as f64).abs() < 1.0);
    assert!(baseline.history_hours >= 48);
    assert_eq!(alerts[0].summary, "cred-1 exported 500.0 GiB this hour against 1.0 GiB expected");
}

#[test]
fn a_baseline_with_too_little_history_does_not_judge() {
    let mut events = hourly_exports("cred-1", 10, 1 << 30);
    let mut burst = event("burst", T0 + 10 * HOUR + MINUTE, "tn-1", "cred-1", ActionClass::Export);
    burst.bytes = Some(500 << 30);
    events.push(burst);
    assert!(final_alerts(&mut engine(BASELINE), &events).is_empty());
}

#[test]
fn steady_exports_at_the_usual_volume_raise_nothing() {
    let events = hourly_exports("cred-1", 96, 20 << 30);
    assert!(final_alerts(&mut engine(BASELINE), &events).is_empty());
}

const FIRST_SEEN: &str = r#"
rules:
  - id: new-intermediary
    title: Credential new to a tenant acting destructively
    severity: high
    mitre: [T1199]
    kind: first_seen
    where: {class: [delete, encrypt, export, weaken]}
    key: [actor.id, tenant_id]
    horizon: 30d
    warmup: 24h
    group_by: [msp_id, actor.id]
    summary: "{actor} acted destructively on {tenant_count} tenants new to it"
"#;

#[test]
fn a_credential_deleting_in_tenants_it_never_touched_raises_one_alert() {
    let mut events: Vec<Event> = (0..48)
        .map(|hour| {
            event(&format!("run-{hour}"), T0 + hour * HOUR, "tn-home", "cred-1", ActionClass::Run)
        })
        .collect();
    for index in 0..3 {
        let time = T0 + 50 * HOUR + index * MINUTE;
        events.push(event(
            &format!("del-{index}"),
            time,
            &format!("tn-new-{index}"),
            "cred-1",
            ActionClass::Delete,
        ));
    }
    events.push(event(
        "del-home",
        T0 + 50 * HOUR + 10 * MINUTE,
        "tn-home",
        "cred-1",
        ActionClass::Delete,
    ));
    let alerts = final_alerts(&mut engine(FIRST_SEEN), &events);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].tenants, ["tn-new-0", "tn-new-1", "tn-new-2"]);
    assert_eq!(alerts[0].summary, "cred-1 acted destructively on 3 tenants new to it");
}

#[test]
fn first_seen_does_not_judge_during_warmup() {
    let events = [event("del", T0, "tn-1", "cred-1", ActionClass::Delete)];
    assert!(final_alerts(&mut engine(FIRST_SEEN), &events).is_empty());
}

#[test]
fn saved_baselines_warm_up_a_later_replay() {
    let mut history = engine(FIRST_SEEN);
    let warmup: Vec<Event> = (0..48)
        .map(|hour| {
            event(&format!("run-{hour}"), T0 + hour * HOUR, "tn-home", "cred-1", ActionClass::Run)
        })
        .collect();
    assert!(final_alerts(&mut history, &warmup).is_empty());
    let saved = history.save_baselines();

    let mut later = engine(FIRST_SEEN);
    later.load_baselines(&saved).expect("snapshot loads");
    let events = [
        event("del-home", T0 + 49 * HOUR, "tn-home", "cred-1", ActionClass::Delete),
        event("del-new", T0 + 49 * HOUR + MINUTE, "tn-new", "cred-1", ActionClass::Delete),
    ];
    let alerts = final_alerts(&mut later, &events);
    assert_eq!(alerts.len(), 1, "only the tenant new to the credential is flagged");
    assert_eq!(alerts[0].tenants, ["tn-new"]);
}

#[test]
fn a_corrupt_snapshot_is_refused() {
    let mut engine = engine(FIRST_SEEN);
    assert!(engine.load_baselines(b"{\"format\":\"mspwatch-baselines\",\"version\":99}").is_err());
    assert!(engine.load_baselines(b"not json").is_err());
    assert!(engine.load_baselines(b"{\"format\":\"other\",\"version\":1}").is_err());
}

const EXTERNAL_SHARE: &str = r#"
rules:
  - id: shared-externally
    title: Backup shared outside the MSP
    severity: high
    mitre: [T1537]
    kind: match
    where: {class: export, target_external: true}
    summary: "{actor} shared a backup of {tenants} outside the MSP"
"#;

#[test]
fn sharing_with_an_account_outside_the_msp_raises_an_alert() {
    let directory = Directory::from_yaml(
        "msps:\n  - id: msp-a\n    tier: critical\n    tenants: [\"111111111111\", \"222222222222\"]\n",
    )
    .expect("directory");
    let mut engine = Engine::new(EngineConfig::default(), rules(EXTERNAL_SHARE), directory);
    let mut inside = event("inside", T0, "111111111111", "cred-1", ActionClass::Export);
    inside.target_accounts = vec!["222222222222".to_owned()];
    let mut outside = event("outside", T0 + MINUTE, "111111111111", "cred-1", ActionClass::Export);
    outside.target_accounts = vec!["999988887777".to_owned()];
    let alerts = final_alerts(&mut engine, &[inside, outside]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].evidence, ["outside"]);
    assert_eq!(alerts[0].supplier_tier, Some(mspwatch_event::SupplierTier::Critical));
}

#[test]
fn tracked_credentials_stay_within_the_configured_bound() {
    let config = EngineConfig { max_tracked_keys: 1000, ..EngineConfig::default() };
    let mut engine = Engine::new(config, rules(CROSS_TENANT_DELETE), Directory::default());
    let mut alerts = Vec::new();
    for index in 0..20_000 {
        let actor = format!("flood-{index}");
        engine.ingest(event(&actor, T0 + index, "tn-1", &actor, ActionClass::Read), &mut alerts);
    }
    // An attack after the flood is still detected.
    for attack in deletes("cred-attacker", 4, MINUTE) {
        let mut attack = attack;
        attack.time_ms += 20_000;
        engine.ingest(attack, &mut alerts);
    }
    engine.flush(&mut alerts);
    let stats = engine.stats();
    assert!(stats.evicted >= 19_000, "evicted {}", stats.evicted);
    assert!(stats.state_entries < 10_000, "state entries {}", stats.state_entries);
    assert_eq!(latest(alerts).len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any arrival order whose disorder stays within the lateness gives the same alerts.
    #[test]
    fn arrival_order_within_the_lateness_does_not_change_alerts(
        seed in any::<u64>(),
        tenants in 2usize..8,
        actors in 1usize..4,
    ) {
        let mut events = Vec::new();
        for actor in 0..actors {
            let actor_id = format!("cred-{actor}");
            for (index, mut delete) in deletes(&actor_id, tenants, 40_000).into_iter().enumerate() {
                delete.time_ms += actor as i64 * 7_000 + (index as i64 % 3) * 1_000;
                events.push(delete);
            }
        }
        events.sort_by_key(|event| event.time_ms);
        let sorted = final_alerts(&mut engine(CROSS_TENANT_DELETE), &events);

        // Arrival order: event time plus a random delay under four minutes, so no event
        // arrives more than four minutes behind the latest one already seen.
        let mut state = seed | 1;
        let mut delayed: Vec<(i64, Event)> = events
            .iter()
            .map(|event| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (event.time_ms + (state % (4 * MINUTE as u64)) as i64, event.clone())
            })
            .collect();
        delayed.sort_by_key(|(arrival, _)| *arrival);
        let shuffled: Vec<Event> = delayed.into_iter().map(|(_, event)| event).collect();
        let reordered = final_alerts(&mut engine(CROSS_TENANT_DELETE), &shuffled);
        prop_assert_eq!(sorted, reordered);
    }
}

#[test]
fn an_attack_split_around_a_checkpoint_raises_the_same_single_alert() {
    let events = deletes("cred-1", 6, MINUTE);
    let uninterrupted = final_alerts(&mut engine(CROSS_TENANT_DELETE), &events);

    let mut before = engine(CROSS_TENANT_DELETE);
    let mut versions = Vec::new();
    for event in &events[..2] {
        before.ingest(event.clone(), &mut versions);
    }
    let checkpoint = before.checkpoint();
    drop(before);

    let mut after = engine(CROSS_TENANT_DELETE);
    after.restore_checkpoint(&checkpoint).expect("checkpoint restores");
    // A replayed event from before the checkpoint is recognised as a duplicate.
    after.ingest(events[1].clone(), &mut versions);
    for event in &events[2..] {
        after.ingest(event.clone(), &mut versions);
    }
    after.flush(&mut versions);
    assert_eq!(after.stats().duplicates, 1);
    assert_eq!(latest(versions), uninterrupted);
}

#[test]
fn a_damaged_checkpoint_is_refused_and_the_engine_is_unchanged() {
    let mut engine = engine(CROSS_TENANT_DELETE);
    let mut alerts = Vec::new();
    for event in deletes("cred-1", 2, MINUTE) {
        engine.ingest(event, &mut alerts);
    }
    let checkpoint = engine.checkpoint();
    let mut fresh = self::engine(CROSS_TENANT_DELETE);
    assert!(fresh.restore_checkpoint(&checkpoint[..checkpoint.len() / 2]).is_err());
    assert!(fresh.restore_checkpoint(b"").is_err());
    assert_eq!(fresh.stats().events_in, 0);
}

#[test]
fn listing_a_tenant_moments_before_deleting_in_it_does_not_make_it_known() {
    let mut events: Vec<Event> = (0..48)
        .map(|hour| {
            let id = format!("run-{hour}");
            event(&id, T0 + hour * HOUR, "tn-home", "cred-1", ActionClass::Run)
        })
        .collect();
    let attack = T0 + 50 * HOUR;
    events.push(event("list", attack, "tn-new", "cred-1", ActionClass::Read));
    events.push(event("del", attack + MINUTE, "tn-new", "cred-1", ActionClass::Delete));
    // Deleting at home, known for two days, stays quiet.
    events.push(event("del-home", attack + 2 * MINUTE, "tn-home", "cred-1", ActionClass::Delete));
    let alerts = final_alerts(&mut engine(FIRST_SEEN), &events);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].evidence, ["del"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Re-delivering any events, any number of times, within the horizon changes nothing:
    /// each repeat is counted as a duplicate and the alerts are those of the events once.
    #[test]
    fn repeated_deliveries_are_counted_once(
        repeats in proptest::collection::vec((0usize..6, 1usize..4), 0..12),
    ) {
        let events = deletes("cred-1", 6, MINUTE);
        let once = final_alerts(&mut engine(CROSS_TENANT_DELETE), &events);

        let mut delivered = events.clone();
        let mut expected_duplicates = 0u64;
        for (index, times) in repeats {
            for _ in 0..times {
                // A repeat arrives after the original, within the lateness.
                let position = (index + 1).min(delivered.len());
                delivered.insert(position, events[index].clone());
                expected_duplicates += 1;
            }
        }
        let mut twice = engine(CROSS_TENANT_DELETE);
        let alerts = final_alerts(&mut twice, &delivered);
        prop_assert_eq!(twice.stats().duplicates, expected_duplicates);
        prop_assert_eq!(alerts, once);
    }
}
