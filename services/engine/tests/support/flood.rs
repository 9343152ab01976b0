//! A flood of distinct credentials and tenants with a real attack inside it, generated event by
//! event (no JSON), for the memory-limit test and the flood example.
//!
//! An established operations credential of `msp-a` works in its six tenants every few minutes
//! for two days. Then a flood begins: every event comes from a credential never seen before, in
//! a tenant never seen before, of one of 500 MSPs; one in ten is a deletion. Halfway through,
//! the established credential deletes backups in five of its tenants within twelve minutes,
//! each deletion separated from the next by a fortieth of the flood, while it keeps up its
//! routine work.

#![allow(dead_code)]

use mspwatch_event::{ActionClass, Actor, ActorType, Event, Outcome, SourceFormat};

/// 2026-11-02T09:00:00Z.
pub const T0_MS: i64 = 1_793_610_000_000;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

/// The established credential that turns attacker.
pub const ATTACKER: &str = "cred-msp-a-ops";
/// Its MSP.
pub const ATTACKER_MSP: &str = "msp-a";
/// Tenants the attacker deletes in.
pub const ATTACKED_TENANTS: usize = 5;

/// Event time the flood spans.
const FLOOD_SPAN_MS: i64 = 2 * HOUR_MS;
/// How often the established credential does routine work, in event time.
const ROUTINE_EVERY_MS: i64 = 5 * MINUTE_MS;

fn event(id: String, time_ms: i64, msp: &str, tenant: String, actor: &str, action: &str) -> Event {
    let class = match action {
        "backup.delete" => ActionClass::Delete,
        "backup.list" => ActionClass::Read,
        _ => ActionClass::Run,
    };
    Event {
        event_id: id,
        time_ms,
        msp_id: Some(msp.to_owned()),
        tenant_ids: vec![tenant],
        actor: Actor { id: actor.to_owned(), kind: ActorType::User, name: None },
        action: action.to_owned(),
        class,
        resource: None,
        outcome: Outcome::Success,
        error: None,
        object_count: None,
        bytes: Some(4096),
        source_ip: Some("198.51.100.7".to_owned()),
        user_agent: None,
        product: None,
        via_role: None,
        target_accounts: Vec::new(),
        format: SourceFormat::Canonical,
        supplier_tier: None,
        target_external: false,
    }
}

fn routine(time_ms: i64, index: i64) -> Event {
    let action = if index % 2 == 0 { "backup.run" } else { "backup.list" };
    let tenant = format!("tn-a-{}", index % 6);
    event(format!("ops-{index}"), time_ms, ATTACKER_MSP, tenant, ATTACKER, action)
}

/// Feeds every event of the scenario, in event-time order, with `flood` flood events (each a
/// new credential and a new tenant).
pub fn scenario(flood: usize, mut feed: impl FnMut(Event)) {
    let history_ms = 48 * HOUR_MS;
    let mut routine_index = 0i64;
    let mut time_ms = T0_MS;
    while time_ms < T0_MS + history_ms {
        feed(routine(time_ms, routine_index));
        routine_index += 1;
        time_ms += ROUTINE_EVERY_MS;
    }

    let flood_start = T0_MS + history_ms;
    let step_ms = (FLOOD_SPAN_MS / flood.max(1) as i64).max(1);
    let attack_every = (flood / 40).max(1);
    let attack_start = flood / 2;
    let mut next_routine = flood_start;
    for index in 0..flood {
        let time_ms = flood_start + index as i64 * step_ms;
        if time_ms >= next_routine {
            feed(routine(time_ms, routine_index));
            routine_index += 1;
            next_routine += ROUTINE_EVERY_MS;
        }
        let since_attack = index.wrapping_sub(attack_start);
        if index >= attack_start
            && since_attack % attack_every == 0
            && since_attack / attack_every < ATTACKED_TENANTS
        {
            let step = since_attack / attack_every;
            let tenant = format!("tn-a-{step}");
            let id = format!("attack-{step}");
            feed(event(id, time_ms, ATTACKER_MSP, tenant, ATTACKER, "backup.delete"));
        }
        let action = if index % 10 == 0 { "backup.delete" } else { "backup.run" };
        let msp = format!("msp-flood-{}", index % 500);
        let actor = format!("flood-cred-{index}");
        let tenant = format!("flood-tn-{index}");
        feed(event(format!("flood-{index}"), time_ms, &msp, tenant, &actor, action));
    }
}
